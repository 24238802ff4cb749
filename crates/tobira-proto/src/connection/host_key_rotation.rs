//! Host key rotation (OpenSSH PROTOCOL §2.5): after authentication the
//! server lists every host key it holds (`hostkeys-00@openssh.com`), and
//! the client asks it to prove possession of the ones it does not know yet
//! (`hostkeys-prove-00@openssh.com`) before recording them. Both ends run
//! here; what to learn, and writing known_hosts, is the application's.

use super::channels::ReplyOwner;
use super::{Connection, Event, Role};
use crate::error::Error;
use crate::hostkey::{self, SigningKey};
use crate::msg::num;
use crate::wire::{Reader, Writer};

/// The server's announcement of its host keys.
pub(super) const ANNOUNCE: &str = "hostkeys-00@openssh.com";
/// The client's request for proofs, and the context string they sign.
pub(super) const PROVE: &str = "hostkeys-prove-00@openssh.com";
/// Proof requests a server answers per connection: each costs a signature
/// per key (an RSA signature is milliseconds), and OpenSSH's client asks
/// once.
const MAX_PROOF_REQUESTS: u8 = 2;
/// Keys a client takes from one announcement; a server with more is
/// ignored (OpenSSH's sshd has at most a handful).
const MAX_ANNOUNCED_KEYS: usize = 64;

/// Per-connection state of the extension.
#[derive(Debug, Default)]
pub(super) struct Rotation {
    /// The host key algorithm of the latest key exchange.
    pub host_key_alg: Option<String>,
    /// Server: the RSA signature algorithm the client's first KEXINIT
    /// offered, `rsa-sha2-512` before `rsa-sha2-256` (None: only SHA-1).
    pub peer_rsa_alg: Option<&'static str>,
    /// Client: an announcement was taken (later ones are ignored).
    announced: bool,
    /// Server: proof requests answered so far.
    proofs_given: u8,
}

/// The RSA signature algorithm for proofs to a peer whose host key
/// algorithms are `offered` (OpenSSH's `KEX_RSA_SHA2_*_SUPPORTED`, its
/// certificate names counting too).
pub(super) fn rsa_sha2_offered(offered: &[String]) -> Option<&'static str> {
    let has = |alg: &str| {
        offered
            .iter()
            .any(|o| o == alg || o.strip_prefix(alg) == Some("-cert-v01@openssh.com"))
    };
    if has("rsa-sha2-512") {
        Some("rsa-sha2-512")
    } else if has("rsa-sha2-256") {
        Some("rsa-sha2-256")
    } else {
        None
    }
}

/// What a proof signs: `string "hostkeys-prove-00@openssh.com", string
/// session identifier, string host key` (PROTOCOL §2.5).
fn signed_data(session_id: &[u8], key_blob: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(PROVE.len() + session_id.len() + key_blob.len() + 12);
    d.put_string(PROVE.as_bytes());
    d.put_string(session_id);
    d.put_string(key_blob);
    d
}

/// The string list that fills the rest of these messages (`string[]`).
fn strings(data: &[u8], at_most: usize) -> Option<Vec<&[u8]>> {
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    while !r.is_empty() {
        if out.len() == at_most {
            return None;
        }
        out.push(r.string().ok()?);
    }
    Some(out)
}

impl Connection {
    /// Server: lists our host keys, once, right after USERAUTH_SUCCESS
    /// (OpenSSH's `notify_hostkeys`), unless
    /// [`crate::Config::announce_host_keys`] is off. Each key goes once
    /// (an RSA key serves three algorithms with one blob).
    pub(super) fn announce_host_keys(&mut self) -> Result<(), Error> {
        // OpenSSH's SSH_BUG_HOSTKEYS: Cisco's client breaks on it (its
        // software version, after `SSH-2.0-` or `SSH-1.99-`).
        let buggy = self
            .peer_ident
            .as_deref()
            .and_then(|p| p.splitn(3, '-').nth(2))
            .is_some_and(|v| v.starts_with("Cisco-1."));
        if self.role != Role::Server || !self.config.announce_host_keys || buggy || self.config.host_keys.is_empty() {
            return Ok(());
        }
        let mut m = vec![num::GLOBAL_REQUEST];
        m.put_string(ANNOUNCE.as_bytes());
        m.put_bool(false);
        let mut sent: Vec<&[u8]> = Vec::new();
        for key in &self.config.host_keys {
            let blob = key.public_blob();
            if !sent.contains(&blob) {
                sent.push(blob);
                m.put_string(blob);
            }
        }
        self.send(m)
    }

    /// Server: the signatures answering a proof request, one per key asked
    /// for, in its order; `None` (REQUEST_FAILURE) for a key we do not
    /// hold, a key asked twice, a malformed request, or beyond
    /// [`MAX_PROOF_REQUESTS`].
    pub(super) fn host_key_proof(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        if self.role != Role::Server {
            return None;
        }
        if self.rotation.proofs_given >= MAX_PROOF_REQUESTS {
            tracing::debug!("{PROVE}: refused, asked more than {MAX_PROOF_REQUESTS} times");
            return None;
        }
        let config = self.config.clone();
        let session_id = self.session_id.clone()?;
        let blobs = strings(data, config.host_keys.len())?;
        let mut keys: Vec<&SigningKey> = Vec::with_capacity(blobs.len());
        for blob in &blobs {
            let Some(key) = config.host_keys.iter().find(|k| k.public_blob() == *blob) else {
                tracing::warn!("{PROVE}: the client asked about a host key we do not hold");
                return None;
            };
            if keys.iter().any(|k| k.public_blob() == *blob) {
                return None;
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return None;
        }
        // Counted once the request is sound: refusals cost no signature.
        self.rotation.proofs_given += 1;
        let mut out = Vec::new();
        for key in keys {
            let alg = self.proof_algorithm(key)?;
            let sig = key.sign(alg, &signed_data(&session_id, key.public_blob())).ok()?;
            out.put_string(&sig);
        }
        Some(out)
    }

    /// Server: the algorithm a proof by `key` uses: for RSA the one of the
    /// key exchange when it was RSA, else the best SHA-2 one the client
    /// offered, else SHA-1 (as OpenSSH's `server_input_hostkeys_prove`);
    /// every other key type signs with its own.
    fn proof_algorithm(&self, key: &SigningKey) -> Option<&'static str> {
        let algs = key.algorithms();
        if key.key_type() != "ssh-rsa" {
            return algs.first().copied();
        }
        let kex_alg = self
            .rotation
            .host_key_alg
            .as_deref()
            .filter(|a| hostkey::key_type_for(a) == "ssh-rsa");
        let wanted = kex_alg.or(self.rotation.peer_rsa_alg).unwrap_or("ssh-rsa");
        algs.iter().copied().find(|a| *a == wanted)
    }

    /// Client: takes the server's announcement, once; a malformed or
    /// oversized one is ignored, as is any after the first.
    pub(super) fn on_host_keys_announced(&mut self, data: &[u8]) {
        if self.role != Role::Client || self.rotation.announced {
            tracing::debug!("{ANNOUNCE}: ignored (not the first, or not to a client)");
            return;
        }
        self.rotation.announced = true;
        match strings(data, MAX_ANNOUNCED_KEYS) {
            Some(keys) => self.events.push_back(Event::HostKeysOffered {
                keys: keys.into_iter().map(<[u8]>::to_vec).collect(),
            }),
            None => tracing::debug!("{ANNOUNCE}: malformed or more than {MAX_ANNOUNCED_KEYS} keys, ignored"),
        }
    }

    /// Client: asks the server to prove it holds the private halves of
    /// `keys` (public key blobs from [`Event::HostKeysOffered`]); the
    /// outcome comes as [`Event::HostKeysProven`] or
    /// [`Event::HostKeysNotProven`] (OpenSSH PROTOCOL §2.5).
    pub fn prove_host_keys(&mut self, keys: Vec<Vec<u8>>) -> Result<(), Error> {
        self.connection_ready()?;
        if self.role != Role::Client || keys.is_empty() {
            return Err(Error::protocol("only a client asks for host key proofs, for some key"));
        }
        let mut m = vec![num::GLOBAL_REQUEST];
        m.put_string(PROVE.as_bytes());
        m.put_bool(true);
        for k in &keys {
            m.put_string(k);
        }
        self.chans.global_replies_due.push_back(ReplyOwner::HostKeyProof(keys));
        self.send(m)
    }

    /// Client: checks the server's answer to [`Connection::prove_host_keys`]:
    /// one signature per key over the session identifier, by that key.
    /// An RSA proof must use the key exchange's algorithm when that was
    /// RSA, else SHA-2 (a SHA-1 one only leaves its key out, as OpenSSH's
    /// client does); any signature that fails, or is missing, fails all.
    pub(super) fn check_host_key_proof(&self, keys: Vec<Vec<u8>>, success: bool, data: &[u8]) -> Event {
        let not = |reason: String| Event::HostKeysNotProven { reason };
        if !success {
            return not("Server failed to confirm ownership of private host keys".into());
        }
        let Some(session_id) = self.session_id.as_deref() else {
            return not("no session identifier".into());
        };
        let kex_alg = self
            .rotation
            .host_key_alg
            .as_deref()
            .filter(|a| hostkey::key_type_for(a) == "ssh-rsa");
        let mut r = Reader::new(data);
        let mut proven = Vec::with_capacity(keys.len());
        for (i, blob) in keys.into_iter().enumerate() {
            let Ok(sig) = r.string() else {
                return not(format!("server sent no proof for host key {i}"));
            };
            let sig_alg = Reader::new(sig).utf8().unwrap_or("");
            let key_type = Reader::new(&blob).utf8().unwrap_or("");
            let alg = if key_type == "ssh-rsa" {
                match kex_alg {
                    Some(a) => a,
                    None if matches!(sig_alg, "rsa-sha2-256" | "rsa-sha2-512") => sig_alg,
                    None => continue,
                }
            } else {
                match hostkey::algorithms_for_key_type(key_type).first().copied() {
                    Some(a) => a,
                    None => return not(format!("cannot check a proof by a {key_type} key")),
                }
            };
            if let Err(e) = hostkey::verify(alg, &blob, &signed_data(session_id, &blob), sig) {
                return not(format!("server gave bad signature for {key_type} key {i}: {e}"));
            }
            proven.push(blob);
        }
        if !r.is_empty() {
            return not("trailing data after the host key proofs".into());
        }
        Event::HostKeysProven { keys: proven }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::Config;

    fn key(name: &str) -> SigningKey {
        let path = format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"));
        let k = ssh_key::PrivateKey::from_openssh(std::fs::read_to_string(path).unwrap()).unwrap();
        SigningKey::from_ssh_key(&k).unwrap()
    }

    /// A client connection as it is after a key exchange with `host_key_alg`.
    fn client(host_key_alg: &str) -> Connection {
        use rand::SeedableRng;
        let rng = Box::new(rand::rngs::StdRng::seed_from_u64(7));
        let mut c = Connection::client(Arc::new(Config::default()), rng);
        c.session_id = Some(b"session".to_vec());
        c.rotation.host_key_alg = Some(host_key_alg.into());
        c
    }

    fn proof(key: &SigningKey, alg: &str, session_id: &[u8]) -> Vec<u8> {
        key.sign(alg, &signed_data(session_id, key.public_blob())).unwrap()
    }

    fn reply(sigs: &[Vec<u8>]) -> Vec<u8> {
        let mut d = Vec::new();
        for s in sigs {
            d.put_string(s);
        }
        d
    }

    fn check(c: &Connection, keys: &[&SigningKey], data: &[u8]) -> Event {
        let blobs = keys.iter().map(|k| k.public_blob().to_vec()).collect();
        c.check_host_key_proof(blobs, true, data)
    }

    #[test]
    fn proofs_must_be_by_the_key_over_this_session() {
        let (ed, ec) = (key("host_ed25519"), key("host_ecdsa"));
        let c = client("ssh-ed25519");
        let good = reply(&[
            proof(&ed, "ssh-ed25519", b"session"),
            proof(&ec, "ecdsa-sha2-nistp256", b"session"),
        ]);
        assert_eq!(
            check(&c, &[&ed, &ec], &good),
            Event::HostKeysProven {
                keys: vec![ed.public_blob().to_vec(), ec.public_blob().to_vec()]
            }
        );
        let not = |e: Event| matches!(e, Event::HostKeysNotProven { .. });
        // Another session's proof, another key's, one missing, one extra.
        assert!(not(check(&c, &[&ed], &reply(&[proof(&ed, "ssh-ed25519", b"other")]))));
        assert!(not(check(
            &c,
            &[&ed],
            &reply(&[proof(&ec, "ecdsa-sha2-nistp256", b"session")])
        )));
        assert!(not(check(
            &c,
            &[&ed, &ec],
            &reply(&[proof(&ed, "ssh-ed25519", b"session")])
        )));
        let mut extra = good.clone();
        extra.push(0);
        assert!(not(check(&c, &[&ed, &ec], &extra)));
        assert!(not(c.check_host_key_proof(vec![ed.public_blob().to_vec()], false, &[])));
    }

    #[test]
    fn rsa_proofs_follow_the_key_exchange_or_else_sha2() {
        let rsa = key("host_rsa");
        let sha1 = reply(&[proof(&rsa, "ssh-rsa", b"session")]);
        let sha256 = reply(&[proof(&rsa, "rsa-sha2-256", b"session")]);
        let sha512 = reply(&[proof(&rsa, "rsa-sha2-512", b"session")]);
        let blob = vec![rsa.public_blob().to_vec()];
        let ed_kex = client("ssh-ed25519");
        assert_eq!(check(&ed_kex, &[&rsa], &sha1), Event::HostKeysProven { keys: vec![] });
        assert_eq!(
            check(&ed_kex, &[&rsa], &sha256),
            Event::HostKeysProven { keys: blob.clone() }
        );
        assert_eq!(
            check(&ed_kex, &[&rsa], &sha512),
            Event::HostKeysProven { keys: blob.clone() }
        );
        // After an RSA key exchange, exactly its algorithm.
        let rsa_kex = client("rsa-sha2-256");
        assert_eq!(check(&rsa_kex, &[&rsa], &sha256), Event::HostKeysProven { keys: blob });
        assert!(matches!(
            check(&rsa_kex, &[&rsa], &sha512),
            Event::HostKeysNotProven { .. }
        ));
    }

    #[test]
    fn the_server_signs_rsa_proofs_as_openssh_does() {
        use rand::SeedableRng;
        let rsa = Arc::new(key("host_rsa"));
        let config = Config {
            host_keys: vec![rsa.clone()],
            ..Config::default()
        };
        let rng = Box::new(rand::rngs::StdRng::seed_from_u64(7));
        let mut s = Connection::server(Arc::new(config), rng);
        let algs = |offered: &[&str]| rsa_sha2_offered(&offered.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        for (kex, offered, want) in [
            ("ssh-ed25519", algs(&["rsa-sha2-256", "rsa-sha2-512"]), "rsa-sha2-512"),
            (
                "ssh-ed25519",
                algs(&["rsa-sha2-256-cert-v01@openssh.com"]),
                "rsa-sha2-256",
            ),
            ("ssh-ed25519", algs(&["ssh-rsa"]), "ssh-rsa"),
            ("rsa-sha2-256", algs(&["rsa-sha2-512"]), "rsa-sha2-256"),
        ] {
            s.rotation.host_key_alg = Some(kex.into());
            s.rotation.peer_rsa_alg = offered;
            assert_eq!(s.proof_algorithm(&rsa), Some(want), "{kex} {offered:?}");
        }
    }
}
