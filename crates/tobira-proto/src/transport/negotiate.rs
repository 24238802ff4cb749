//! Algorithm negotiation (RFC 4253 §7.1): for each category, the first
//! algorithm on the client's list that is also on the server's list.

use crate::error::Error;
use crate::msg::transport::KexInit;

/// The outcome of negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Key exchange method.
    pub kex: String,
    /// Host key signature algorithm.
    pub host_key: String,
    /// Cipher client → server.
    pub cipher_c2s: String,
    /// Cipher server → client.
    pub cipher_s2c: String,
    /// MAC client → server (`<implicit>` for AEAD ciphers).
    pub mac_c2s: String,
    /// MAC server → client.
    pub mac_s2c: String,
    /// Compression client → server.
    pub comp_c2s: String,
    /// Compression server → client.
    pub comp_s2c: String,
}

/// Names that are markers, not algorithms: never chosen.
fn is_pseudo(name: &str) -> bool {
    matches!(
        name,
        "ext-info-c" | "ext-info-s" | "kex-strict-c-v00@openssh.com" | "kex-strict-s-v00@openssh.com"
    )
}

fn pick(category: &str, client: &[String], server: &[String]) -> Result<String, Error> {
    client
        .iter()
        .filter(|c| !is_pseudo(c))
        .find(|c| server.contains(c))
        .cloned()
        .ok_or_else(|| {
            Error::kex(format!(
                "no matching {category} found. Their offer: {}",
                server.join(",")
            ))
        })
}

/// Negotiates every category. `host_key_ok` filters host key algorithms
/// compatible with the chosen method (RFC 4253 §7.1: a signature-capable
/// key for every method we implement).
pub fn negotiate(client: &KexInit, server: &KexInit, is_aead: impl Fn(&str) -> bool) -> Result<Negotiated, Error> {
    let kex = pick("key exchange method", &client.kex, &server.kex)?;
    let host_key = pick("host key type", &client.host_key, &server.host_key)?;
    let cipher_c2s = pick("cipher", &client.cipher_c2s, &server.cipher_c2s)?;
    let cipher_s2c = pick("cipher", &client.cipher_s2c, &server.cipher_s2c)?;
    let mac_c2s = if is_aead(&cipher_c2s) {
        "<implicit>".to_string()
    } else {
        pick("MAC", &client.mac_c2s, &server.mac_c2s)?
    };
    let mac_s2c = if is_aead(&cipher_s2c) {
        "<implicit>".to_string()
    } else {
        pick("MAC", &client.mac_s2c, &server.mac_s2c)?
    };
    let comp_c2s = pick("compression method", &client.comp_c2s, &server.comp_c2s)?;
    let comp_s2c = pick("compression method", &client.comp_s2c, &server.comp_s2c)?;
    Ok(Negotiated {
        kex,
        host_key,
        cipher_c2s,
        cipher_s2c,
        mac_c2s,
        mac_s2c,
        comp_c2s,
        comp_s2c,
    })
}

/// RFC 4253 §7.1: a guessed first kex packet is wrong when the sender's
/// first kex method or first host key algorithm is not the negotiated one.
pub fn guess_was_wrong(sender: &KexInit, n: &Negotiated) -> bool {
    sender.kex.first() != Some(&n.kex) || sender.host_key.first() != Some(&n.host_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ki(kex: &[&str], hk: &[&str], c: &[&str], m: &[&str]) -> KexInit {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        KexInit {
            kex: v(kex),
            host_key: v(hk),
            cipher_c2s: v(c),
            cipher_s2c: v(c),
            mac_c2s: v(m),
            mac_s2c: v(m),
            comp_c2s: v(&["none"]),
            comp_s2c: v(&["none"]),
            ..Default::default()
        }
    }

    #[test]
    fn client_preference_wins() {
        let c = ki(
            &["a", "b", "ext-info-c"],
            &["k1", "k2"],
            &["aes256-ctr", "aes128-ctr"],
            &["m1", "m2"],
        );
        let s = ki(&["b", "a"], &["k2", "k1"], &["aes128-ctr", "aes256-ctr"], &["m2", "m1"]);
        let n = negotiate(&c, &s, |_| false).unwrap();
        assert_eq!(
            (
                n.kex.as_str(),
                n.host_key.as_str(),
                n.cipher_c2s.as_str(),
                n.mac_s2c.as_str()
            ),
            ("a", "k1", "aes256-ctr", "m1")
        );
        assert!(guess_was_wrong(&s, &n));
        assert!(!guess_was_wrong(&c, &n));
    }

    #[test]
    fn no_common_algorithm_names_category_and_offer() {
        let c = ki(&["a"], &["k1"], &["x"], &["m"]);
        let s = ki(&["a"], &["k1"], &["y", "z"], &["m"]);
        let e = negotiate(&c, &s, |_| false).unwrap_err();
        assert_eq!(e.to_string(), "no matching cipher found. Their offer: y,z");
        let s = ki(&["ext-info-c"], &["k1"], &["x"], &["m"]);
        assert!(negotiate(&c, &s, |_| false).is_err());
    }

    #[test]
    fn aead_needs_no_mac() {
        let c = ki(&["a"], &["k"], &["g"], &["m1"]);
        let s = ki(&["a"], &["k"], &["g"], &["m2"]);
        let n = negotiate(&c, &s, |x| x == "g").unwrap();
        assert_eq!(n.mac_c2s, "<implicit>");
    }
}
