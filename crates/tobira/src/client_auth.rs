//! The client's side of user authentication (RFC 4252, RFC 4256, ssh(1)):
//! which methods to try in which order, identities from files and from an
//! ssh-agent, and the questions to the user.

use std::path::PathBuf;

use tobira_proto::hostkey::SigningKey;
use tobira_proto::msg::userauth::InfoRequest;
use tobira_proto::{Connection, Error};
use zeroize::Zeroizing;

use crate::agent::AgentClient;
use crate::keyfile::{self, KeyFileError};
use crate::pubkey::{self, AnyPublicKey};

/// How the client asks its user. Every method returns `None` when it
/// cannot ask (no terminal, `BatchMode`).
pub trait Prompter {
    /// A secret (password, passphrase), read without echo.
    fn secret(&mut self, prompt: &str) -> Option<Zeroizing<String>>;
    /// A visible answer (keyboard-interactive prompts with echo).
    fn visible(&mut self, prompt: &str) -> Option<String>;
    /// Text for the user (banner, instructions, "Permission denied, please try again.").
    fn show(&mut self, text: &str);
}

/// What the user configured (ssh_config(5)).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Remote user.
    pub user: String,
    /// Host as shown in prompts (`user@host's password:`).
    pub host: String,
    /// `PreferredAuthentications`.
    pub preferred: Vec<String>,
    /// `PubkeyAuthentication`.
    pub pubkey: bool,
    /// `PasswordAuthentication`.
    pub password: bool,
    /// `KbdInteractiveAuthentication`.
    pub kbd_interactive: bool,
    /// `IdentityFile` / `-i`, in order.
    pub identity_files: Vec<PathBuf>,
    /// `IdentitiesOnly`: agent keys only when they match a file.
    pub identities_only: bool,
    /// The agent socket (`SSH_AUTH_SOCK` or `IdentityAgent`).
    pub agent: Option<PathBuf>,
    /// `BatchMode`: never prompt.
    pub batch: bool,
    /// `NumberOfPasswordPrompts`.
    pub password_prompts: u32,
    /// `PubkeyAcceptedAlgorithms`.
    pub pubkey_algorithms: Vec<String>,
}

/// A [`Prompter`] for programs without a user at the keyboard: it never
/// asks and shows nothing (ssh's `BatchMode`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPrompter;

impl Prompter for NoPrompter {
    fn secret(&mut self, _: &str) -> Option<Zeroizing<String>> {
        None
    }
    fn visible(&mut self, _: &str) -> Option<String> {
        None
    }
    fn show(&mut self, _: &str) {}
}

impl AuthSettings {
    /// Public-key authentication (RFC 4252 §7) with the key in
    /// `identity` only: no agent, no password, never a prompt; for programs
    /// that log in unattended.
    pub fn publickey_only(user: &str, host: &str, identity: PathBuf) -> Self {
        AuthSettings {
            user: user.to_string(),
            host: host.to_string(),
            preferred: vec!["publickey".into()],
            pubkey: true,
            password: false,
            kbd_interactive: false,
            identity_files: vec![identity],
            identities_only: true,
            agent: None,
            batch: true,
            password_prompts: 0,
            pubkey_algorithms: tobira_proto::algorithms::PUBKEY_DEFAULT
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

enum Source {
    Agent,
    File { path: PathBuf, loaded: Option<SigningKey> },
}

struct Identity {
    source: Source,
    blob: Vec<u8>,
    key: AnyPublicKey,
    label: String,
}

/// Drives the client's authentication over a [`Connection`].
pub struct Authenticator {
    s: AuthSettings,
    identities: Vec<Identity>,
    next_identity: usize,
    current: Option<(usize, String)>,
    agent: Option<AgentClient>,
    password_tries: u32,
    kbd_tries: u32,
    /// The method that succeeded (for "Authenticated … using").
    pub last_method: Option<String>,
    /// Debug lines (ssh -v style) for the caller to log.
    pub debug: Vec<String>,
    /// The methods of the last USERAUTH_FAILURE.
    pub last_can_continue: Vec<String>,
}

fn algorithm_for(key: &AnyPublicKey, server_sig_algs: Option<&[String]>, accepted: &[String]) -> Option<String> {
    let candidates: &[&str] = match key.key_type() {
        // SHA-1 `ssh-rsa` last, and only when PubkeyAcceptedAlgorithms has it.
        "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
        "ssh-ed25519" => &["ssh-ed25519"],
        pubkey::ED448 => &[pubkey::ED448],
        "ssh-dss" => &["ssh-dss"],
        "ecdsa-sha2-nistp256" => &["ecdsa-sha2-nistp256"],
        "ecdsa-sha2-nistp384" => &["ecdsa-sha2-nistp384"],
        "ecdsa-sha2-nistp521" => &["ecdsa-sha2-nistp521"],
        _ => return None,
    };
    candidates
        .iter()
        .filter(|a| accepted.iter().any(|x| x == *a))
        .find(|a| server_sig_algs.is_none_or(|s| s.iter().any(|x| x == *a)))
        .map(|a| a.to_string())
}

impl Authenticator {
    /// Gathers identities: the agent's keys first, then the files (whose
    /// public halves are read without a passphrase), as ssh does.
    pub fn new(s: AuthSettings) -> Self {
        let mut a = Authenticator {
            s,
            identities: Vec::new(),
            next_identity: 0,
            current: None,
            agent: None,
            password_tries: 0,
            kbd_tries: 0,
            last_method: None,
            debug: Vec::new(),
            last_can_continue: Vec::new(),
        };
        let mut files = Vec::new();
        for path in &a.s.identity_files {
            let public = pubkey::load_public_from_private(path)
                .or_else(|_| pubkey::load_public(path))
                .or_else(|_| {
                    let mut p = path.clone().into_os_string();
                    p.push(".pub");
                    pubkey::load_public(&PathBuf::from(p))
                });
            match public {
                Ok(k) => files.push((path.clone(), k)),
                Err(e) => a
                    .debug
                    .push(format!("debug1: identity file {} type -1 ({e})", path.display())),
            }
        }
        if a.s.pubkey {
            if let Some(sock) = a.s.agent.clone() {
                match AgentClient::connect(&sock) {
                    Ok(mut ag) => {
                        if let Ok(ids) = ag.identities() {
                            for id in ids {
                                let Ok(key) = AnyPublicKey::from_blob(&id.key_blob) else {
                                    continue;
                                };
                                if a.s.identities_only && !files.iter().any(|(_, f)| f.same_key(&key)) {
                                    continue;
                                }
                                a.debug.push(format!(
                                    "debug1: Will attempt key: {} {} agent",
                                    id.comment,
                                    key.fingerprint()
                                ));
                                a.identities.push(Identity {
                                    source: Source::Agent,
                                    blob: id.key_blob,
                                    key,
                                    label: id.comment,
                                });
                            }
                        }
                        a.agent = Some(ag);
                    }
                    Err(e) => a.debug.push(format!(
                        "debug1: get_agent_identities: ssh_get_authentication_socket: {e}"
                    )),
                }
            }
        }
        for (path, key) in files {
            if a.identities.iter().any(|i| i.key.same_key(&key)) {
                continue;
            }
            let blob = key.blob().to_vec();
            a.debug.push(format!(
                "debug1: Will attempt key: {} {} {}",
                path.display(),
                key.key_type(),
                key.fingerprint()
            ));
            a.identities.push(Identity {
                label: path.display().to_string(),
                source: Source::File { path, loaded: None },
                blob,
                key,
            });
        }
        a
    }

    /// The remote user name.
    pub fn user(&self) -> &str {
        &self.s.user
    }

    /// Starts: the `none` request that asks for the server's methods.
    pub fn start(&mut self, conn: &mut Connection) -> Result<(), Error> {
        conn.userauth_none(&self.s.user)
    }

    /// After USERAUTH_FAILURE: tries the next method the server allows.
    /// `Ok(false)` when nothing is left (permission denied).
    pub fn on_failure(
        &mut self,
        conn: &mut Connection,
        can_continue: &[String],
        prompter: &mut dyn Prompter,
    ) -> Result<bool, Error> {
        self.last_method = None;
        self.last_can_continue = can_continue.to_vec();
        self.current = None;
        let preferred = self.s.preferred.clone();
        for method in preferred.iter().filter(|m| can_continue.contains(m)) {
            let sent = match method.as_str() {
                "publickey" if self.s.pubkey => self.try_next_key(conn)?,
                "keyboard-interactive"
                    if self.s.kbd_interactive && !self.s.batch && self.kbd_tries < self.s.password_prompts =>
                {
                    self.kbd_tries += 1;
                    conn.userauth_keyboard_interactive(&self.s.user)?;
                    true
                }
                "password" if self.s.password && !self.s.batch && self.password_tries < self.s.password_prompts => {
                    if self.password_tries > 0 {
                        prompter.show("Permission denied, please try again.\n");
                    }
                    self.password_tries += 1;
                    let prompt = format!("{}@{}'s password: ", self.s.user, self.s.host);
                    match prompter.secret(&prompt) {
                        Some(pw) => {
                            conn.userauth_password(&self.s.user, &pw, None)?;
                            true
                        }
                        None => false,
                    }
                }
                _ => false,
            };
            if sent {
                self.last_method = Some(method.clone());
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn try_next_key(&mut self, conn: &mut Connection) -> Result<bool, Error> {
        while self.next_identity < self.identities.len() {
            let i = self.next_identity;
            self.next_identity += 1;
            let id = &self.identities[i];
            let Some(alg) = algorithm_for(&id.key, conn.server_sig_algs(), &self.s.pubkey_algorithms) else {
                self.debug.push(format!(
                    "debug1: Skipping {}: no acceptable signature algorithm",
                    id.label
                ));
                continue;
            };
            self.debug.push(format!(
                "debug1: Offering public key: {} {} {}",
                id.label,
                alg,
                id.key.fingerprint()
            ));
            conn.userauth_publickey_query(&self.s.user, &alg, &id.blob)?;
            self.current = Some((i, alg));
            return Ok(true);
        }
        Ok(false)
    }

    /// After USERAUTH_PK_OK: signs with the offered key and sends the
    /// signed request. `Ok(false)` when the key could not be used (bad
    /// passphrase, agent refusal): the caller moves on as after a failure.
    pub fn on_pk_ok(&mut self, conn: &mut Connection, prompter: &mut dyn Prompter) -> Result<bool, Error> {
        let Some((i, alg)) = self.current.clone() else {
            return Ok(false);
        };
        self.debug
            .push(format!("debug1: Server accepts key: {}", self.identities[i].label));
        let data = conn.userauth_publickey_data(&self.s.user, &alg, &self.identities[i].blob);
        let sig = match self.sign(i, &alg, &data, prompter) {
            Some(s) => s,
            None => return Ok(false),
        };
        let blob = self.identities[i].blob.clone();
        conn.userauth_publickey_signed(&self.s.user, &alg, &blob, sig)?;
        Ok(true)
    }

    fn sign(&mut self, i: usize, alg: &str, data: &[u8], prompter: &mut dyn Prompter) -> Option<Vec<u8>> {
        let batch = self.s.batch;
        let tries = self.s.password_prompts.max(1);
        let id = &mut self.identities[i];
        match &mut id.source {
            Source::Agent => {
                let agent = self.agent.as_mut()?;
                match agent.sign(&id.blob, data, alg) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        self.debug.push(format!("debug1: agent refused operation: {e}"));
                        None
                    }
                }
            }
            Source::File { path, loaded } => {
                if loaded.is_none() {
                    let mut pass: Option<Zeroizing<String>> = None;
                    for attempt in 0..=tries {
                        match keyfile::load_any_private(path, pass.as_deref().map(|s| s.as_str())) {
                            Ok(k) => {
                                *loaded = k.signing_key().ok();
                                break;
                            }
                            Err(KeyFileError::PassphraseRequired) | Err(KeyFileError::BadPassphrase)
                                if !batch && attempt < tries =>
                            {
                                let prompt = if attempt == 0 {
                                    format!("Enter passphrase for key '{}': ", path.display())
                                } else {
                                    format!("Bad passphrase, try again for {}: ", path.display())
                                };
                                pass = Some(prompter.secret(&prompt)?);
                            }
                            Err(e) => {
                                self.debug.push(format!("debug1: {}: {e}", path.display()));
                                return None;
                            }
                        }
                    }
                }
                loaded.as_ref()?.sign(alg, data).ok()
            }
        }
    }

    /// Keyboard-interactive prompts: shows name and instruction, asks each
    /// prompt (with echo when the server allows it) and sends the answers.
    pub fn on_info_request(
        &mut self,
        conn: &mut Connection,
        req: &InfoRequest,
        prompter: &mut dyn Prompter,
    ) -> Result<bool, Error> {
        if !req.name.is_empty() {
            prompter.show(&format!("{}\n", req.name));
        }
        if !req.instruction.is_empty() {
            prompter.show(&format!("{}\n", req.instruction));
        }
        let mut answers = Vec::new();
        for p in &req.prompts {
            let text = if p.text.is_empty() {
                "Response: ".to_string()
            } else {
                p.text.clone()
            };
            let a = if p.echo {
                prompter.visible(&text).map(Zeroizing::new)
            } else {
                prompter.secret(&text)
            };
            match a {
                Some(a) => answers.push(a),
                None => return Ok(false),
            }
        }
        conn.userauth_info_response(&answers)?;
        Ok(true)
    }
}
