//! Every message parser of tobira-proto on arbitrary bytes.
//!
//! Input: `[selector] rest`; the selector picks the parser (see the match).
//! Decoders with an encoder are also checked for round trips:
//! `decode(encode(decode(x))) == decode(x)`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use tobira_proto::crypto::cipher;
use tobira_proto::hostkey;
use tobira_proto::kex::dh::{DhGroup, DhKeyPair};
use tobira_proto::kex::ecdh::EcdhKeyPair;
use tobira_proto::kex::gex::{self, GexRequest};
use tobira_proto::kex::hybrid::{self, HybridClient, HybridKind};
use tobira_proto::kex::rsa_kex::{self, RsaKexMethod, RsaTransientKey};
use tobira_proto::kex::x448::X448KeyPair;
use tobira_proto::kex::{Curve, KexFamily};
use tobira_proto::msg::connection::{ChannelKind, ChannelRequest};
use tobira_proto::msg::transport::{Disconnect, ExtInfo, KexInit};
use tobira_proto::msg::userauth::{decode_info_response, encode_info_response, InfoRequest, UserauthRequest};
use tobira_proto::trace::{self, Direction};
use tobira_proto::transport::ident::{IdentReader, IdentScan};
use tobira_proto::transport::negotiate::{guess_was_wrong, negotiate};
use tobira_proto::wire::Reader;
use tobira_fuzz::session::fixture_keys;

fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(7)
}

const ALGS: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-256",
    "rsa-sha2-512",
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed448",
    "sk-ssh-ed25519@openssh.com",
];

const FAMILIES: &[Option<KexFamily>] = &[
    None,
    Some(KexFamily::Ecdh),
    Some(KexFamily::Dh),
    Some(KexFamily::DhGex),
    Some(KexFamily::Hybrid),
    Some(KexFamily::Rsa),
];

fn is_aead(c: &str) -> bool {
    cipher::lookup(c).is_some_and(|s| s.is_aead())
}

/// A transient RSA key for the RSA key exchange server side, made once.
fn rsa_key() -> &'static RsaTransientKey {
    static K: OnceLock<RsaTransientKey> = OnceLock::new();
    K.get_or_init(|| RsaTransientKey::generate(RsaKexMethod::Rsa1024Sha1, &mut rng()).expect("RSA key"))
}

/// Interprets `ops` as a sequence of Reader calls over `buf`.
fn reader_ops(ops: &[u8], buf: &[u8]) {
    let mut r = Reader::new(buf);
    for op in ops {
        let before = r.remaining().len();
        let ok = match op % 10 {
            0 => r.u8().is_ok(),
            1 => r.bool().is_ok(),
            2 => r.u32().is_ok(),
            3 => r.u64().is_ok(),
            4 => r.string().is_ok(),
            5 => r.utf8().is_ok(),
            6 => r.mpint_positive().is_ok(),
            7 => r.name_list().is_ok(),
            8 => r.bytes((*op as usize) << 4, "ops").is_ok(),
            _ => r.finish().is_ok(),
        };
        let after = r.remaining().len();
        assert!(after <= before, "reader moved backwards");
        assert_eq!(r.is_empty(), after == 0);
        let _ = ok;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 20 {
        0 => {
            if let Ok(k) = KexInit::decode(rest) {
                let again = KexInit::decode(&k.encode()).expect("re-encoded KEXINIT decodes");
                assert_eq!(k, again, "KEXINIT round trip");
                if let Ok(n) = negotiate(&k, &k, is_aead) {
                    let _ = guess_was_wrong(&k, &n);
                    let _ = trace::summary(&n, true);
                }
            }
        }
        1 => {
            if let Ok(d) = Disconnect::decode(rest) {
                let again = Disconnect::decode(&d.encode()).expect("re-encoded DISCONNECT decodes");
                assert_eq!(d, again, "DISCONNECT round trip");
            }
        }
        2 => {
            if let Ok(e) = ExtInfo::decode(rest) {
                let _ = e.server_sig_algs();
                let again = ExtInfo::decode(&e.encode()).expect("re-encoded EXT_INFO decodes");
                assert_eq!(e, again, "EXT_INFO round trip");
            }
        }
        3 => {
            if let Ok(u) = UserauthRequest::decode(rest) {
                let _ = format!("{u:?}");
                let again = UserauthRequest::decode(&u.encode()).expect("re-encoded USERAUTH_REQUEST decodes");
                assert_eq!(u, again, "USERAUTH_REQUEST round trip");
            }
        }
        4 => {
            if let Ok(i) = InfoRequest::decode(rest) {
                let again = InfoRequest::decode(&i.encode()).expect("re-encoded INFO_REQUEST decodes");
                assert_eq!(i, again, "INFO_REQUEST round trip");
            }
        }
        5 => {
            if let Ok(a) = decode_info_response(rest) {
                let again = decode_info_response(&encode_info_response(&a)).expect("re-encoded INFO_RESPONSE");
                assert_eq!(a, again, "INFO_RESPONSE round trip");
            }
        }
        6 | 7 => {
            // A type name from the input, then the type-specific data.
            let mut r = Reader::new(rest);
            let Ok(name) = r.utf8() else { return };
            if sel % 20 == 6 {
                if let Ok(k) = ChannelKind::decode(name, &mut r) {
                    let mut v = Vec::new();
                    k.encode_fields(&mut v);
                    let again = ChannelKind::decode(k.name(), &mut Reader::new(&v)).expect("re-encoded kind");
                    assert_eq!(k, again, "channel kind round trip");
                }
            } else if let Ok(q) = ChannelRequest::decode(name, &mut r) {
                let mut v = Vec::new();
                q.encode_fields(&mut v);
                let again = ChannelRequest::decode(q.name(), &mut Reader::new(&v)).expect("re-encoded request");
                assert_eq!(q, again, "channel request round trip");
            }
        }
        8 => {
            let split = rest.first().copied().unwrap_or(0) as usize;
            let rest = rest.get(1..).unwrap_or(&[]);
            let (ops, buf) = rest.split_at(split.min(rest.len()));
            reader_ops(ops, buf);
        }
        9 => {
            // hostkey::verify: algorithm, key blob (or a fixture key's),
            // signature blob, data.
            let mut r = Reader::new(rest);
            let (Ok(a), Ok(kb), Ok(sig)) = (r.u8(), r.string(), r.string()) else { return };
            let alg = ALGS[a as usize % ALGS.len()];
            let hosts = &fixture_keys().0;
            let blob = if kb.len() == 1 { hosts[kb[0] as usize % hosts.len()].public_blob() } else { kb };
            let _ = hostkey::verify(alg, blob, r.remaining(), sig);
            let _ = hostkey::algorithms_for_key_type(hostkey::key_type_for(alg));
        }
        10 => {
            let fam = FAMILIES[rest.first().copied().unwrap_or(0) as usize % FAMILIES.len()];
            let payload = rest.get(1..).unwrap_or(&[]);
            for dir in [Direction::Sent, Direction::Received] {
                let _ = trace::describe(dir, payload, payload.len() as u32 + 5, 4, fam);
            }
            let _ = trace::describe_key_blob(payload, "  ");
            if let Some(&n) = payload.first() {
                let _ = tobira_proto::msg::name(n, fam);
            }
        }
        11 => {
            let text = String::from_utf8_lossy(rest);
            let moduli = gex::parse_moduli(&text);
            for m in moduli.iter().take(4) {
                assert_eq!(m.group.bits() as u32, m.bits);
            }
            let req = GexRequest {
                min: 1024,
                n: 2048,
                max: 8192,
            };
            let _ = gex::choose_group(&moduli, req, &mut rng());
        }
        12 => {
            // Identification line, fed in pieces as the connection does.
            let is_client = rest.first().is_some_and(|b| b & 1 == 1);
            let step = rest.get(1).map_or(1, |b| (*b as usize % 16) + 1);
            let input = rest.get(2..).unwrap_or(&[]);
            let mut reader = IdentReader::default();
            let mut buf = Vec::new();
            for piece in input.chunks(step) {
                buf.extend_from_slice(piece);
                match reader.scan(&buf, is_client) {
                    Ok(IdentScan::NeedMore) => {}
                    Ok(IdentScan::Found(id, used)) => {
                        assert!(used <= buf.len());
                        assert!(id.len() <= 255);
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        13 => {
            // Negotiation between two arbitrary KEXINITs.
            let split = rest.first().copied().unwrap_or(0) as usize * 4;
            let rest = rest.get(1..).unwrap_or(&[]);
            let (a, b) = rest.split_at(split.min(rest.len()));
            if let (Ok(c), Ok(s)) = (KexInit::decode(a), KexInit::decode(b)) {
                if let Ok(n) = negotiate(&c, &s, is_aead) {
                    let _ = guess_was_wrong(&c, &n);
                    let _ = guess_was_wrong(&s, &n);
                }
            }
        }
        14 => {
            // ECDH / X448 with an arbitrary peer value.
            let curve = [Curve::X25519, Curve::P256, Curve::P384, Curve::P521, Curve::X448]
                [rest.first().copied().unwrap_or(0) as usize % 5];
            let peer = rest.get(1..).unwrap_or(&[]);
            if curve == Curve::X448 {
                if let Ok(kp) = X448KeyPair::generate(&mut rng()) {
                    let _ = kp.agree(peer);
                }
            } else if let Ok(kp) = EcdhKeyPair::generate(curve, &mut rng()) {
                let _ = kp.agree(peer);
            }
        }
        15 => {
            // Fixed-group DH with an arbitrary peer value: the range check
            // on group 14, the whole agreement on the (cheaper) group 1.
            let _ = DhGroup::from_hex(tobira_proto::kex::groups::GROUP14_P).check_public(rest);
            let group = DhGroup::from_hex(tobira_proto::kex::groups::GROUP1_P);
            if let Ok(kp) = DhKeyPair::generate(group, &mut rng()) {
                let _ = kp.agree(rest);
            }
        }
        16 => {
            // A group from a GEX server: validate only (no key generation
            // on arbitrary moduli: slow, and the connection target covers it).
            let mut r = Reader::new(rest);
            if let (Ok(p), Ok(g)) = (r.mpint_positive(), r.mpint_positive()) {
                let group = DhGroup {
                    p: p.to_vec(),
                    g: g.to_vec(),
                };
                let _ = group.bits();
                let _ = group.validate();
                let _ = group.check_public(r.remaining());
            }
        }
        17 => {
            // Hybrid KEMs: the client's finish on an arbitrary S_REPLY and
            // the server's answer to an arbitrary C_INIT.
            let kind = [
                HybridKind::MlKem768X25519,
                HybridKind::MlKem768NistP256,
                HybridKind::MlKem1024NistP384,
                HybridKind::Sntrup761X25519,
            ][rest.first().copied().unwrap_or(0) as usize % 4];
            let body = rest.get(1..).unwrap_or(&[]);
            // Lengths right more often than not.
            let mut s_reply = body.to_vec();
            let mut c_init = body.to_vec();
            if rest.get(1).is_some_and(|b| b & 1 == 1) {
                s_reply.resize(kind.s_reply_len(), 0);
                c_init.resize(kind.c_init_len(), 0);
            }
            if let Ok((hc, _)) = HybridClient::generate(kind, &mut rng()) {
                let _ = hc.finish(&s_reply);
            }
            let _ = hybrid::hybrid_server(kind, &c_init, &mut rng());
        }
        18 => {
            // RSA key exchange: the client parses K_T from the server; the
            // server decrypts the client's secret.
            let method = if rest.first().is_some_and(|b| b & 1 == 1) {
                RsaKexMethod::Rsa2048Sha256
            } else {
                RsaKexMethod::Rsa1024Sha1
            };
            let body = rest.get(1..).unwrap_or(&[]);
            let _ = rsa_kex::encrypt_secret(method, body, &mut rng());
            let key = rsa_key();
            let mut ct = body.to_vec();
            if rest.first().is_some_and(|b| b & 2 == 2) {
                ct.resize(key.len_bytes(), 0);
            }
            let _ = rsa_kex::decrypt_secret(RsaKexMethod::Rsa1024Sha1, key, &ct, &mut rng());
        }
        _ => {
            // Every decoder on the same bytes (cheap breadth).
            let _ = KexInit::decode(rest);
            let _ = Disconnect::decode(rest);
            let _ = ExtInfo::decode(rest);
            let _ = UserauthRequest::decode(rest);
            let _ = InfoRequest::decode(rest);
            let _ = decode_info_response(rest);
            for name in ["session", "direct-tcpip", "forwarded-tcpip", "x"] {
                let _ = ChannelKind::decode(name, &mut Reader::new(rest));
            }
            for name in ["pty-req", "env", "exec", "subsystem", "window-change", "signal", "exit-status", "exit-signal", "break"] {
                let _ = ChannelRequest::decode(name, &mut Reader::new(rest));
            }
        }
    }
});
