//! The structured input of `server_state` and `client_state`: a setup
//! (algorithms, where the session starts, policies) and a list of actions
//! (messages the attacking peer sends, sealed with the right keys; API
//! calls on either side; partial deliveries; raw bytes).

use crate::codec::{Codec, Visit};

/// Key exchange methods the state targets choose from. No RSA key
/// exchange (it generates an RSA key per connection). The methods from
/// [`SLOW_KEXES_FROM`] on (sntrup761, 2048-bit and larger finite-field DH)
/// cost 0.2 to 4 s per handshake in a fuzz build, so
/// they are only used with [`Start::Fresh`], where the script controls
/// whether the handshake runs at all (see [`Setup::kex_name`]).
pub const KEXES: &[&str] = &[
    "curve25519-sha256",
    "ecdh-sha2-nistp256",
    "mlkem768x25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "curve448-sha512",
    "mlkem768nistp256-sha256",
    "mlkem1024nistp384-sha384",
    "diffie-hellman-group1-sha1",
    "sntrup761x25519-sha512",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group-exchange-sha1",
];

/// Index in [`KEXES`] of the first slow method.
pub const SLOW_KEXES_FROM: usize = 10;

/// Host key algorithms (the fixture keys cover all of them). `ssh-rsa`
/// (SHA-1, signed by the pure-Rust `rsa` crate: 0.1 s per signature in a
/// fuzz build) is used only when the session starts fresh, like the slow
/// key exchanges.
pub const HOSTKEYS: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "rsa-sha2-256",
    "rsa-sha2-512",
    "ssh-ed448",
    "ssh-dss",
    "ssh-rsa",
];

/// Compression methods.
pub const COMPRESSIONS: &[&str] = &["none", "zlib@openssh.com", "zlib"];

/// Where the scripted session starts before the actions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Nothing exchanged yet: identification strings and KEXINITs pending.
    Fresh = 0,
    /// Right after the first NEWKEYS both ways (pre-auth).
    NewKeys = 1,
    /// ssh-userauth accepted, not authenticated.
    Userauth = 2,
    /// Authenticated with a password.
    Authenticated = 3,
    /// Authenticated, with a session channel open (pty + shell).
    Session = 4,
}

impl Start {
    /// From the setup byte.
    pub fn from_u8(b: u8) -> Start {
        match b % 5 {
            0 => Start::Fresh,
            1 => Start::NewKeys,
            2 => Start::Userauth,
            3 => Start::Authenticated,
            _ => Start::Session,
        }
    }
}

/// Policy flags of [`Setup::flags`].
pub mod flag {
    /// Config::trace on both sides (exercises the packet describer).
    pub const TRACE: u8 = 1;
    /// auto_window_adjust off: the harness calls channel_consumed.
    pub const MANUAL_WINDOW: u8 = 2;
    /// A 4 KiB rekey limit (automatic re-exchanges).
    pub const SMALL_REKEY: u8 = 4;
    /// Refuse channel opens.
    pub const REFUSE_CHANNELS: u8 = 8;
    /// Answer requests with failure.
    pub const FAIL_REQUESTS: u8 = 16;
    /// The client rejects the host key.
    pub const REJECT_HOSTKEY: u8 = 32;
    /// The attacker offers the full default algorithm lists (the target
    /// only the chosen ones).
    pub const FULL_LISTS: u8 = 64;
    /// The server sends a banner and accepts via keyboard-interactive.
    pub const KBD: u8 = 128;
}

/// Algorithms and policies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// Index into [`KEXES`].
    pub kex: u8,
    /// Index into [`HOSTKEYS`].
    pub hostkey: u8,
    /// Index into `tobira_proto::algorithms::CIPHER_SUPPORTED`.
    pub cipher: u8,
    /// Index into `tobira_proto::algorithms::MAC_SUPPORTED`.
    pub mac: u8,
    /// Index into [`COMPRESSIONS`].
    pub comp: u8,
    /// [`Start`] as a byte.
    pub start: u8,
    /// [`flag`] bits.
    pub flags: u8,
}

impl Setup {
    /// The server hands its slow key-exchange step out
    /// (`Config::offload_slow_kex`): the low bit of `start / 5`, which
    /// [`Start::from_u8`] leaves unused.
    pub fn offload_kex(&self) -> bool {
        (self.start / 5) & 1 == 1
    }

    /// The key exchange method: `KEXES[kex % len]`, except that the slow
    /// ones become `curve25519-sha256` unless the session starts fresh.
    pub fn kex_name(&self) -> &'static str {
        let i = self.kex as usize % KEXES.len();
        if i >= SLOW_KEXES_FROM && Start::from_u8(self.start) != Start::Fresh {
            KEXES[0]
        } else {
            KEXES[i]
        }
    }

    /// The host key algorithm: `HOSTKEYS[hostkey % len]`, except that
    /// `ssh-rsa` becomes `ssh-ed25519` unless the session starts fresh.
    pub fn hostkey_name(&self) -> &'static str {
        let h = HOSTKEYS[self.hostkey as usize % HOSTKEYS.len()];
        if h == "ssh-rsa" && Start::from_u8(self.start) != Start::Fresh {
            HOSTKEYS[0]
        } else {
            h
        }
    }
}

impl Visit for Setup {
    fn visit<C: Codec>(&mut self, c: &mut C) {
        c.u8(&mut self.kex);
        c.u8(&mut self.hostkey);
        c.u8(&mut self.cipher);
        c.u8(&mut self.mac);
        c.u8(&mut self.comp);
        c.u8(&mut self.start);
        c.u8(&mut self.flags);
    }
}

/// One field of a key exchange message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `string`.
    Str(Vec<u8>),
    /// `mpint` (from a magnitude).
    Mpint(Vec<u8>),
    /// `uint32`.
    U32(u32),
    /// The server's real host key blob as a `string`.
    HostKeyBlob,
}

impl Default for Field {
    fn default() -> Self {
        Field::U32(0)
    }
}

impl Visit for Field {
    fn visit<C: Codec>(&mut self, c: &mut C) {
        let mut tag = match self {
            Field::Str(_) => 0u8,
            Field::Mpint(_) => 1,
            Field::U32(_) => 2,
            Field::HostKeyBlob => 3,
        };
        c.u8(&mut tag);
        if c.reading() {
            *self = match tag % 4 {
                0 => Field::Str(Vec::new()),
                1 => Field::Mpint(Vec::new()),
                2 => Field::U32(0),
                _ => Field::HostKeyBlob,
            };
        }
        match self {
            Field::Str(b) | Field::Mpint(b) => c.bytes(b),
            Field::U32(v) => c.u32(v),
            Field::HostKeyBlob => {}
        }
    }
}

fn visit_vec<C: Codec, T: Visit + Clone>(c: &mut C, v: &mut Vec<T>) {
    let mut n = v.len() as u32;
    c.small(&mut n);
    if c.reading() {
        v.clear();
        for _ in 0..n.min(64) {
            if c.exhausted() {
                break;
            }
            let mut t = T::default();
            t.visit(c);
            v.push(t);
        }
    } else {
        for t in v.iter_mut() {
            t.visit(c);
        }
    }
}

/// Names that appear in KEXINIT lists.
pub const ALG_NAMES: &[&str] = &[
    "curve25519-sha256",
    "ecdh-sha2-nistp256",
    "mlkem768x25519-sha256",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group-exchange-sha256",
    "rsa2048-sha256",
    "rsa1024-sha1",
    "curve448-sha512",
    "sntrup761x25519-sha512",
    "ext-info-c",
    "ext-info-s",
    "kex-strict-c-v00@openssh.com",
    "kex-strict-s-v00@openssh.com",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "rsa-sha2-256",
    "rsa-sha2-512",
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed448",
    "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
    "aes128-cbc",
    "3des-cbc",
    "hmac-sha2-256",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha1",
    "umac-64@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-md5-96",
    "none",
    "zlib@openssh.com",
    "zlib",
];

/// Service names.
pub const SERVICES: &[&str] = &["ssh-userauth", "ssh-connection"];
/// Auth method names.
pub const METHODS: &[&str] = &[
    "password",
    "publickey",
    "keyboard-interactive",
    "none",
    "hostbased",
    "publickey-hostbound-v00@openssh.com",
];
/// Global request names.
pub const GLOBAL_REQUESTS: &[&str] = &[
    "tcpip-forward",
    "cancel-tcpip-forward",
    "keepalive@openssh.com",
    "no-more-sessions@openssh.com",
    "hostkeys-00@openssh.com",
    "hostkeys-prove-00@openssh.com",
    "streamlocal-forward@openssh.com",
];
/// Channel types.
pub const CHANNEL_TYPES: &[&str] = &[
    "session",
    "direct-tcpip",
    "forwarded-tcpip",
    "x11",
    "auth-agent@openssh.com",
    "direct-streamlocal@openssh.com",
    "forwarded-streamlocal@openssh.com",
    "tun@openssh.com",
];
/// Channel request names.
pub const CHANNEL_REQUESTS: &[&str] = &[
    "pty-req",
    "x11-req",
    "env",
    "shell",
    "exec",
    "subsystem",
    "window-change",
    "xon-xoff",
    "signal",
    "exit-status",
    "exit-signal",
    "break",
    "eow@openssh.com",
    "keepalive@openssh.com",
    "auth-agent-req@openssh.com",
];
/// Ext-info extension names.
pub const EXTENSIONS: &[&str] = &[
    "server-sig-algs",
    "publickey-hostbound@openssh.com",
    "no-flow-control",
    "delay-compression",
    "elevation",
    "ping@openssh.com",
];

/// A user auth method with its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `none`.
    None,
    /// `password`.
    Password {
        /// Password.
        password: String,
        /// New password (change request).
        new_password: Option<String>,
    },
    /// `publickey` / host-bound.
    PublicKey {
        /// Algorithm.
        algorithm: String,
        /// Key blob; empty = the fixture user key's blob.
        key_blob: Vec<u8>,
        /// Host key blob for the host-bound form.
        host_key: Option<Vec<u8>>,
        /// Signature; `Some(empty)` = a real signature by the user key.
        signature: Option<Vec<u8>>,
    },
    /// `keyboard-interactive`.
    KeyboardInteractive {
        /// Submethods.
        submethods: String,
    },
    /// Another method name and raw method data.
    Other(String, Vec<u8>),
}

impl Default for Method {
    fn default() -> Self {
        Method::None
    }
}

fn visit_opt_bytes<C: Codec>(c: &mut C, v: &mut Option<Vec<u8>>) {
    let mut some = v.is_some();
    c.bool(&mut some);
    if c.reading() {
        *v = some.then(Vec::new);
    }
    if let Some(b) = v {
        c.bytes(b);
    }
}

fn visit_opt_string<C: Codec>(c: &mut C, v: &mut Option<String>) {
    let mut some = v.is_some();
    c.bool(&mut some);
    if c.reading() {
        *v = some.then(String::new);
    }
    if let Some(b) = v {
        c.string(b);
    }
}

impl Visit for Method {
    fn visit<C: Codec>(&mut self, c: &mut C) {
        let mut tag = match self {
            Method::None => 0u8,
            Method::Password { .. } => 1,
            Method::PublicKey { .. } => 2,
            Method::KeyboardInteractive { .. } => 3,
            Method::Other(..) => 4,
        };
        c.u8(&mut tag);
        if c.reading() {
            *self = match tag % 5 {
                0 => Method::None,
                1 => Method::Password {
                    password: String::new(),
                    new_password: None,
                },
                2 => Method::PublicKey {
                    algorithm: String::new(),
                    key_blob: Vec::new(),
                    host_key: None,
                    signature: None,
                },
                3 => Method::KeyboardInteractive {
                    submethods: String::new(),
                },
                _ => Method::Other(String::new(), Vec::new()),
            };
        }
        match self {
            Method::None => {}
            Method::Password { password, new_password } => {
                c.string(password);
                visit_opt_string(c, new_password);
            }
            Method::PublicKey {
                algorithm,
                key_blob,
                host_key,
                signature,
            } => {
                c.name(algorithm, crate::script::HOSTKEYS);
                c.bytes(key_blob);
                visit_opt_bytes(c, host_key);
                visit_opt_bytes(c, signature);
            }
            Method::KeyboardInteractive { submethods } => c.string(submethods),
            Method::Other(n, d) => {
                c.name(n, METHODS);
                c.bytes(d);
            }
        }
    }
}

/// A message the attacking peer sends (encoded into a payload, then sealed
/// by the attacker's connection with the current keys).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Msg {
    Disconnect { reason: u32, description: String },
    Ignore(Vec<u8>),
    Debug { display: bool, message: String },
    Unimplemented(u32),
    ServiceRequest(String),
    ServiceAccept(String),
    ExtInfo(Vec<(String, Vec<u8>)>),
    KexInit { lists: Vec<Vec<String>>, follows: bool },
    NewKeys,
    /// Messages 30..=49: `30 + num % 20`, then the fields.
    Kex { num: u8, fields: Vec<Field> },
    UserauthRequest { user: String, service: String, method: Method },
    UserauthFailure { methods: Vec<String>, partial: bool },
    UserauthSuccess,
    Banner { message: String, lang: String },
    PkOk { algorithm: String, key_blob: Vec<u8> },
    PasswdChangeReq { prompt: String, lang: String },
    InfoRequest { name: String, instruction: String, prompts: Vec<(String, bool)>, claimed: u32 },
    InfoResponse { answers: Vec<String>, claimed: u32 },
    GlobalRequest { name: String, want_reply: bool, data: Vec<u8> },
    RequestSuccess(Vec<u8>),
    RequestFailure,
    ChannelOpen { kind: String, sender: u32, window: u32, max_packet: u32, extra: Vec<u8> },
    OpenConfirm { recipient: u32, sender: u32, window: u32, max_packet: u32, extra: Vec<u8> },
    OpenFailure { recipient: u32, code: u32, description: String },
    WindowAdjust { recipient: u32, n: u32 },
    Data { recipient: u32, data: Vec<u8> },
    ExtData { recipient: u32, code: u32, data: Vec<u8> },
    Eof(u32),
    Close(u32),
    ChannelRequest { recipient: u32, name: String, want_reply: bool, data: Vec<u8> },
    ChannelSuccess(u32),
    ChannelFailure(u32),
    Unknown { num: u8, body: Vec<u8> },
}

impl Default for Msg {
    fn default() -> Self {
        Msg::NewKeys
    }
}

const MSG_COUNT: u8 = 33;

impl Msg {
    fn tag(&self) -> u8 {
        match self {
            Msg::Disconnect { .. } => 0,
            Msg::Ignore(_) => 1,
            Msg::Debug { .. } => 2,
            Msg::Unimplemented(_) => 3,
            Msg::ServiceRequest(_) => 4,
            Msg::ServiceAccept(_) => 5,
            Msg::ExtInfo(_) => 6,
            Msg::KexInit { .. } => 7,
            Msg::NewKeys => 8,
            Msg::Kex { .. } => 9,
            Msg::UserauthRequest { .. } => 10,
            Msg::UserauthFailure { .. } => 11,
            Msg::UserauthSuccess => 12,
            Msg::Banner { .. } => 13,
            Msg::PkOk { .. } => 14,
            Msg::PasswdChangeReq { .. } => 15,
            Msg::InfoRequest { .. } => 16,
            Msg::InfoResponse { .. } => 17,
            Msg::GlobalRequest { .. } => 18,
            Msg::RequestSuccess(_) => 19,
            Msg::RequestFailure => 20,
            Msg::ChannelOpen { .. } => 21,
            Msg::OpenConfirm { .. } => 22,
            Msg::OpenFailure { .. } => 23,
            Msg::WindowAdjust { .. } => 24,
            Msg::Data { .. } => 25,
            Msg::ExtData { .. } => 26,
            Msg::Eof(_) => 27,
            Msg::Close(_) => 28,
            Msg::ChannelRequest { .. } => 29,
            Msg::ChannelSuccess(_) => 30,
            Msg::ChannelFailure(_) => 31,
            Msg::Unknown { .. } => 32,
        }
    }

    fn empty(tag: u8) -> Msg {
        let s = String::new;
        match tag % MSG_COUNT {
            0 => Msg::Disconnect {
                reason: 0,
                description: s(),
            },
            1 => Msg::Ignore(Vec::new()),
            2 => Msg::Debug {
                display: false,
                message: s(),
            },
            3 => Msg::Unimplemented(0),
            4 => Msg::ServiceRequest(s()),
            5 => Msg::ServiceAccept(s()),
            6 => Msg::ExtInfo(Vec::new()),
            7 => Msg::KexInit {
                lists: Vec::new(),
                follows: false,
            },
            8 => Msg::NewKeys,
            9 => Msg::Kex {
                num: 0,
                fields: Vec::new(),
            },
            10 => Msg::UserauthRequest {
                user: s(),
                service: s(),
                method: Method::None,
            },
            11 => Msg::UserauthFailure {
                methods: Vec::new(),
                partial: false,
            },
            12 => Msg::UserauthSuccess,
            13 => Msg::Banner {
                message: s(),
                lang: s(),
            },
            14 => Msg::PkOk {
                algorithm: s(),
                key_blob: Vec::new(),
            },
            15 => Msg::PasswdChangeReq {
                prompt: s(),
                lang: s(),
            },
            16 => Msg::InfoRequest {
                name: s(),
                instruction: s(),
                prompts: Vec::new(),
                claimed: 0,
            },
            17 => Msg::InfoResponse {
                answers: Vec::new(),
                claimed: 0,
            },
            18 => Msg::GlobalRequest {
                name: s(),
                want_reply: false,
                data: Vec::new(),
            },
            19 => Msg::RequestSuccess(Vec::new()),
            20 => Msg::RequestFailure,
            21 => Msg::ChannelOpen {
                kind: s(),
                sender: 0,
                window: 0,
                max_packet: 0,
                extra: Vec::new(),
            },
            22 => Msg::OpenConfirm {
                recipient: 0,
                sender: 0,
                window: 0,
                max_packet: 0,
                extra: Vec::new(),
            },
            23 => Msg::OpenFailure {
                recipient: 0,
                code: 0,
                description: s(),
            },
            24 => Msg::WindowAdjust { recipient: 0, n: 0 },
            25 => Msg::Data {
                recipient: 0,
                data: Vec::new(),
            },
            26 => Msg::ExtData {
                recipient: 0,
                code: 0,
                data: Vec::new(),
            },
            27 => Msg::Eof(0),
            28 => Msg::Close(0),
            29 => Msg::ChannelRequest {
                recipient: 0,
                name: s(),
                want_reply: false,
                data: Vec::new(),
            },
            30 => Msg::ChannelSuccess(0),
            31 => Msg::ChannelFailure(0),
            _ => Msg::Unknown {
                num: 0,
                body: Vec::new(),
            },
        }
    }
}

impl Visit for Msg {
    fn visit<C: Codec>(&mut self, c: &mut C) {
        let mut tag = self.tag();
        c.u8(&mut tag);
        if c.reading() {
            *self = Msg::empty(tag);
        }
        match self {
            Msg::Disconnect { reason, description } => {
                c.small(reason);
                c.string(description);
            }
            Msg::Ignore(b) | Msg::RequestSuccess(b) => c.bytes(b),
            Msg::Debug { display, message } => {
                c.bool(display);
                c.string(message);
            }
            Msg::Unimplemented(n) => c.u32(n),
            Msg::ServiceRequest(n) | Msg::ServiceAccept(n) => c.name(n, SERVICES),
            Msg::ExtInfo(exts) => {
                let mut n = exts.len() as u32;
                c.small(&mut n);
                if c.reading() {
                    exts.clear();
                    for _ in 0..n.min(64) {
                        if c.exhausted() {
                            break;
                        }
                        let (mut k, mut v) = (String::new(), Vec::new());
                        c.name(&mut k, EXTENSIONS);
                        c.bytes(&mut v);
                        exts.push((k, v));
                    }
                } else {
                    for (k, v) in exts.iter_mut() {
                        c.name(k, EXTENSIONS);
                        c.bytes(v);
                    }
                }
            }
            Msg::KexInit { lists, follows } => {
                if c.reading() {
                    *lists = vec![Vec::new(); 10];
                }
                lists.resize(10, Vec::new());
                for l in lists.iter_mut() {
                    c.names(l, ALG_NAMES);
                }
                c.bool(follows);
            }
            Msg::NewKeys | Msg::UserauthSuccess | Msg::RequestFailure => {}
            Msg::Kex { num, fields } => {
                c.u8(num);
                visit_vec(c, fields);
            }
            Msg::UserauthRequest { user, service, method } => {
                c.name(user, &["u", "root"]);
                c.name(service, SERVICES);
                method.visit(c);
            }
            Msg::UserauthFailure { methods, partial } => {
                c.names(methods, METHODS);
                c.bool(partial);
            }
            Msg::Banner { message, lang } | Msg::PasswdChangeReq { prompt: message, lang } => {
                c.string(message);
                c.string(lang);
            }
            Msg::PkOk { algorithm, key_blob } => {
                c.name(algorithm, HOSTKEYS);
                c.bytes(key_blob);
            }
            Msg::InfoRequest {
                name,
                instruction,
                prompts,
                claimed,
            } => {
                c.string(name);
                c.string(instruction);
                let mut n = prompts.len() as u32;
                c.small(&mut n);
                if c.reading() {
                    prompts.clear();
                    for _ in 0..n.min(80) {
                        if c.exhausted() {
                            break;
                        }
                        let (mut t, mut e) = (String::new(), false);
                        c.string(&mut t);
                        c.bool(&mut e);
                        prompts.push((t, e));
                    }
                } else {
                    for (t, e) in prompts.iter_mut() {
                        c.string(t);
                        c.bool(e);
                    }
                }
                c.small(claimed);
            }
            Msg::InfoResponse { answers, claimed } => {
                c.names(answers, &["p", ""]);
                c.small(claimed);
            }
            Msg::GlobalRequest { name, want_reply, data } => {
                c.name(name, GLOBAL_REQUESTS);
                c.bool(want_reply);
                c.bytes(data);
            }
            Msg::ChannelOpen {
                kind,
                sender,
                window,
                max_packet,
                extra,
            } => {
                c.name(kind, CHANNEL_TYPES);
                c.small(sender);
                c.u32(window);
                c.u32(max_packet);
                c.bytes(extra);
            }
            Msg::OpenConfirm {
                recipient,
                sender,
                window,
                max_packet,
                extra,
            } => {
                c.small(recipient);
                c.small(sender);
                c.u32(window);
                c.u32(max_packet);
                c.bytes(extra);
            }
            Msg::OpenFailure {
                recipient,
                code,
                description,
            } => {
                c.small(recipient);
                c.small(code);
                c.string(description);
            }
            Msg::WindowAdjust { recipient, n } => {
                c.small(recipient);
                c.u32(n);
            }
            Msg::Data { recipient, data } => {
                c.small(recipient);
                c.bytes(data);
            }
            Msg::ExtData { recipient, code, data } => {
                c.small(recipient);
                c.small(code);
                c.bytes(data);
            }
            Msg::Eof(r) | Msg::Close(r) | Msg::ChannelSuccess(r) | Msg::ChannelFailure(r) => c.small(r),
            Msg::ChannelRequest {
                recipient,
                name,
                want_reply,
                data,
            } => {
                c.small(recipient);
                c.name(name, CHANNEL_REQUESTS);
                c.bool(want_reply);
                c.bytes(data);
            }
            Msg::Unknown { num, body } => {
                c.u8(num);
                c.bytes(body);
            }
        }
    }
}

/// A channel request built with the core's own encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Req {
    PtyReq { term: String, cols: u32, rows: u32, modes: Vec<u8> },
    Env { name: String, value: String },
    Shell,
    Exec(String),
    Subsystem(String),
    WindowChange { cols: u32, rows: u32 },
    Signal(String),
    ExitStatus(u32),
    ExitSignal { name: String, core: bool, message: String },
    Break(u32),
    Eow,
    Keepalive,
    X11,
    Other { name: String, data: Vec<u8> },
}

impl Default for Req {
    fn default() -> Self {
        Req::Shell
    }
}

impl Visit for Req {
    fn visit<C: Codec>(&mut self, c: &mut C) {
        let mut tag = match self {
            Req::PtyReq { .. } => 0u8,
            Req::Env { .. } => 1,
            Req::Shell => 2,
            Req::Exec(_) => 3,
            Req::Subsystem(_) => 4,
            Req::WindowChange { .. } => 5,
            Req::Signal(_) => 6,
            Req::ExitStatus(_) => 7,
            Req::ExitSignal { .. } => 8,
            Req::Break(_) => 9,
            Req::Eow => 10,
            Req::Keepalive => 11,
            Req::X11 => 12,
            Req::Other { .. } => 13,
        };
        c.u8(&mut tag);
        if c.reading() {
            let s = String::new;
            *self = match tag % 14 {
                0 => Req::PtyReq {
                    term: s(),
                    cols: 0,
                    rows: 0,
                    modes: Vec::new(),
                },
                1 => Req::Env { name: s(), value: s() },
                2 => Req::Shell,
                3 => Req::Exec(s()),
                4 => Req::Subsystem(s()),
                5 => Req::WindowChange { cols: 0, rows: 0 },
                6 => Req::Signal(s()),
                7 => Req::ExitStatus(0),
                8 => Req::ExitSignal {
                    name: s(),
                    core: false,
                    message: s(),
                },
                9 => Req::Break(0),
                10 => Req::Eow,
                11 => Req::Keepalive,
                12 => Req::X11,
                _ => Req::Other {
                    name: s(),
                    data: Vec::new(),
                },
            };
        }
        match self {
            Req::PtyReq { term, cols, rows, modes } => {
                c.string(term);
                c.small(cols);
                c.small(rows);
                c.bytes(modes);
            }
            Req::Env { name, value } => {
                c.string(name);
                c.string(value);
            }
            Req::Exec(s) | Req::Subsystem(s) | Req::Signal(s) => c.string(s),
            Req::WindowChange { cols, rows } => {
                c.small(cols);
                c.small(rows);
            }
            Req::ExitStatus(n) | Req::Break(n) => c.small(n),
            Req::ExitSignal { name, core, message } => {
                c.string(name);
                c.bool(core);
                c.string(message);
            }
            Req::Other { name, data } => {
                c.name(name, CHANNEL_REQUESTS);
                c.bytes(data);
            }
            Req::Shell | Req::Eow | Req::Keepalive | Req::X11 => {}
        }
    }
}

/// A call of the connection's public API (on the target or the attacker).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Api {
    Rekey,
    /// 0 session, 1 direct-tcpip, 2 forwarded-tcpip, else other(name, data).
    ChannelOpen { kind: u8, name: String, data: Vec<u8> },
    ChannelWrite { ch: u32, code: Option<u32>, data: Vec<u8> },
    ChannelEof(u32),
    ChannelClose(u32),
    ChannelRequest { ch: u32, req: Req, want_reply: bool },
    GlobalRequest { name: String, want_reply: bool, data: Vec<u8> },
    Consumed { ch: u32, n: u32 },
    Disconnect { reason: u32, message: String },
    AuthPassword { user: String, password: String, new_password: Option<String> },
    AuthNone,
    AuthKbd,
    AuthPubkey { sign: bool },
    AuthBanner(String),
    AuthReject { partial: bool },
    AuthAccept,
    ChannelRequestReply { ch: u32, ok: bool },
    GlobalReply { ok: bool, data: Vec<u8> },
    ChannelAccept(u32),
    ChannelReject { ch: u32, code: u32 },
    /// A large write (n KiB of zeros) on a channel: window and packet
    /// splitting.
    BigWrite { ch: u32, kib: u8 },
}

impl Default for Api {
    fn default() -> Self {
        Api::Rekey
    }
}

impl Visit for Api {
    fn visit<C: Codec>(&mut self, c: &mut C) {
        let mut tag = match self {
            Api::Rekey => 0u8,
            Api::ChannelOpen { .. } => 1,
            Api::ChannelWrite { .. } => 2,
            Api::ChannelEof(_) => 3,
            Api::ChannelClose(_) => 4,
            Api::ChannelRequest { .. } => 5,
            Api::GlobalRequest { .. } => 6,
            Api::Consumed { .. } => 7,
            Api::Disconnect { .. } => 8,
            Api::AuthPassword { .. } => 9,
            Api::AuthNone => 10,
            Api::AuthKbd => 11,
            Api::AuthPubkey { .. } => 12,
            Api::AuthBanner(_) => 13,
            Api::AuthReject { .. } => 14,
            Api::AuthAccept => 15,
            Api::ChannelRequestReply { .. } => 16,
            Api::GlobalReply { .. } => 17,
            Api::ChannelAccept(_) => 18,
            Api::ChannelReject { .. } => 19,
            Api::BigWrite { .. } => 20,
        };
        c.u8(&mut tag);
        if c.reading() {
            let s = String::new;
            *self = match tag % 21 {
                0 => Api::Rekey,
                1 => Api::ChannelOpen {
                    kind: 0,
                    name: s(),
                    data: Vec::new(),
                },
                2 => Api::ChannelWrite {
                    ch: 0,
                    code: None,
                    data: Vec::new(),
                },
                3 => Api::ChannelEof(0),
                4 => Api::ChannelClose(0),
                5 => Api::ChannelRequest {
                    ch: 0,
                    req: Req::Shell,
                    want_reply: false,
                },
                6 => Api::GlobalRequest {
                    name: s(),
                    want_reply: false,
                    data: Vec::new(),
                },
                7 => Api::Consumed { ch: 0, n: 0 },
                8 => Api::Disconnect {
                    reason: 0,
                    message: s(),
                },
                9 => Api::AuthPassword {
                    user: s(),
                    password: s(),
                    new_password: None,
                },
                10 => Api::AuthNone,
                11 => Api::AuthKbd,
                12 => Api::AuthPubkey { sign: false },
                13 => Api::AuthBanner(s()),
                14 => Api::AuthReject { partial: false },
                15 => Api::AuthAccept,
                16 => Api::ChannelRequestReply { ch: 0, ok: false },
                17 => Api::GlobalReply {
                    ok: false,
                    data: Vec::new(),
                },
                18 => Api::ChannelAccept(0),
                19 => Api::ChannelReject { ch: 0, code: 0 },
                _ => Api::BigWrite { ch: 0, kib: 0 },
            };
        }
        match self {
            Api::Rekey | Api::AuthNone | Api::AuthKbd | Api::AuthAccept => {}
            Api::ChannelOpen { kind, name, data } => {
                c.u8(kind);
                if *kind > 2 {
                    c.name(name, CHANNEL_TYPES);
                    c.bytes(data);
                }
            }
            Api::ChannelWrite { ch, code, data } => {
                c.small(ch);
                let mut some = code.is_some();
                c.bool(&mut some);
                if c.reading() {
                    *code = some.then_some(0);
                }
                if let Some(v) = code {
                    c.small(v);
                }
                c.bytes(data);
            }
            Api::ChannelEof(ch) | Api::ChannelClose(ch) | Api::ChannelAccept(ch) => c.small(ch),
            Api::ChannelRequest { ch, req, want_reply } => {
                c.small(ch);
                req.visit(c);
                c.bool(want_reply);
            }
            Api::GlobalRequest { name, want_reply, data } => {
                c.name(name, GLOBAL_REQUESTS);
                c.bool(want_reply);
                c.bytes(data);
            }
            Api::Consumed { ch, n } => {
                c.small(ch);
                c.u32(n);
            }
            Api::Disconnect { reason, message } => {
                c.small(reason);
                c.string(message);
            }
            Api::AuthPassword {
                user,
                password,
                new_password,
            } => {
                c.name(user, &["u", "root"]);
                c.name(password, &["p", "expired", "wrong"]);
                visit_opt_string(c, new_password);
            }
            Api::AuthPubkey { sign } => c.bool(sign),
            Api::AuthBanner(s) => c.string(s),
            Api::AuthReject { partial } => c.bool(partial),
            Api::ChannelRequestReply { ch, ok } => {
                c.small(ch);
                c.bool(ok);
            }
            Api::GlobalReply { ok, data } => {
                c.bool(ok);
                c.bytes(data);
            }
            Api::ChannelReject { ch, code } => {
                c.small(ch);
                c.small(code);
            }
            Api::BigWrite { ch, kib } => {
                c.small(ch);
                c.u8(kib);
            }
        }
    }
}

/// One step of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Move bytes both ways until both sides are quiet.
    Pump,
    /// Deliver only the first `n` pending bytes of one side to the other
    /// (`to_target`: attacker → target), without pumping: partial packets.
    Deliver {
        /// Attacker → target (else target → attacker).
        to_target: bool,
        /// Bytes.
        n: u16,
    },
    /// The attacker sends this raw payload (first byte = message number),
    /// sealed with its current keys (`Connection::send_payload`).
    Payload(Vec<u8>),
    /// The attacker sends a structured message.
    Msg(Msg),
    /// An unencrypted packet with this payload, fed straight to the target
    /// (only meaningful before the first NEWKEYS).
    Plain(Vec<u8>),
    /// Bytes fed straight to the target.
    Raw(Vec<u8>),
    /// An API call on the target (`on_target`) or on the attacker.
    Api {
        /// On the target side.
        on_target: bool,
        /// The call.
        call: Api,
    },
    /// Switch to one-way delivery and pump: the target's output is dropped
    /// from now on. The attacker is a real (strict) tobira connection;
    /// replies to injected messages (a confirmation for a channel it never
    /// opened, ...) would make it fail and stop sending. One-way, it keeps
    /// injecting for the rest of the script.
    Flush,
}

impl Default for Action {
    fn default() -> Self {
        Action::Pump
    }
}

impl Visit for Action {
    fn visit<C: Codec>(&mut self, c: &mut C) {
        let mut tag = match self {
            Action::Pump => 0u8,
            Action::Deliver { .. } => 1,
            Action::Payload(_) => 2,
            Action::Msg(_) => 3,
            Action::Plain(_) => 4,
            Action::Raw(_) => 5,
            Action::Api { .. } => 6,
            Action::Flush => 12,
        };
        c.u8(&mut tag);
        if c.reading() {
            // Messages and API calls are the interesting actions: give them
            // more of the byte space.
            *self = match tag % 16 {
                0 => Action::Pump,
                1 => Action::Deliver {
                    to_target: false,
                    n: 0,
                },
                2 => Action::Payload(Vec::new()),
                3 | 7..=11 => Action::Msg(Msg::default()),
                4 => Action::Plain(Vec::new()),
                5 => Action::Raw(Vec::new()),
                12 => Action::Flush,
                _ => Action::Api {
                    on_target: false,
                    call: Api::default(),
                },
            };
        }
        match self {
            Action::Pump | Action::Flush => {}
            Action::Deliver { to_target, n } => {
                c.bool(to_target);
                c.u16(n);
            }
            Action::Payload(b) | Action::Plain(b) | Action::Raw(b) => c.bytes(b),
            Action::Msg(m) => m.visit(c),
            Action::Api { on_target, call } => {
                c.bool(on_target);
                call.visit(c);
            }
        }
    }
}

/// A whole input: the setup, then actions until the input ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// Algorithms and policies.
    pub setup: Setup,
    /// The actions, in order.
    pub actions: Vec<Action>,
}

/// Most actions run per input.
pub const MAX_ACTIONS: usize = 256;

impl Visit for Script {
    fn visit<C: Codec>(&mut self, c: &mut C) {
        self.setup.visit(c);
        if c.reading() {
            self.actions.clear();
            while !c.exhausted() && self.actions.len() < MAX_ACTIONS {
                let mut a = Action::default();
                a.visit(c);
                self.actions.push(a);
            }
        } else {
            for a in self.actions.iter_mut() {
                a.visit(c);
            }
        }
    }
}

impl<'a> arbitrary::Arbitrary<'a> for Script {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = u.len();
        let data = u.bytes(len)?;
        Ok(Script::decode(data))
    }

    fn arbitrary_take_rest(mut u: arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Self::arbitrary(&mut u)
    }
}
