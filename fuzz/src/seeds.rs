//! The seed corpora of every target, written into `fuzz/corpus/<target>/`
//! by the `seed_corpus` binary: `RUSTC_BOOTSTRAP=1 cargo fuzz run
//! seed_corpus` (from `fuzz/`; it is built with the fuzz targets, so no
//! second build with other flags is needed).
//!
//! The state-target seeds are typed scripts (encoded with the same codec
//! the targets decode with): real tobira sessions driven through the API
//! (password, public key and keyboard-interactive logins, sessions with
//! pty/shell/exec, forwarding channels, rekeys, compression), plus
//! hand-written hostile messages at each stage.

use std::path::{Path, PathBuf};

use crate::codec::Visit;
use crate::script::{flag, Action as A, Action, Api, Field, Method, Msg as M, Req, Script, Setup, KEXES};
use tobira_proto::algorithms::{CIPHER_SUPPORTED, MAC_SUPPORTED};
use tobira_proto::msg::connection::ChannelRequest;
use tobira_proto::msg::transport::{Disconnect, ExtInfo, KexInit};
use tobira_proto::msg::userauth::{encode_info_response, InfoRequest, MethodData, Prompt, UserauthRequest};
use tobira_proto::transport::compress::Compressor;
use tobira_proto::wire::Writer;
use zeroize::Zeroizing;

fn out_dir(target: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(out_dir(target).join(name), bytes).unwrap();
}

fn idx(table: &[&str], name: &str) -> u8 {
    table.iter().position(|n| *n == name).unwrap() as u8
}

fn setup(kex: &str, cipher: &str, mac: &str, comp: u8, start: u8, flags: u8) -> Setup {
    Setup {
        kex: idx(KEXES, kex),
        hostkey: 0,
        cipher: idx(CIPHER_SUPPORTED, cipher),
        mac: idx(MAC_SUPPORTED, mac),
        comp,
        start,
        flags,
    }
}

fn api(on_target: bool, call: Api) -> Action {
    Action::Api { on_target, call }
}

fn req_data(r: &ChannelRequest) -> Vec<u8> {
    let mut v = Vec::new();
    r.encode_fields(&mut v);
    v
}

fn chreq(recipient: u32, r: &ChannelRequest, want_reply: bool) -> Action {
    Action::Msg(M::ChannelRequest {
        recipient,
        name: r.name().to_string(),
        want_reply,
        data: req_data(r),
    })
}

fn pty() -> ChannelRequest {
    ChannelRequest::PtyReq {
        term: "xterm-256color".into(),
        cols: 80,
        rows: 24,
        width_px: 640,
        height_px: 480,
        modes: vec![53, 0, 0, 0, 1, 0],
    }
}

fn direct_tcpip() -> Vec<u8> {
    let mut v = Vec::new();
    v.put_string(b"localhost");
    v.put_u32(80);
    v.put_string(b"127.0.0.1");
    v.put_u32(40000);
    v
}

fn tcpip_forward() -> Vec<u8> {
    let mut v = Vec::new();
    v.put_string(b"0.0.0.0");
    v.put_u32(8080);
    v
}

/// Scripts where the fuzzed side is the server (the client attacks).
fn server_scripts() -> Vec<(String, Script)> {
    let mut v = Vec::new();
    let base = setup("curve25519-sha256", "chacha20-poly1305@openssh.com", "hmac-sha2-256", 0, 3, 0);
    v.push((
        "session-shell".into(),
        Script {
            setup: base.clone(),
            actions: vec![
                A::Msg(M::ChannelOpen {
                    kind: "session".into(),
                    sender: 0,
                    window: 2 << 20,
                    max_packet: 32768,
                    extra: vec![],
                }),
                A::Flush,
                chreq(0, &pty(), true),
                chreq(0, &ChannelRequest::Env { name: "LANG".into(), value: "C".into() }, false),
                chreq(0, &ChannelRequest::Shell, true),
                A::Pump,
                A::Msg(M::Data { recipient: 0, data: b"ls -l\n".to_vec() }),
                A::Msg(M::WindowAdjust { recipient: 0, n: 65536 }),
                chreq(0, &ChannelRequest::WindowChange { cols: 100, rows: 40, width_px: 0, height_px: 0 }, false),
                A::Pump,
                A::Msg(M::Eof(0)),
                A::Msg(M::Close(0)),
                A::Pump,
            ],
        },
    ));
    v.push((
        "exec-api".into(),
        Script {
            setup: base.clone(),
            actions: vec![
                api(false, Api::ChannelOpen { kind: 0, name: String::new(), data: vec![] }),
                A::Pump,
                api(false, Api::ChannelRequest { ch: 0, req: Req::Exec("echo hi".into()), want_reply: true }),
                A::Pump,
                api(false, Api::ChannelWrite { ch: 0, code: None, data: b"input".to_vec() }),
                api(false, Api::ChannelEof(0)),
                A::Pump,
            ],
        },
    ));
    v.push((
        "userauth-methods".into(),
        Script {
            setup: Setup { start: 2, flags: flag::KBD, ..base.clone() },
            actions: vec![
                A::Msg(M::UserauthRequest {
                    user: "u".into(),
                    service: "ssh-connection".into(),
                    method: Method::None,
                }),
                A::Flush,
                A::Msg(M::UserauthRequest {
                    user: "u".into(),
                    service: "ssh-connection".into(),
                    method: Method::Password { password: "wrong".into(), new_password: None },
                }),
                A::Pump,
                A::Msg(M::UserauthRequest {
                    user: "u".into(),
                    service: "ssh-connection".into(),
                    method: Method::PublicKey {
                        algorithm: "ecdsa-sha2-nistp384".into(),
                        key_blob: vec![],
                        host_key: None,
                        signature: Some(vec![0; 8]),
                    },
                }),
                A::Pump,
                A::Msg(M::UserauthRequest {
                    user: "u".into(),
                    service: "ssh-connection".into(),
                    method: Method::KeyboardInteractive { submethods: String::new() },
                }),
                A::Pump,
                A::Msg(M::InfoResponse { answers: vec!["p".into()], claimed: 0 }),
                A::Pump,
            ],
        },
    ));
    v.push((
        "pubkey-api".into(),
        Script {
            setup: Setup { start: 2, ..base.clone() },
            actions: vec![api(false, Api::AuthPubkey { sign: false }), A::Pump, api(false, Api::AuthPubkey { sign: true }), A::Pump],
        },
    ));
    v.push((
        "kbd-api".into(),
        Script {
            setup: Setup { start: 2, ..base.clone() },
            actions: vec![
                api(false, Api::AuthKbd),
                A::Pump,
                api(false, Api::AuthPassword { user: "u".into(), password: "expired".into(), new_password: None }),
                A::Pump,
            ],
        },
    ));
    v.push((
        "preauth-newkeys".into(),
        Script {
            setup: Setup { start: 1, ..base.clone() },
            actions: vec![
                A::Msg(M::Ignore(b"x".to_vec())),
                A::Msg(M::Debug { display: true, message: "hello".into() }),
                A::Pump,
                A::Msg(M::ServiceRequest("ssh-connection".into())),
                A::Pump,
            ],
        },
    ));
    v.push((
        "fresh-kex".into(),
        Script {
            setup: Setup { start: 0, ..base.clone() },
            actions: vec![
                A::Deliver { to_target: true, n: 10 },
                A::Pump,
                api(false, Api::AuthPassword { user: "u".into(), password: "p".into(), new_password: None }),
                A::Pump,
            ],
        },
    ));
    let kexinit = KexInit {
        kex: vec!["curve25519-sha256".into(), "kex-strict-c-v00@openssh.com".into()],
        host_key: vec!["ssh-ed25519".into()],
        cipher_c2s: vec!["chacha20-poly1305@openssh.com".into()],
        cipher_s2c: vec!["chacha20-poly1305@openssh.com".into()],
        mac_c2s: vec!["hmac-sha2-256".into()],
        mac_s2c: vec!["hmac-sha2-256".into()],
        comp_c2s: vec!["none".into()],
        comp_s2c: vec!["none".into()],
        ..Default::default()
    };
    v.push((
        "fresh-plain-kexinit".into(),
        Script {
            setup: Setup { start: 0, ..base.clone() },
            actions: vec![
                A::Deliver { to_target: true, n: 22 },
                A::Plain(kexinit.encode()),
                A::Plain(vec![30, 0, 0, 0, 32, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32]),
                A::Deliver { to_target: false, n: 4000 },
                A::Plain(vec![21]),
                A::Pump,
            ],
        },
    ));
    let gex_init = KexInit {
        kex: vec!["diffie-hellman-group-exchange-sha256".into()],
        ..kexinit.clone()
    };
    let mut gex_request = vec![34u8];
    for x in [1024u32, 2048, 8192] {
        gex_request.put_u32(x);
    }
    v.push((
        "fresh-gex-request".into(),
        Script {
            setup: Setup {
                start: 0,
                kex: idx(KEXES, "diffie-hellman-group-exchange-sha256"),
                ..base.clone()
            },
            actions: vec![A::Deliver { to_target: true, n: 22 }, A::Plain(gex_init.encode()), A::Plain(gex_request)],
        },
    ));
    v.push((
        "forwarding".into(),
        Script {
            setup: base.clone(),
            actions: vec![
                A::Msg(M::GlobalRequest {
                    name: "tcpip-forward".into(),
                    want_reply: true,
                    data: tcpip_forward(),
                }),
                A::Msg(M::ChannelOpen {
                    kind: "direct-tcpip".into(),
                    sender: 1,
                    window: 65536,
                    max_packet: 16384,
                    extra: direct_tcpip(),
                }),
                A::Flush,
                A::Msg(M::Data { recipient: 0, data: b"GET / HTTP/1.0\r\n\r\n".to_vec() }),
                A::Msg(M::GlobalRequest {
                    name: "keepalive@openssh.com".into(),
                    want_reply: true,
                    data: vec![],
                }),
                A::Pump,
            ],
        },
    ));
    v.push((
        "rekey-compressed".into(),
        Script {
            setup: setup("ecdh-sha2-nistp256", "aes256-gcm@openssh.com", "hmac-sha2-256", 1, 4, flag::MANUAL_WINDOW),
            actions: vec![
                api(false, Api::ChannelWrite { ch: 0, code: None, data: vec![b'a'; 200] }),
                A::Pump,
                api(false, Api::Rekey),
                api(false, Api::ChannelWrite { ch: 0, code: Some(1), data: b"during rekey".to_vec() }),
                A::Pump,
                api(true, Api::Rekey),
                A::Pump,
                api(false, Api::BigWrite { ch: 0, kib: 40 }),
                A::Pump,
            ],
        },
    ));
    // Each cipher (with an EtM and a classic MAC), a short session.
    for (i, cipher) in CIPHER_SUPPORTED.iter().enumerate() {
        let mac = MAC_SUPPORTED[i % MAC_SUPPORTED.len()];
        let kex = KEXES[i % KEXES.len()];
        let comp = (i % 3) as u8;
        v.push((
            format!("algs-{i:02}"),
            Script {
                setup: Setup { hostkey: (i % 7) as u8, ..setup(kex, cipher, mac, comp, 4, if i % 2 == 0 { flag::TRACE } else { 0 }) },
                actions: vec![
                    A::Msg(M::Data { recipient: 0, data: b"echo\n".to_vec() }),
                    A::Pump,
                    api(false, Api::Rekey),
                    A::Pump,
                ],
            },
        ));
    }
    v
}

/// Scripts where the fuzzed side is the client (the server attacks).
fn client_scripts() -> Vec<(String, Script)> {
    let mut v = Vec::new();
    let base = setup("curve25519-sha256", "aes128-ctr", "hmac-sha2-256-etm@openssh.com", 0, 3, 0);
    v.push((
        "server-opens".into(),
        Script {
            setup: base.clone(),
            actions: vec![
                A::Msg(M::ChannelOpen { kind: "forwarded-tcpip".into(), sender: 5, window: 65536, max_packet: 32768, extra: direct_tcpip() }),
                A::Flush,
                A::Msg(M::Data { recipient: 0, data: b"hello".to_vec() }),
                A::Msg(M::ExtData { recipient: 0, code: 1, data: b"err".to_vec() }),
                A::Msg(M::Eof(0)),
                A::Msg(M::Close(0)),
                A::Pump,
                A::Msg(M::GlobalRequest { name: "hostkeys-00@openssh.com".into(), want_reply: false, data: vec![] }),
                A::Pump,
            ],
        },
    ));
    let session_actions = |exit: bool| {
        let mut a = vec![
            api(true, Api::ChannelOpen { kind: 0, name: String::new(), data: vec![] }),
            A::Pump,
            api(true, Api::ChannelRequest { ch: 0, req: Req::Shell, want_reply: true }),
            A::Pump,
            A::Msg(M::Data { recipient: 0, data: b"Linux\n".to_vec() }),
            A::Msg(M::WindowAdjust { recipient: 0, n: 1 << 20 }),
        ];
        if exit {
            a.push(chreq(0, &ChannelRequest::ExitStatus { status: 1 }, false));
            a.push(chreq(
                0,
                &ChannelRequest::ExitSignal { name: "TERM".into(), core_dumped: false, message: "bye".into() },
                false,
            ));
        }
        a.push(A::Msg(M::ChannelSuccess(0)));
        a.push(A::Msg(M::Close(0)));
        a.push(A::Pump);
        a
    };
    v.push(("client-exec".into(), Script { setup: base.clone(), actions: session_actions(true) }));
    v.push((
        "client-auth".into(),
        Script {
            setup: Setup { start: 2, ..base.clone() },
            actions: vec![
                api(true, Api::AuthNone),
                A::Msg(M::Banner { message: "Welcome\n".into(), lang: String::new() }),
                A::Msg(M::UserauthFailure { methods: vec!["publickey".into(), "password".into()], partial: false }),
                A::Flush,
                api(true, Api::AuthKbd),
                A::Msg(M::InfoRequest {
                    name: "n".into(),
                    instruction: "i".into(),
                    prompts: vec![("Password: ".into(), false), ("OTP: ".into(), true)],
                    claimed: 0,
                }),
                A::Pump,
                api(true, Api::AuthPubkey { sign: false }),
                A::Msg(M::PkOk { algorithm: "ecdsa-sha2-nistp384".into(), key_blob: vec![1, 2, 3] }),
                A::Pump,
                A::Msg(M::ExtInfo(vec![("server-sig-algs".into(), b"ssh-ed25519,rsa-sha2-256".to_vec())])),
                A::Msg(M::UserauthSuccess),
                A::Pump,
            ],
        },
    ));
    v.push((
        "client-passwd-change".into(),
        Script {
            setup: Setup { start: 2, ..base.clone() },
            actions: vec![
                api(true, Api::AuthPassword { user: "u".into(), password: "old".into(), new_password: None }),
                A::Msg(M::PasswdChangeReq { prompt: "Change it".into(), lang: String::new() }),
                A::Pump,
            ],
        },
    ));
    v.push((
        "client-kex-reply".into(),
        Script {
            setup: Setup { start: 0, ..base.clone() },
            actions: vec![
                A::Deliver { to_target: true, n: 30 },
                A::Plain(vec![31]),
                A::Msg(M::Kex { num: 1, fields: vec![Field::HostKeyBlob, Field::Str(vec![9; 32]), Field::Str(vec![0; 83])] }),
                A::Pump,
            ],
        },
    ));
    v.push((
        "client-dh-group1".into(),
        Script {
            setup: setup("diffie-hellman-group1-sha1", "aes128-ctr", "hmac-sha1", 0, 3, 0),
            actions: vec![A::Pump, api(true, Api::Rekey), A::Pump],
        },
    ));
    v.push((
        "client-debug-disconnect".into(),
        Script {
            setup: base.clone(),
            actions: vec![
                A::Msg(M::Debug { display: true, message: "debug".into() }),
                A::Msg(M::Ignore(vec![0; 16])),
                A::Msg(M::Unimplemented(3)),
                A::Msg(M::Unknown { num: 200, body: vec![1, 2, 3] }),
                A::Pump,
                A::Msg(M::Disconnect { reason: 11, description: "bye".into() }),
                A::Pump,
            ],
        },
    ));
    v.push((
        "client-rekey-zlib".into(),
        Script {
            setup: setup("mlkem768x25519-sha256", "aes256-ctr", "umac-128-etm@openssh.com", 1, 4, flag::SMALL_REKEY),
            actions: vec![
                api(true, Api::ChannelWrite { ch: 0, code: None, data: vec![b'z'; 3000] }),
                A::Pump,
                api(false, Api::Rekey),
                A::Pump,
                A::Msg(M::KexInit { lists: vec![vec!["curve25519-sha256".into()]; 10], follows: true }),
                A::Pump,
            ],
        },
    ));
    for (i, cipher) in CIPHER_SUPPORTED.iter().enumerate() {
        let mac = MAC_SUPPORTED[(i * 3) % MAC_SUPPORTED.len()];
        let kex = KEXES[(i + 3) % KEXES.len()];
        v.push((
            format!("algs-{i:02}"),
            Script {
                setup: Setup {
                    hostkey: (i % 7) as u8,
                    ..setup(kex, cipher, mac, (i % 3) as u8, 4, if i % 2 == 1 { flag::TRACE } else { 0 })
                },
                actions: session_actions(i % 2 == 0),
            },
        ));
    }
    v
}

/// `[kind][len u16][bytes]` records.
fn records(items: &[(u8, &[u8])]) -> Vec<u8> {
    let mut v = Vec::new();
    for (k, b) in items {
        v.push(*k);
        v.extend_from_slice(&(b.len() as u16).to_be_bytes());
        v.extend_from_slice(b);
    }
    v
}

fn packet_open() {
    let kexinit = KexInit { kex: vec!["curve25519-sha256".into()], ..Default::default() }.encode();
    for (ci, cipher) in CIPHER_SUPPORTED.iter().enumerate() {
        for (mi, mac) in MAC_SUPPORTED.iter().enumerate() {
            if mi % 4 != ci % 4 && !(mac.contains("umac") && ci % 3 == 0) {
                continue;
            }
            let body = records(&[(0, &kexinit), (0, &[2, 0, 0, 0, 1, 0x41]), (0, &[94; 300])]);
            let flags = 2 | (((ci + mi) as u8 % 4) << 2) | if mi % 5 == 0 { 0x10 } else { 0 };
            let mut input = vec![ci as u8, mi as u8, flags];
            input.extend_from_slice(&body);
            write("packet_open", &format!("sealed-{}-{}", cipher, mac), &input);
        }
        // A hand-framed packet with a bad padding field.
        let mut pkt = vec![0, 0, 0, 28, 200];
        pkt.extend_from_slice(&[5; 27]);
        let mut input = vec![ci as u8, 0, 2];
        input.extend_from_slice(&records(&[(1, &pkt)]));
        write("packet_open", &format!("badpad-{cipher}"), &input);
    }
    write("packet_open", "raw", &[0, 0, 0, 0, 0, 0, 12, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
}

fn messages() {
    let m = |sel: u8, name: &str, payload: &[u8]| {
        let mut v = vec![sel];
        v.extend_from_slice(payload);
        write("messages", name, &v);
    };
    let ki = KexInit {
        kex: vec!["curve25519-sha256".into(), "ext-info-c".into(), "kex-strict-c-v00@openssh.com".into()],
        host_key: vec!["ssh-ed25519".into(), "rsa-sha2-512".into()],
        cipher_c2s: vec!["chacha20-poly1305@openssh.com".into(), "aes128-ctr".into()],
        cipher_s2c: vec!["aes256-gcm@openssh.com".into()],
        mac_c2s: vec!["hmac-sha2-256-etm@openssh.com".into()],
        mac_s2c: vec!["umac-64@openssh.com".into()],
        comp_c2s: vec!["none".into(), "zlib@openssh.com".into()],
        comp_s2c: vec!["zlib".into()],
        first_kex_packet_follows: true,
        ..Default::default()
    };
    m(0, "kexinit", &ki.encode());
    m(1, "disconnect", &Disconnect { reason: 2, description: "Protocol error".into() }.encode());
    m(2, "ext-info", &ExtInfo { extensions: vec![("server-sig-algs".into(), b"ssh-ed25519,rsa-sha2-256".to_vec())] }.encode());
    for (i, method) in [
        MethodData::None,
        MethodData::Password { password: Zeroizing::new("pw".into()), new_password: Some(Zeroizing::new("new".into())) },
        MethodData::PublicKey {
            algorithm: "ssh-ed25519".into(),
            key_blob: vec![0, 0, 0, 11, b's', b's', b'h', b'-', b'e', b'd', b'2', b'5', b'5', b'1', b'9', 0, 0, 0, 32, 1, 2, 3],
            host_key: Some(vec![1, 2]),
            signature: Some(vec![3, 4]),
        },
        MethodData::KeyboardInteractive { submethods: "pam".into() },
    ]
    .into_iter()
    .enumerate()
    {
        let r = UserauthRequest { user: "u".into(), service: "ssh-connection".into(), method };
        m(3, &format!("userauth-{i}"), &r.encode());
    }
    m(
        4,
        "info-request",
        &InfoRequest {
            name: "n".into(),
            instruction: "i".into(),
            prompts: vec![Prompt { text: "Password: ".into(), echo: false }],
        }
        .encode(),
    );
    m(5, "info-response", &encode_info_response(&[Zeroizing::new("p".into()), Zeroizing::new("q".into())]));
    let mut dt = Vec::new();
    dt.put_string(b"direct-tcpip");
    dt.extend_from_slice(&direct_tcpip());
    m(6, "channel-kind", &dt);
    for (i, r) in [
        pty(),
        ChannelRequest::Env { name: "A".into(), value: "b".into() },
        ChannelRequest::Exec { command: "ls".into() },
        ChannelRequest::WindowChange { cols: 1, rows: 2, width_px: 3, height_px: 4 },
        ChannelRequest::ExitSignal { name: "KILL".into(), core_dumped: true, message: "m".into() },
        ChannelRequest::Break { ms: 10 },
    ]
    .iter()
    .enumerate()
    {
        let mut v = Vec::new();
        v.put_string(r.name().as_bytes());
        r.encode_fields(&mut v);
        m(7, &format!("channel-request-{i}"), &v);
    }
    m(8, "reader-ops", &[5, 0, 2, 4, 6, 7, 0, 0, 0, 3, b'a', b',', b'b', 0, 0, 0, 1, 0x7f]);
    let hosts = &crate::session::fixture_keys().0;
    for (i, k) in hosts.iter().enumerate() {
        let alg = k.algorithms()[0];
        let sig = k.sign(alg, b"data").unwrap();
        let algs = [
            "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-256",
            "rsa-sha2-512", "ssh-rsa", "ssh-dss", "ssh-ed448",
        ];
        let mut v = vec![algs.iter().position(|a| *a == alg).unwrap_or(0) as u8];
        v.put_string(k.public_blob());
        v.put_string(&sig);
        v.extend_from_slice(b"data");
        m(9, &format!("verify-{i}"), &v);
        let mut d = vec![1u8];
        d.extend_from_slice(k.public_blob());
        m(10, &format!("describe-key-{i}"), &d);
    }
    m(10, "describe-kexinit", &[0].iter().chain(ki.encode().iter()).copied().collect::<Vec<_>>());
    m(11, "moduli", b"20240101000000 2 6 100 2047 2 FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1\n# comment\n");
    let mut id = vec![1u8, 5];
    id.extend_from_slice(b"banner line\r\nSSH-2.0-OpenSSH_9.2p1 Debian\r\n");
    m(12, "ident", &id);
    let ki_bytes = ki.encode();
    let mut two = vec![(ki_bytes.len() / 4) as u8];
    two.extend_from_slice(&ki_bytes[..(ki_bytes.len() / 4) * 4]);
    two.extend_from_slice(&ki_bytes[(ki_bytes.len() / 4) * 4..]);
    m(13, "negotiate", &two);
    m(14, "x25519", &[0].iter().chain([9u8; 32].iter()).copied().collect::<Vec<_>>());
    m(15, "dh14", &[0x02; 256]);
    let mut g = Vec::new();
    g.put_mpint(&[0xff; 256]);
    g.put_mpint(&[2]);
    m(16, "gex-group", &g);
    m(17, "hybrid", &[0, 1]);
    m(18, "rsa-kex", &[2, 0]);
}

fn inflate() {
    let mut c = Compressor::new();
    let mut a = Vec::new();
    c.compress(b"SSH payload one", &mut a).unwrap();
    let mut v = vec![0u8];
    v.extend_from_slice(&records(&[(0, b"SSH payload one"), (0, b"SSH payload two, two two"), (2, &[0, 0])]));
    write("inflate", "payloads", &v);
    let mut w = vec![0u8];
    w.extend_from_slice(&records(&[(1, &a), (3, &[0, 1]), (0, b"after")]));
    write("inflate", "raw-and-flip", &w);
    let mut b = vec![1u8];
    b.extend_from_slice(&records(&[(2, &[b'A', 0]), (0, b"x")]));
    write("inflate", "bomb-small-limit", &b);
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.put_string(body);
    v
}

fn agent() {
    let host = crate::session::fixture_keys().0[0].public_blob().to_vec();
    let mut ids = vec![12u8];
    ids.put_u32(2);
    ids.put_string(&host);
    ids.put_string(b"host key");
    ids.put_string(&host);
    ids.put_string(b"again");
    let mut sig = Vec::new();
    sig.put_string(b"ssh-ed25519");
    sig.put_string(&[1; 64]);
    let mut resp = vec![14u8];
    resp.put_string(&sig);
    let mut s = vec![0b0001_0100u8 | 0b0100_0000]; // identities, sign, sign, sign ed25519
    s.extend(frame(&ids));
    s.extend(frame(&resp));
    s.extend(frame(&[5]));
    write("agent", "identities-sign", &s);
    let mut f = vec![0u8];
    f.extend(frame(&[30]));
    write("agent", "failure", &f);
}

fn keys_and_configs() {
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tobira-proto/tests/keys");
    let k = |sel: u8, name: &str, text: &[u8]| {
        let mut v = vec![sel];
        v.extend_from_slice(text);
        write("keys_and_configs", name, &v);
    };
    for f in ["host_ed25519", "host_ecdsa", "host_ed448", "host_dsa", "user_ecdsa521", "user_ed448_encrypted"] {
        k(0, f, &std::fs::read(keys.join(f)).unwrap());
    }
    for f in ["host_rsa.pub", "host_ed448.pub", "user_ecdsa384.pub"] {
        k(1, f, &std::fs::read(keys.join(f)).unwrap());
    }
    let ed = std::fs::read_to_string(keys.join("host_ed25519.pub")).unwrap();
    let ec = std::fs::read_to_string(keys.join("host_ecdsa.pub")).unwrap();
    let kh = format!(
        "# known hosts\nexample.com,192.0.2.1 {ed}[example.com]:2222 {ec}@revoked * {ec}@cert-authority *.example.com {ed}|1|c2FsdHNhbHRzYWx0c2FsdHNhbHQ=|aGFzaGhhc2hoYXNoaGFzaGhhc2g= {ed}"
    );
    k(2, "known_hosts", kh.as_bytes());
    let ak = format!(
        "restrict,pty,command=\"echo \\\"hi\\\"\",from=\"10.0.0.0/8,!10.1.*\",environment=\"A=b\",permitopen=\"localhost:80\",expiry-time=\"20300101\" {ed}no-port-forwarding,principals=\"a,b\",cert-authority {ec}tunnel=\"1\",permitlisten=\"8080\" {ed}"
    );
    k(3, "authorized_keys", ak.as_bytes());
    k(
        4,
        "sshd_config",
        b"Port 2222\nListenAddress 127.0.0.1:2200\nPermitRootLogin prohibit-password\nPasswordAuthentication yes\nAuthenticationMethods publickey,password\nCiphers +aes128-cbc\nKexAlgorithms -diffie-hellman-group14-sha256\nMACs ^hmac-sha1\nRekeyLimit 1G 1h\nMaxStartups 10:30:60\nSubsystem sftp internal-sftp\nAllowUsers u@10.0.0.0/8 root\nMatch User u Address 192.0.2.0/24\n  AllowTcpForwarding local\n  ForceCommand /bin/true\nMatch Group wheel,!guests\n  PermitTTY no\n",
    );
    k(
        5,
        "ssh_config",
        b"Host example.com h\n  HostName %h.internal\n  User alice\n  Port 2022\n  IdentityFile ~/.ssh/id_%r\n  LocalForward 8080 localhost:80\n  RemoteForward [::1]:9000 /tmp/sock\n  DynamicForward 1080\n  ProxyJump bastion\n  StrictHostKeyChecking accept-new\n  ServerAliveInterval 30s\nMatch host 10.* user local final\n  Compression yes\nHost *\n  ControlPath ~/.ssh/cm-%C\n  SetEnv A=\"b c\"\n",
    );
    k(6, "helpers", b"1h30m 10.0.0.0/8,!10.1.2.3,2001:db8::/32\n");
    k(6, "forward", b"[::1]:8080:localhost:80");
}

/// Writes every corpus.
pub fn write_all() {
    for (name, s) in server_scripts() {
        let bytes = s.encode();
        assert_eq!(Script::decode(&bytes), s, "codec round trip of {name}");
        write("server_state", &name, &bytes);
    }
    for (name, s) in client_scripts() {
        let bytes = s.encode();
        assert_eq!(Script::decode(&bytes), s, "codec round trip of {name}");
        write("client_state", &name, &bytes);
    }
    packet_open();
    messages();
    inflate();
    agent();
    keys_and_configs();
    println!("corpora written under {}", out_dir("").display());
}
