//! A tobira client and a tobira server, connected in memory, driven by a
//! [`Script`]. One side is the *target*; the other is the *attacker*,
//! whose connection seals whatever payloads the script makes it send with
//! the right keys and sequence numbers, so the target sees well-formed,
//! correctly encrypted packets with fuzzer-chosen contents at any stage:
//! key exchange, user authentication, channels, re-exchange.
//!
//! Both sides run a small application policy (accept the host key, accept
//! the password `p` for user `u`, accept channels, answer requests, echo
//! data on the server, ...), so sessions get deep. Errors are expected and
//! ignored; the only oracles are "no panic" and "a failed `feed` leaves the
//! connection closed".

use std::sync::{Arc, OnceLock};

use rand::SeedableRng;
use tobira_proto::algorithms::{CIPHER_SUPPORTED, MAC_SUPPORTED};
use tobira_proto::hostkey::SigningKey;
use tobira_proto::msg::connection::{ChannelKind, ChannelRequest};
use tobira_proto::msg::userauth::{InfoRequest, MethodData, Prompt};
use tobira_proto::transport::packet::Sealer;
use tobira_proto::wire::Writer;
use tobira_proto::{Config, Connection, DisconnectReason, Event, Role};
use zeroize::Zeroizing;

use crate::script::{flag, Action, Api, Field, Method, Msg, Req, Script, Start, COMPRESSIONS, HOSTKEYS, KEXES, SLOW_KEXES_FROM};

const KEY_ED25519: &str = include_str!("../../crates/tobira-proto/tests/keys/host_ed25519");
const KEY_ECDSA: &str = include_str!("../../crates/tobira-proto/tests/keys/host_ecdsa");
const KEY_RSA: &str = include_str!("../../crates/tobira-proto/tests/keys/host_rsa");
const KEY_ED448: &str = include_str!("../../crates/tobira-proto/tests/keys/host_ed448");
const KEY_DSA: &str = include_str!("../../crates/tobira-proto/tests/keys/host_dsa");
const KEY_USER: &str = include_str!("../../crates/tobira-proto/tests/keys/user_ecdsa384");

fn load(text: &str) -> Arc<SigningKey> {
    let k = tobira::keyfile::any_private_from_str(text, None).expect("fixture key parses");
    Arc::new(k.signing_key().expect("fixture key signs"))
}

/// The fixture host keys (every type) and the user key (ECDSA P-384).
pub fn fixture_keys() -> &'static (Vec<Arc<SigningKey>>, Arc<SigningKey>) {
    static KEYS: OnceLock<(Vec<Arc<SigningKey>>, Arc<SigningKey>)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let hosts = [KEY_ED25519, KEY_ECDSA, KEY_RSA, KEY_ED448, KEY_DSA]
            .iter()
            .map(|t| load(t))
            .collect();
        (hosts, load(KEY_USER))
    })
}

/// Picks `table[i % len]`.
fn pick<'a>(table: &[&'a str], i: u8) -> &'a str {
    table[i as usize % table.len()]
}

/// The two configurations (client, server) for a setup.
pub fn configs(script: &Script, target: Role) -> (Config, Config) {
    let s = &script.setup;
    let (hosts, _) = fixture_keys();
    let narrow = |c: &mut Config| {
        c.kex = vec![s.kex_name().to_string()];
        c.host_key = vec![s.hostkey_name().to_string()];
        c.cipher = vec![pick(CIPHER_SUPPORTED, s.cipher).to_string()];
        c.mac = vec![pick(MAC_SUPPORTED, s.mac).to_string()];
        c.compression = vec![pick(COMPRESSIONS, s.comp).to_string()];
    };
    // Config::default() parses the fallback DH groups: made once.
    static DEFAULT: OnceLock<Config> = OnceLock::new();
    let default = DEFAULT.get_or_init(Config::default);
    let mut client = default.clone();
    let mut server = Config {
        host_keys: hosts.clone(),
        offload_slow_kex: s.offload_kex(),
        ..default.clone()
    };
    for (cfg, role) in [(&mut client, Role::Client), (&mut server, Role::Server)] {
        let full = s.flags & flag::FULL_LISTS != 0 && role != target;
        if full {
            // The attacker offers everything it supports.
            cfg.kex = KEXES[..SLOW_KEXES_FROM].iter().map(|k| k.to_string()).collect();
            cfg.kex.push(s.kex_name().to_string());
            cfg.host_key = HOSTKEYS[..HOSTKEYS.len() - 1].iter().map(|k| k.to_string()).collect();
            cfg.host_key.push(s.hostkey_name().to_string());
            cfg.cipher = CIPHER_SUPPORTED.iter().map(|k| k.to_string()).collect();
            cfg.mac = MAC_SUPPORTED.iter().map(|k| k.to_string()).collect();
            cfg.compression = COMPRESSIONS.iter().map(|k| k.to_string()).collect();
        } else {
            narrow(cfg);
        }
        cfg.trace = s.flags & flag::TRACE != 0;
        cfg.auto_window_adjust = s.flags & flag::MANUAL_WINDOW == 0;
        if s.flags & flag::SMALL_REKEY != 0 {
            cfg.rekey_bytes = 4096;
        }
    }
    (client, server)
}

/// Most pump rounds per pump.
const MAX_ROUNDS: usize = 48;

/// The two connections and the script's policies.
pub struct Session {
    /// Which role the fuzzer attacks.
    pub target: Role,
    /// The client.
    pub c: Connection,
    /// The server.
    pub s: Connection,
    flags: u8,
    /// Bytes the harness itself queued (bounds echo loops).
    budget: usize,
    /// One-way delivery ([`Action::Flush`]): the target's output is dropped.
    one_way: bool,
}

fn rng(seed: u64) -> Box<rand::rngs::StdRng> {
    Box::new(rand::rngs::StdRng::seed_from_u64(seed))
}

impl Session {
    /// Builds both sides for `script`.
    pub fn new(script: &Script, target: Role) -> Session {
        let (cc, sc) = configs(script, target);
        Session {
            target,
            c: Connection::client(Arc::new(cc), rng(1)),
            s: Connection::server(Arc::new(sc), rng(2)),
            flags: script.setup.flags,
            budget: 4 << 20,
            one_way: false,
        }
    }

    /// The side under attack.
    pub fn tgt(&mut self) -> &mut Connection {
        match self.target {
            Role::Client => &mut self.c,
            Role::Server => &mut self.s,
        }
    }

    /// The attacking side.
    pub fn atk(&mut self) -> &mut Connection {
        match self.target {
            Role::Client => &mut self.s,
            Role::Server => &mut self.c,
        }
    }

    /// Moves up to `n` pending bytes from one side to the other; returns
    /// how many moved.
    fn deliver(&mut self, client_to_server: bool, n: usize) -> usize {
        let to_target = (self.target == Role::Server) == client_to_server;
        let drop = self.one_way && !to_target;
        let (from, to) = if client_to_server {
            (&mut self.c, &mut self.s)
        } else {
            (&mut self.s, &mut self.c)
        };
        let k = n.min(from.pending_output().len());
        if k == 0 {
            return 0;
        }
        let bytes = from.pending_output()[..k].to_vec();
        from.consume_output(k);
        if !drop {
            feed(to, &bytes);
        }
        k
    }

    /// Moves bytes both ways, running both policies, until quiet (bounded).
    pub fn pump(&mut self) {
        for _ in 0..MAX_ROUNDS {
            let moved = self.deliver(true, usize::MAX) + self.deliver(false, usize::MAX);
            let events = self.policies();
            if moved == 0 && !events {
                return;
            }
        }
    }

    /// Pumps until `done` holds (bounded).
    fn pump_until(&mut self, done: impl Fn(&Session) -> bool) {
        for _ in 0..MAX_ROUNDS {
            if done(self) {
                return;
            }
            let moved = self.deliver(true, usize::MAX) + self.deliver(false, usize::MAX);
            let events = self.policies();
            if moved == 0 && !events {
                return;
            }
        }
    }

    /// Runs the session up to `start`.
    pub fn advance(&mut self, start: Start) {
        match start {
            Start::Fresh => {}
            Start::NewKeys => self.pump_until(|s| s.c.completed_kex_count() > 0 && s.s.completed_kex_count() > 0),
            Start::Userauth => self.pump(),
            Start::Authenticated | Start::Session => {
                self.pump();
                let _ = self.c.userauth_password("u", "p", None);
                self.pump();
                if start == Start::Session {
                    if let Ok(id) = self.c.channel_open(ChannelKind::Session) {
                        self.pump();
                        let pty = ChannelRequest::PtyReq {
                            term: "xterm".into(),
                            cols: 80,
                            rows: 24,
                            width_px: 0,
                            height_px: 0,
                            modes: vec![0],
                        };
                        let _ = self.c.channel_request(id, &pty, true);
                        let _ = self.c.channel_request(id, &ChannelRequest::Shell, true);
                        self.pump();
                    }
                }
            }
        }
    }

    /// Drains both sides' events and reacts; true if there were any.
    fn policies(&mut self) -> bool {
        let mut any = false;
        let flags = self.flags;
        while let Some(ev) = self.c.poll_event() {
            any = true;
            if debug() {
                eprintln!("client event: {ev:?}");
            }
            client_policy(&mut self.c, ev, flags);
        }
        while let Some(ev) = self.s.poll_event() {
            any = true;
            if debug() {
                eprintln!("server event: {ev:?}");
            }
            server_policy(&mut self.s, ev, flags, &mut self.budget);
        }
        any
    }

    /// Runs one action.
    pub fn apply(&mut self, a: &Action) {
        match a {
            Action::Pump => self.pump(),
            Action::Flush => {
                self.one_way = true;
                self.pump();
            }
            Action::Deliver { to_target, n } => {
                let c2s = (self.target == Role::Server) == *to_target;
                self.deliver(c2s, *n as usize);
                self.policies();
            }
            Action::Payload(p) => {
                let _ = self.atk().send_payload(p.clone());
            }
            Action::Msg(m) => {
                let host_blob = fixture_keys().0[0].public_blob().to_vec();
                let p = encode_msg(m, &host_blob);
                let _ = self.atk().send_payload(p);
            }
            Action::Plain(p) => {
                let mut out = tobira_proto::transport::out_buf::OutBuf::default();
                let payload = if p.is_empty() { vec![2] } else { p.clone() };
                Sealer::default().seal(&payload, &mut *rng(3), &mut out);
                feed(self.tgt(), &out);
            }
            Action::Raw(b) => feed(self.tgt(), b),
            Action::Api { on_target, call } => {
                let budget = &mut self.budget;
                let conn = match (on_target, self.target) {
                    (true, Role::Client) | (false, Role::Server) => &mut self.c,
                    _ => &mut self.s,
                };
                api(conn, call, budget);
            }
        }
    }
}

/// `TOBIRA_FUZZ_DEBUG=1`: print every event, failed feed and action
/// (to see how far an input gets).
pub fn debug() -> bool {
    static D: OnceLock<bool> = OnceLock::new();
    *D.get_or_init(|| std::env::var_os("TOBIRA_FUZZ_DEBUG").is_some())
}

/// Feeds bytes, then runs the server's key-exchange step if it handed one
/// out (bytes after its trigger in the same chunk wait for it); a failed
/// feed must leave the connection closed.
fn feed(to: &mut Connection, bytes: &[u8]) {
    let mut r = to.feed(bytes);
    while r.is_ok() {
        match to.take_kex_work() {
            Some(work) => r = to.finish_kex_work(work.run()),
            None => break,
        }
    }
    if let Err(e) = r {
        if debug() {
            eprintln!("{:?} feed error: {e}", to.role());
        }
        assert!(to.is_closed(), "feed failed ({e}) but the connection is not closed");
    }
}

fn client_policy(c: &mut Connection, ev: Event, flags: u8) {
    match ev {
        Event::HostKey { .. } => {
            if flags & flag::REJECT_HOSTKEY != 0 {
                c.reject_host_key("host key rejected by policy");
            } else {
                let _ = c.accept_host_key();
            }
        }
        Event::AuthInfoRequest(req) => {
            let answers: Vec<Zeroizing<String>> = req.prompts.iter().map(|_| Zeroizing::new("p".into())).collect();
            let _ = c.userauth_info_response(&answers);
        }
        Event::AuthPasswdChangeReq(_) => {
            let _ = c.userauth_password("u", "expired", Some("p"));
        }
        Event::AuthPkOk { algorithm, key_blob } => {
            let user = &fixture_keys().1;
            if key_blob == user.public_blob() {
                let data = c.userauth_publickey_data("u", &algorithm, &key_blob);
                if let Ok(sig) = user.sign(&algorithm, &data) {
                    let _ = c.userauth_publickey_signed("u", &algorithm, &key_blob, sig);
                }
            }
        }
        Event::ChannelOpenRequest { id, .. } => {
            if flags & flag::REFUSE_CHANNELS != 0 {
                let _ = c.channel_reject(id, 1, "refused by policy");
            } else {
                let _ = c.channel_accept(id);
            }
        }
        Event::ChannelRequest {
            id, want_reply: true, ..
        } => {
            let _ = c.channel_request_reply(id, flags & flag::FAIL_REQUESTS == 0);
        }
        Event::GlobalRequest { want_reply: true, .. } => {
            let _ = c.global_request_reply(false, &[]);
        }
        Event::ChannelData { id, data } | Event::ChannelExtendedData { id, data, .. } => {
            if flags & flag::MANUAL_WINDOW != 0 {
                let _ = c.channel_consumed(id, data.len());
            }
        }
        _ => {}
    }
}

fn server_policy(s: &mut Connection, ev: Event, flags: u8, budget: &mut usize) {
    let methods = || {
        vec![
            "password".to_string(),
            "publickey".to_string(),
            "keyboard-interactive".to_string(),
        ]
    };
    match ev {
        Event::AuthRequest(req) => {
            let user_ok = req.request.user == "u";
            match &req.request.method {
                MethodData::Password { password, new_password } => {
                    if user_ok && (password.as_str() == "p" || new_password.as_deref().map(String::as_str) == Some("p"))
                    {
                        let _ = s.auth_accept();
                    } else if password.as_str() == "expired" {
                        let _ = s.auth_passwd_changereq("Password expired: ");
                    } else {
                        let _ = s.auth_reject(&methods(), false);
                    }
                }
                MethodData::PublicKey {
                    algorithm,
                    key_blob,
                    signature: None,
                    ..
                } => {
                    let _ = s.auth_pk_ok(algorithm, key_blob);
                }
                MethodData::PublicKey { .. } => {
                    if user_ok && req.signature_valid == Some(true) {
                        let _ = s.auth_accept_with_sig_algs(Some(vec!["ssh-ed25519".into()]));
                    } else {
                        let _ = s.auth_reject(&methods(), false);
                    }
                }
                MethodData::KeyboardInteractive { .. } => {
                    let req = InfoRequest {
                        name: String::new(),
                        instruction: "Answer".into(),
                        prompts: vec![Prompt {
                            text: "Password: ".into(),
                            echo: false,
                        }],
                    };
                    let _ = s.auth_info_request(&req);
                }
                MethodData::None => {
                    if flags & flag::KBD != 0 {
                        let _ = s.auth_banner("Welcome\n");
                    }
                    let _ = s.auth_reject(&methods(), false);
                }
                MethodData::Other(_) => {
                    let _ = s.auth_reject(&methods(), true);
                }
            }
        }
        Event::AuthInfoResponse(answers) => {
            if answers.len() == 1 && answers[0].as_str() == "p" {
                let _ = s.auth_accept();
            } else {
                let _ = s.auth_reject(&methods(), false);
            }
        }
        Event::ChannelOpenRequest { id, .. } => {
            if flags & flag::REFUSE_CHANNELS != 0 {
                let _ = s.channel_reject(id, 1, "refused by policy");
            } else {
                let _ = s.channel_accept(id);
            }
        }
        Event::ChannelRequest {
            id,
            request,
            want_reply,
        } => {
            let ok = flags & flag::FAIL_REQUESTS == 0;
            if want_reply {
                let _ = s.channel_request_reply(id, ok);
            }
            match request {
                ChannelRequest::Exec { .. } if ok => {
                    let _ = s.channel_write(id, None, b"output\n");
                    let _ = s.channel_write(id, Some(1), b"error\n");
                    let _ = s.channel_request(id, &ChannelRequest::ExitStatus { status: 0 }, false);
                    let _ = s.channel_eof(id);
                    let _ = s.channel_close(id);
                }
                ChannelRequest::Shell if ok => {
                    let _ = s.channel_write(id, None, b"$ ");
                }
                _ => {}
            }
        }
        Event::ChannelData { id, data } => {
            if flags & flag::MANUAL_WINDOW != 0 {
                let _ = s.channel_consumed(id, data.len());
            }
            // Echo, within a budget.
            if *budget >= data.len() {
                *budget -= data.len();
                let _ = s.channel_write(id, None, &data);
            }
        }
        Event::ChannelEof { id } => {
            let _ = s.channel_close(id);
        }
        Event::GlobalRequest { want_reply: true, .. } => {
            let _ = s.global_request_reply(flags & flag::FAIL_REQUESTS == 0, &[]);
        }
        _ => {}
    }
}

fn api(conn: &mut Connection, call: &Api, budget: &mut usize) {
    let (_, user) = fixture_keys();
    let _ = match call {
        Api::Rekey => {
            conn.start_rekey();
            Ok(())
        }
        Api::ChannelOpen { kind, name, data } => {
            let kind = match kind % 4 {
                0 => ChannelKind::Session,
                1 => ChannelKind::DirectTcpip {
                    host: "localhost".into(),
                    port: 22,
                    originator: "127.0.0.1".into(),
                    originator_port: 4000,
                },
                2 => ChannelKind::ForwardedTcpip {
                    address: "0.0.0.0".into(),
                    port: 8080,
                    originator: "10.0.0.1".into(),
                    originator_port: 5000,
                },
                _ => ChannelKind::Other(name.clone(), data.clone()),
            };
            conn.channel_open(kind).map(|_| ())
        }
        Api::ChannelWrite { ch, code, data } => conn.channel_write(*ch, *code, data),
        Api::ChannelEof(ch) => conn.channel_eof(*ch),
        Api::ChannelClose(ch) => conn.channel_close(*ch),
        Api::ChannelRequest { ch, req, want_reply } => conn.channel_request(*ch, &to_request(req), *want_reply),
        Api::GlobalRequest { name, want_reply, data } => conn.global_request(name, *want_reply, data),
        Api::Consumed { ch, n } => conn.channel_consumed(*ch, *n as usize),
        Api::Disconnect { reason, message } => {
            conn.disconnect(disconnect_reason(*reason), message);
            Ok(())
        }
        Api::AuthPassword {
            user,
            password,
            new_password,
        } => conn.userauth_password(user, password, new_password.as_deref()),
        Api::AuthNone => conn.userauth_none("u"),
        Api::AuthKbd => conn.userauth_keyboard_interactive("u"),
        Api::AuthPubkey { sign } => {
            let alg = user.algorithms()[0];
            let blob = user.public_blob().to_vec();
            if *sign {
                let data = conn.userauth_publickey_data("u", alg, &blob);
                match user.sign(alg, &data) {
                    Ok(sig) => conn.userauth_publickey_signed("u", alg, &blob, sig),
                    Err(e) => Err(e),
                }
            } else {
                conn.userauth_publickey_query("u", alg, &blob)
            }
        }
        Api::AuthBanner(text) => conn.auth_banner(text),
        Api::AuthReject { partial } => conn.auth_reject(&["password".to_string()], *partial),
        Api::AuthAccept => conn.auth_accept(),
        Api::ChannelRequestReply { ch, ok } => conn.channel_request_reply(*ch, *ok),
        Api::GlobalReply { ok, data } => conn.global_request_reply(*ok, data),
        Api::ChannelAccept(ch) => conn.channel_accept(*ch),
        Api::ChannelReject { ch, code } => conn.channel_reject(*ch, *code, "no"),
        Api::BigWrite { ch, kib } => {
            let n = (*kib as usize) * 1024;
            if *budget >= n {
                *budget -= n;
                conn.channel_write(*ch, None, &vec![0x5a; n])
            } else {
                Ok(())
            }
        }
    };
}

fn disconnect_reason(code: u32) -> DisconnectReason {
    match code % 4 {
        0 => DisconnectReason::ProtocolError,
        1 => DisconnectReason::ByApplication,
        2 => DisconnectReason::MacError,
        _ => DisconnectReason::CompressionError,
    }
}

fn to_request(r: &Req) -> ChannelRequest {
    match r.clone() {
        Req::PtyReq { term, cols, rows, modes } => ChannelRequest::PtyReq {
            term,
            cols,
            rows,
            width_px: 0,
            height_px: 0,
            modes,
        },
        Req::Env { name, value } => ChannelRequest::Env { name, value },
        Req::Shell => ChannelRequest::Shell,
        Req::Exec(command) => ChannelRequest::Exec { command },
        Req::Subsystem(name) => ChannelRequest::Subsystem { name },
        Req::WindowChange { cols, rows } => ChannelRequest::WindowChange {
            cols,
            rows,
            width_px: 0,
            height_px: 0,
        },
        Req::Signal(name) => ChannelRequest::Signal { name },
        Req::ExitStatus(status) => ChannelRequest::ExitStatus { status },
        Req::ExitSignal { name, core, message } => ChannelRequest::ExitSignal {
            name,
            core_dumped: core,
            message,
        },
        Req::Break(ms) => ChannelRequest::Break { ms },
        Req::Eow => ChannelRequest::Eow,
        Req::Keepalive => ChannelRequest::Keepalive,
        Req::X11 => ChannelRequest::X11Req,
        Req::Other { name, data } => ChannelRequest::Other { name, data },
    }
}

/// The payload of a structured message. `host_blob` stands in for
/// [`Field::HostKeyBlob`].
pub fn encode_msg(m: &Msg, host_blob: &[u8]) -> Vec<u8> {
    use tobira_proto::msg::num;
    let mut v = Vec::new();
    match m {
        Msg::Disconnect { reason, description } => {
            v.put_u8(num::DISCONNECT);
            v.put_u32(*reason);
            v.put_string(description.as_bytes());
            v.put_string(b"");
        }
        Msg::Ignore(d) => {
            v.put_u8(num::IGNORE);
            v.put_string(d);
        }
        Msg::Debug { display, message } => {
            v.put_u8(num::DEBUG);
            v.put_bool(*display);
            v.put_string(message.as_bytes());
            v.put_string(b"");
        }
        Msg::Unimplemented(n) => {
            v.put_u8(num::UNIMPLEMENTED);
            v.put_u32(*n);
        }
        Msg::ServiceRequest(n) => {
            v.put_u8(num::SERVICE_REQUEST);
            v.put_string(n.as_bytes());
        }
        Msg::ServiceAccept(n) => {
            v.put_u8(num::SERVICE_ACCEPT);
            v.put_string(n.as_bytes());
        }
        Msg::ExtInfo(exts) => {
            v.put_u8(num::EXT_INFO);
            v.put_u32(exts.len() as u32);
            for (k, val) in exts {
                v.put_string(k.as_bytes());
                v.put_string(val);
            }
        }
        Msg::KexInit { lists, follows } => {
            v.put_u8(num::KEXINIT);
            v.extend_from_slice(&[0x42; 16]);
            for i in 0..10 {
                let l = lists.get(i).map(|l| l.join(",")).unwrap_or_default();
                v.put_string(l.as_bytes());
            }
            v.put_bool(*follows);
            v.put_u32(0);
        }
        Msg::NewKeys => v.put_u8(num::NEWKEYS),
        Msg::Kex { num: n, fields } => {
            v.put_u8(30 + n % 20);
            for f in fields {
                match f {
                    Field::Str(b) => v.put_string(b),
                    Field::Mpint(b) => v.put_mpint(b),
                    Field::U32(x) => v.put_u32(*x),
                    Field::HostKeyBlob => v.put_string(host_blob),
                }
            }
        }
        Msg::UserauthRequest { user, service, method } => {
            v.put_u8(num::USERAUTH_REQUEST);
            v.put_string(user.as_bytes());
            v.put_string(service.as_bytes());
            match method {
                Method::None => v.put_string(b"none"),
                Method::Password { password, new_password } => {
                    v.put_string(b"password");
                    v.put_bool(new_password.is_some());
                    v.put_string(password.as_bytes());
                    if let Some(n) = new_password {
                        v.put_string(n.as_bytes());
                    }
                }
                Method::PublicKey {
                    algorithm,
                    key_blob,
                    host_key,
                    signature,
                } => {
                    let user = &fixture_keys().1;
                    let blob = if key_blob.is_empty() {
                        user.public_blob().to_vec()
                    } else {
                        key_blob.clone()
                    };
                    v.put_string(if host_key.is_some() {
                        b"publickey-hostbound-v00@openssh.com".as_slice()
                    } else {
                        b"publickey"
                    });
                    v.put_bool(signature.is_some());
                    v.put_string(algorithm.as_bytes());
                    v.put_string(&blob);
                    if let Some(h) = host_key {
                        v.put_string(if h.is_empty() { host_blob } else { h });
                    }
                    if let Some(sig) = signature {
                        v.put_string(sig);
                    }
                }
                Method::KeyboardInteractive { submethods } => {
                    v.put_string(b"keyboard-interactive");
                    v.put_string(b"");
                    v.put_string(submethods.as_bytes());
                }
                Method::Other(name, data) => {
                    v.put_string(name.as_bytes());
                    v.extend_from_slice(data);
                }
            }
        }
        Msg::UserauthFailure { methods, partial } => {
            v.put_u8(num::USERAUTH_FAILURE);
            v.put_string(methods.join(",").as_bytes());
            v.put_bool(*partial);
        }
        Msg::UserauthSuccess => v.put_u8(num::USERAUTH_SUCCESS),
        Msg::Banner { message, lang } => {
            v.put_u8(num::USERAUTH_BANNER);
            v.put_string(message.as_bytes());
            v.put_string(lang.as_bytes());
        }
        Msg::PkOk { algorithm, key_blob } => {
            v.put_u8(num::USERAUTH_PK_OK);
            v.put_string(algorithm.as_bytes());
            v.put_string(key_blob);
        }
        Msg::PasswdChangeReq { prompt, lang } => {
            v.put_u8(num::USERAUTH_PASSWD_CHANGEREQ);
            v.put_string(prompt.as_bytes());
            v.put_string(lang.as_bytes());
        }
        Msg::InfoRequest {
            name,
            instruction,
            prompts,
            claimed,
        } => {
            v.put_u8(num::USERAUTH_INFO_REQUEST);
            v.put_string(name.as_bytes());
            v.put_string(instruction.as_bytes());
            v.put_string(b"");
            v.put_u32(if *claimed == 0 { prompts.len() as u32 } else { *claimed });
            for (t, e) in prompts {
                v.put_string(t.as_bytes());
                v.put_bool(*e);
            }
        }
        Msg::InfoResponse { answers, claimed } => {
            v.put_u8(num::USERAUTH_INFO_RESPONSE);
            v.put_u32(if *claimed == 0 { answers.len() as u32 } else { *claimed });
            for a in answers {
                v.put_string(a.as_bytes());
            }
        }
        Msg::GlobalRequest { name, want_reply, data } => {
            v.put_u8(num::GLOBAL_REQUEST);
            v.put_string(name.as_bytes());
            v.put_bool(*want_reply);
            v.extend_from_slice(data);
        }
        Msg::RequestSuccess(d) => {
            v.put_u8(num::REQUEST_SUCCESS);
            v.extend_from_slice(d);
        }
        Msg::RequestFailure => v.put_u8(num::REQUEST_FAILURE),
        Msg::ChannelOpen {
            kind,
            sender,
            window,
            max_packet,
            extra,
        } => {
            v.put_u8(num::CHANNEL_OPEN);
            v.put_string(kind.as_bytes());
            v.put_u32(*sender);
            v.put_u32(*window);
            v.put_u32(*max_packet);
            v.extend_from_slice(extra);
        }
        Msg::OpenConfirm {
            recipient,
            sender,
            window,
            max_packet,
            extra,
        } => {
            v.put_u8(num::CHANNEL_OPEN_CONFIRMATION);
            v.put_u32(*recipient);
            v.put_u32(*sender);
            v.put_u32(*window);
            v.put_u32(*max_packet);
            v.extend_from_slice(extra);
        }
        Msg::OpenFailure {
            recipient,
            code,
            description,
        } => {
            v.put_u8(num::CHANNEL_OPEN_FAILURE);
            v.put_u32(*recipient);
            v.put_u32(*code);
            v.put_string(description.as_bytes());
            v.put_string(b"");
        }
        Msg::WindowAdjust { recipient, n } => {
            v.put_u8(num::CHANNEL_WINDOW_ADJUST);
            v.put_u32(*recipient);
            v.put_u32(*n);
        }
        Msg::Data { recipient, data } => {
            v.put_u8(num::CHANNEL_DATA);
            v.put_u32(*recipient);
            v.put_string(data);
        }
        Msg::ExtData { recipient, code, data } => {
            v.put_u8(num::CHANNEL_EXTENDED_DATA);
            v.put_u32(*recipient);
            v.put_u32(*code);
            v.put_string(data);
        }
        Msg::Eof(r) => {
            v.put_u8(num::CHANNEL_EOF);
            v.put_u32(*r);
        }
        Msg::Close(r) => {
            v.put_u8(num::CHANNEL_CLOSE);
            v.put_u32(*r);
        }
        Msg::ChannelRequest {
            recipient,
            name,
            want_reply,
            data,
        } => {
            v.put_u8(num::CHANNEL_REQUEST);
            v.put_u32(*recipient);
            v.put_string(name.as_bytes());
            v.put_bool(*want_reply);
            v.extend_from_slice(data);
        }
        Msg::ChannelSuccess(r) => {
            v.put_u8(num::CHANNEL_SUCCESS);
            v.put_u32(*r);
        }
        Msg::ChannelFailure(r) => {
            v.put_u8(num::CHANNEL_FAILURE);
            v.put_u32(*r);
        }
        Msg::Unknown { num: n, body } => {
            v.put_u8(*n);
            v.extend_from_slice(body);
        }
    }
    v
}

/// Runs a whole script against `target`.
pub fn run(script: &Script, target: Role) {
    let mut s = Session::new(script, target);
    s.advance(Start::from_u8(script.setup.start));
    for a in &script.actions {
        if s.tgt().is_closed() {
            break;
        }
        if debug() {
            eprintln!("action: {a:?}");
        }
        s.apply(a);
    }
    s.pump();
}
