//! The server's authentication policy (sshd(8), sshd_config(5)): which
//! users may log in, with which methods, checked against the system's
//! accounts, the shadow database and authorized_keys. The protocol core
//! reports each request; this module decides and says what to log, in
//! sshd's wording so that log tools (fail2ban) keep working.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tobira_proto::msg::userauth::{InfoRequest, MethodData, Prompt};
use tobira_proto::AuthRequest;
use zeroize::Zeroizing;

use crate::account::{self, Account, AccountState};
use crate::authorized_keys::{self, KeyOptions};
use crate::config::server::{PermitRootLogin, ServerConfig};
use crate::pubkey::AnyPublicKey;

/// What the server answers to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// USERAUTH_SUCCESS.
    Accept,
    /// USERAUTH_FAILURE (partial success when a required method of
    /// `AuthenticationMethods` succeeded but more are needed).
    Reject {
        /// Partial success.
        partial: bool,
    },
    /// USERAUTH_PK_OK for a query.
    PkOk {
        /// Algorithm of the query.
        algorithm: String,
        /// Key blob of the query.
        key_blob: Vec<u8>,
    },
    /// Keyboard-interactive prompts.
    Info(InfoRequest),
    /// Too many failures: disconnect with this message.
    Disconnect(String),
}

/// The outcome of [`AuthState::decide`]: the answer, log lines, and
/// whether the failure must be delayed (password-like methods).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The answer.
    pub decision: Decision,
    /// Lines for the log, in sshd's wording.
    pub log: Vec<String>,
    /// A message for the user (USERAUTH_BANNER) before the answer.
    pub notice: Option<String>,
    /// Methods to list in USERAUTH_FAILURE.
    pub methods: Vec<String>,
}

/// Static inputs of the policy for one connection.
#[derive(Debug, Clone)]
pub struct PolicyContext {
    /// The server's configuration (shared by its connections).
    pub config: Arc<ServerConfig>,
    /// Running as root: system accounts; otherwise only `server_user`.
    pub is_root: bool,
    /// The client's address and port, as sshd logs them ("ADDR port N").
    pub peer: std::net::SocketAddr,
}

/// Per-connection authentication state.
#[derive(Debug)]
pub struct AuthState {
    ctx: PolicyContext,
    failures: u32,
    /// Methods completed toward `AuthenticationMethods`.
    completed: Vec<String>,
    /// The user of the first request (sshd does not allow changing it).
    user: Option<String>,
    invalid_logged: bool,
    /// Keyboard-interactive prompts sent for this user.
    kbd_user: Option<String>,
    /// The configuration with the user's `Match` blocks applied: the
    /// server's own when none applies.
    effective: Option<Arc<ServerConfig>>,
    /// Options of the authorized_keys line that authenticated the user.
    pub key_options: Option<KeyOptions>,
    /// The authenticated account.
    pub account: Option<Account>,
    banner_sent: bool,
}

fn today_days() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64 / 86_400)
        .unwrap_or(0)
}

/// `ED25519 SHA256:...` as sshd logs an accepted key.
fn key_label(key: &AnyPublicKey) -> String {
    format!("{} {}", key.type_label(), key.fingerprint())
}

impl AuthState {
    /// Starts the state for one connection.
    pub fn new(ctx: PolicyContext) -> Self {
        AuthState {
            ctx,
            failures: 0,
            completed: Vec::new(),
            user: None,
            invalid_logged: false,
            kbd_user: None,
            key_options: None,
            account: None,
            banner_sent: false,
            effective: None,
        }
    }

    /// The configuration in force: global until the user is known, then
    /// with that user's `Match` blocks (sshd_config(5) `Match`).
    pub fn cfg(&self) -> &Arc<ServerConfig> {
        self.effective.as_ref().unwrap_or(&self.ctx.config)
    }

    /// `server-sig-algs` for this user when a `Match` block changed
    /// `PubkeyAcceptedAlgorithms` (sent before USERAUTH_SUCCESS, RFC 8308 §2.4).
    pub fn per_user_sig_algs(&self) -> Option<Vec<String>> {
        let eff = self.effective.as_ref()?;
        (eff.pubkey_accepted_algorithms != self.ctx.config.pubkey_accepted_algorithms)
            .then(|| eff.pubkey_accepted_algorithms.clone())
    }

    /// The user name of the first request, once seen.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The banner to send before the first answer, once (`Banner`).
    pub fn take_banner(&mut self) -> Option<String> {
        if self.banner_sent {
            return None;
        }
        self.banner_sent = true;
        let path = self.cfg().banner.clone()?;
        std::fs::read_to_string(path).ok()
    }

    fn addr(&self) -> String {
        format!("{} port {}", self.ctx.peer.ip(), self.ctx.peer.port())
    }

    /// Methods enabled by configuration, in sshd's order.
    fn enabled_methods(&self) -> Vec<String> {
        let c = self.cfg();
        let mut m = Vec::new();
        if c.pubkey_authentication {
            m.push("publickey".to_string());
        }
        if c.password_authentication {
            m.push("password".to_string());
        }
        if c.kbd_interactive_authentication {
            m.push("keyboard-interactive".to_string());
        }
        m
    }

    /// Methods that can continue, given `AuthenticationMethods` and what
    /// already succeeded.
    pub fn methods_left(&self) -> Vec<String> {
        let enabled = self.enabled_methods();
        let lists = &self.cfg().authentication_methods;
        if lists.is_empty() || lists.iter().any(|l| l.len() == 1 && l[0] == "any") {
            return enabled;
        }
        let mut out = Vec::new();
        for l in lists {
            if l.len() > self.completed.len() && l[..self.completed.len()] == self.completed[..] {
                let next = l[self.completed.len()].split(':').next().unwrap_or("").to_string();
                if enabled.contains(&next) && !out.contains(&next) {
                    out.push(next);
                }
            }
        }
        out
    }

    fn complete(&mut self, method: &str) -> Decision {
        let lists = self.cfg().authentication_methods.clone();
        if lists.is_empty() || lists.iter().any(|l| l.len() == 1 && l[0] == "any") {
            return Decision::Accept;
        }
        self.completed.push(method.to_string());
        if lists.iter().any(|l| {
            l.iter()
                .map(|m| m.split(':').next().unwrap_or(""))
                .eq(self.completed.iter().map(String::as_str))
        }) {
            Decision::Accept
        } else {
            Decision::Reject { partial: true }
        }
    }

    /// Looks the user up and applies sshd's `allowed_user` checks. `Err`
    /// holds the log line for a refused (but existing) user; `Ok(None)` is
    /// an invalid user.
    fn account_for(&self, user: &str) -> Result<Option<Account>, String> {
        let acct = if self.ctx.is_root {
            account::lookup(user)
        } else {
            account::current_user().filter(|a| a.name == user)
        };
        let Some(acct) = acct else { return Ok(None) };
        let ip = self.ctx.peer.ip();
        if self.ctx.is_root {
            if let Some(sh) = account::shadow_entry(user) {
                match account::account_state(&sh, today_days()) {
                    AccountState::Locked => return Err(format!("User {user} not allowed because account is locked")),
                    AccountState::AccountExpired => return Err(format!("User {user} account has expired")),
                    _ => {}
                }
            }
        }
        let c = self.cfg();
        let host_match = |pat: &str| -> bool {
            let (u, h) = match pat.split_once('@') {
                Some((u, h)) => (u, Some(h)),
                None => (pat, None),
            };
            crate::config::match_pattern(user, u) && h.is_none_or(|h| authorized_keys::from_matches(h, ip, None))
        };
        if c.deny_users.iter().any(|p| host_match(p)) {
            return Err(format!("User {user} from {ip} not allowed because listed in DenyUsers"));
        }
        if !c.allow_users.is_empty() && !c.allow_users.iter().any(|p| host_match(p)) {
            return Err(format!(
                "User {user} from {ip} not allowed because not listed in AllowUsers"
            ));
        }
        if !c.deny_groups.is_empty() || !c.allow_groups.is_empty() {
            let groups = account::groups(&acct);
            let in_any = |pats: &[String]| {
                groups
                    .iter()
                    .any(|g| pats.iter().any(|p| crate::config::match_pattern(g, p)))
            };
            if in_any(&c.deny_groups) {
                return Err(format!(
                    "User {user} from {ip} not allowed because a group is listed in DenyGroups"
                ));
            }
            if !c.allow_groups.is_empty() && !in_any(&c.allow_groups) {
                return Err(format!(
                    "User {user} from {ip} not allowed because none of user's groups are listed in AllowGroups"
                ));
            }
        }
        Ok(Some(acct))
    }

    /// Whether root may log in with `method` (`PermitRootLogin`).
    fn root_allowed(&self, acct: &Account, method: &str, options: Option<&KeyOptions>) -> bool {
        if acct.uid != 0 {
            return true;
        }
        match self.cfg().permit_root_login {
            PermitRootLogin::Yes => true,
            PermitRootLogin::ProhibitPassword => method == "publickey",
            PermitRootLogin::ForcedCommandsOnly => {
                method == "publickey" && options.is_some_and(|o| o.command.is_some())
            }
            PermitRootLogin::No => false,
        }
    }

    fn fail(&mut self, counted: bool, mut log: Vec<String>) -> Outcome {
        if counted {
            self.failures += 1;
        }
        let methods = self.methods_left();
        if counted && self.failures >= self.cfg().max_auth_tries.max(1) {
            let user = self.user.clone().unwrap_or_default();
            let who = if self.invalid_logged {
                format!("invalid user {user}")
            } else {
                format!("authenticating user {user}")
            };
            log.push(format!(
                "error: maximum authentication attempts exceeded for {}{user} from {} ssh2 [preauth]",
                if self.invalid_logged { "invalid user " } else { "" },
                self.addr()
            ));
            log.push(format!(
                "Disconnecting {who} {}: Too many authentication failures [preauth]",
                self.addr()
            ));
            return Outcome {
                decision: Decision::Disconnect("Too many authentication failures".into()),
                log,
                methods,
                notice: None,
            };
        }
        Outcome {
            decision: Decision::Reject { partial: false },
            log,
            methods,
            notice: None,
        }
    }

    fn authorized(&self, acct: &Account, key: &AnyPublicKey) -> Result<Option<KeyOptions>, String> {
        let c = self.cfg();
        for path in c.authorized_keys_paths(&acct.name, &acct.home, acct.uid) {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if c.strict_modes {
                if let Err(e) = authorized_keys::check_strict_modes(&path, acct.uid, &acct.home) {
                    return Err(format!("Authentication refused: {e}"));
                }
            }
            let entries = authorized_keys::parse(&text);
            match authorized_keys::find_for_user(&entries, &acct.name, key, self.ctx.peer.ip(), None, SystemTime::now())
            {
                Ok(Some(hit)) => return Ok(Some(hit.options)),
                Ok(None) => {}
                Err(reason) => return Err(reason),
            }
        }
        Ok(None)
    }

    /// Decides on one request. May block (crypt(3)): call it off the
    /// event loop.
    pub fn decide(&mut self, req: &AuthRequest) -> Outcome {
        let r = &req.request;
        let method = r.method.name().to_string();
        if self.user.is_none() {
            self.user = Some(r.user.clone());
            let groups = account::lookup(&r.user)
                .map(|a| account::groups(&a))
                .unwrap_or_default();
            self.effective = Some(ServerConfig::shared_for_connection(
                &self.ctx.config,
                &r.user,
                self.ctx.peer.ip(),
                &groups,
            ));
        }
        if self.user.as_deref() != Some(r.user.as_str()) || r.service != "ssh-connection" {
            // sshd: "Disconnecting: Change of username or service not allowed"
            return Outcome {
                decision: Decision::Disconnect(format!(
                    "Change of username or service not allowed: ({},{}) -> ({},{})",
                    self.user.clone().unwrap_or_default(),
                    "ssh-connection",
                    r.user,
                    r.service
                )),
                log: vec![],
                methods: vec![],
                notice: None,
            };
        }
        let base = if matches!(r.method, MethodData::PublicKey { .. }) {
            "publickey"
        } else {
            method.as_str()
        };
        let enabled = self.methods_left();
        let counted = method != "none";
        if !enabled.iter().any(|m| m == base) {
            return self.fail(counted && base != "none", vec![]);
        }
        let addr = self.addr();
        let acct = match self.account_for(&r.user) {
            Ok(Some(a)) => Some(a),
            Ok(None) => {
                let mut log = Vec::new();
                if !self.invalid_logged {
                    log.push(format!("Invalid user {} from {addr}", r.user));
                    self.invalid_logged = true;
                }
                if let MethodData::Password { password, .. } = &r.method {
                    account::dummy_verify(password);
                    log.push(format!("Failed password for invalid user {} from {addr} ssh2", r.user));
                }
                return self.fail(counted, log);
            }
            Err(line) => {
                if let MethodData::Password { password, .. } = &r.method {
                    account::dummy_verify(password);
                }
                let mut log = vec![line];
                if method == "password" {
                    log.push(format!("Failed password for {} from {addr} ssh2", r.user));
                }
                return self.fail(counted, log);
            }
        };
        let Some(acct) = acct else {
            return self.fail(counted, vec![]);
        };
        match &r.method {
            MethodData::None => self.fail(false, vec![]),
            MethodData::PublicKey {
                algorithm,
                key_blob,
                signature,
                ..
            } => {
                let Ok(key) = AnyPublicKey::from_blob(key_blob) else {
                    return self.fail(
                        true,
                        vec![format!("userauth_pubkey: cannot decode key: {algorithm} [preauth]")],
                    );
                };
                if !self
                    .ctx
                    .config
                    .pubkey_accepted_algorithms
                    .iter()
                    .any(|a| a == algorithm)
                {
                    return self.fail(true, vec![format!("userauth_pubkey: signature algorithm {algorithm} not in PubkeyAcceptedAlgorithms [preauth]")]);
                }
                let options = match self.authorized(&acct, &key) {
                    Ok(o) => o,
                    Err(reason) => return self.fail(true, vec![reason]),
                };
                let label = key_label(&key);
                match (signature, options) {
                    (None, Some(_)) => Outcome {
                        decision: Decision::PkOk {
                            algorithm: algorithm.clone(),
                            key_blob: key_blob.clone(),
                        },
                        log: vec![],
                        methods: vec![],
                        notice: None,
                    },
                    (None, None) => self.fail(true, vec![]),
                    (Some(_), Some(opts)) if req.signature_valid == Some(true) => {
                        if !self.root_allowed(&acct, "publickey", Some(&opts)) {
                            return self.fail(
                                true,
                                vec![format!(
                                    "ROOT LOGIN REFUSED FROM {} port {}",
                                    self.ctx.peer.ip(),
                                    self.ctx.peer.port()
                                )],
                            );
                        }
                        let decision = self.complete("publickey");
                        let mut log = Vec::new();
                        if decision == Decision::Accept {
                            log.push(format!("Accepted publickey for {} from {addr} ssh2: {label}", r.user));
                            self.key_options = Some(opts);
                            self.account = Some(acct);
                        } else {
                            log.push(format!("Partial publickey for {} from {addr} ssh2: {label}", r.user));
                        }
                        Outcome {
                            decision,
                            log,
                            methods: self.methods_left(),
                            notice: None,
                        }
                    }
                    _ => self.fail(
                        true,
                        vec![format!("Failed publickey for {} from {addr} ssh2: {label}", r.user)],
                    ),
                }
            }
            MethodData::Password { password, new_password } => {
                let ok = new_password.is_none() && self.check_password(&acct, password);
                self.password_like_result(&acct, "password", ok)
            }
            MethodData::KeyboardInteractive { .. } => {
                self.kbd_user = Some(r.user.clone());
                Outcome {
                    decision: Decision::Info(InfoRequest {
                        name: String::new(),
                        instruction: String::new(),
                        prompts: vec![Prompt {
                            text: "Password: ".into(),
                            echo: false,
                        }],
                    }),
                    log: vec![],
                    methods: vec![],
                    notice: None,
                }
            }
            MethodData::Other(_) => self.fail(true, vec![]),
        }
    }

    /// Decides on keyboard-interactive answers.
    pub fn decide_info(&mut self, responses: &[Zeroizing<String>]) -> Outcome {
        let Some(user) = self.kbd_user.take() else {
            return self.fail(true, vec![]);
        };
        let acct = match self.account_for(&user) {
            Ok(Some(a)) => a,
            _ => {
                if let Some(r) = responses.first() {
                    account::dummy_verify(r);
                }
                return self.fail(
                    true,
                    vec![format!(
                        "Failed keyboard-interactive for {}{user} from {} ssh2",
                        if self.invalid_logged { "invalid user " } else { "" },
                        self.addr()
                    )],
                );
            }
        };
        let ok = responses.len() == 1 && self.check_password(&acct, &responses[0]);
        self.password_like_result(&acct, "keyboard-interactive", ok)
    }

    fn check_password(&self, acct: &Account, password: &str) -> bool {
        if !self.ctx.is_root {
            // Without root the shadow database is unreadable, as for sshd.
            account::dummy_verify(password);
            return false;
        }
        let Some(entry) = account::shadow_entry(&acct.name) else {
            account::dummy_verify(password);
            return false;
        };
        if password.is_empty() && !self.cfg().permit_empty_passwords {
            account::dummy_verify(password);
            return false;
        }
        let empty_ok = entry.hash.is_empty() && self.cfg().permit_empty_passwords;
        if !(account::password_login_possible(&entry) || empty_ok) {
            account::dummy_verify(password);
            return false;
        }
        account::verify_password(&entry, password)
    }

    fn password_like_result(&mut self, acct: &Account, method: &str, ok: bool) -> Outcome {
        let addr = self.addr();
        let user = acct.name.clone();
        if ok {
            if let Some(entry) = account::shadow_entry(&user) {
                if account::account_state(&entry, today_days()) == AccountState::PasswordExpired {
                    let line = format!("Password expired for {user} from {addr}: change it through another channel");
                    let mut o = self.fail(true, vec![line]);
                    o.notice = Some(
                        "Your password has expired. tobirad cannot change passwords yet: change it through another channel.\n"
                            .into(),
                    );
                    return o;
                }
            }
            if !self.root_allowed(acct, method, None) {
                return self.fail(
                    true,
                    vec![
                        format!("Failed {method} for {user} from {addr} ssh2"),
                        format!(
                            "ROOT LOGIN REFUSED FROM {} port {}",
                            self.ctx.peer.ip(),
                            self.ctx.peer.port()
                        ),
                    ],
                );
            }
            let decision = self.complete(method);
            let log = if decision == Decision::Accept {
                self.account = Some(acct.clone());
                vec![format!("Accepted {method} for {user} from {addr} ssh2")]
            } else {
                vec![format!("Partial {method} for {user} from {addr} ssh2")]
            };
            return Outcome {
                decision,
                log,
                methods: self.methods_left(),
                notice: None,
            };
        }
        self.fail(true, vec![format!("Failed {method} for {user} from {addr} ssh2")])
    }

    /// The delay a failed attempt waits for, fixed per user so that valid
    /// and invalid users answer alike (OpenSSH's `user_specific_delay`).
    pub fn failure_delay(&self, secret: &[u8]) -> Duration {
        use hmac::{Hmac, Mac};
        let mut mac = match Hmac::<sha1::Sha1>::new_from_slice(secret) {
            Ok(m) => m,
            Err(_) => return Duration::from_millis(5),
        };
        mac.update(self.user.as_deref().unwrap_or("").as_bytes());
        let out = mac.finalize().into_bytes();
        let v = u32::from_be_bytes([out[0], out[1], out[2], out[3]]);
        Duration::from_micros(5_000 + u64::from(v % 5_000))
    }
}
