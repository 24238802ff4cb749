//! The server's host keys: loaded from `HostKey` files, or generated on
//! first start into the state directory and reused after (INTERFACE.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tobira_proto::hostkey::SigningKey;

use crate::keyfile::{self, AnyPrivateKey, KeyType};

/// A host-key problem, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct HostKeyError {
    /// The file concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// The state directory: `$TOBIRA_STATE_DIR` when set, else
/// `/var/lib/tobira` as root, else `$XDG_STATE_HOME/tobira` or
/// `~/.local/state/tobira`.
pub fn state_dir(is_root: bool) -> PathBuf {
    if let Some(d) = std::env::var_os("TOBIRA_STATE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    if is_root {
        return PathBuf::from("/var/lib/tobira");
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("tobira");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    home.join(".local/state/tobira")
}

/// Loads one private host key (unencrypted, as sshd requires) of any type
/// tobira signs with: Ed25519, Ed448 (an OpenSSH-format file as PuTTY
/// writes it), ECDSA, RSA or DSA.
pub fn load(path: &Path) -> Result<(AnyPrivateKey, Arc<SigningKey>), HostKeyError> {
    let err = |m: String| HostKeyError {
        path: path.to_path_buf(),
        message: m,
    };
    let k = keyfile::load_any_private(path, None).map_err(|e| err(e.to_string()))?;
    let s = k.signing_key().map_err(|e| err(e.to_string()))?;
    Ok((k, Arc::new(s)))
}

/// Loads the configured keys, or with none configured, the generated
/// ed25519 and rsa-4096 keys in `dir`, creating them on first start.
/// Returns the keys and messages worth logging.
pub fn load_or_generate(
    configured: &[PathBuf],
    dir: &Path,
) -> Result<(Vec<Arc<SigningKey>>, Vec<String>), HostKeyError> {
    let mut notes = Vec::new();
    if !configured.is_empty() {
        let mut keys = Vec::new();
        for p in configured {
            keys.push(load(p)?.1);
        }
        return Ok((keys, notes));
    }
    let mut keys = Vec::new();
    for (kind, bits, name) in [
        (KeyType::Ed25519, None, "ssh_host_ed25519_key"),
        (KeyType::Rsa, Some(4096), "ssh_host_rsa_key"),
    ] {
        let path = dir.join(name);
        if !path.exists() {
            create_dir(dir)?;
            let k = keyfile::generate(kind, bits, "tobirad host key").map_err(|e| HostKeyError {
                path: path.clone(),
                message: e.to_string(),
            })?;
            keyfile::save_private(&path, &k, None).map_err(|e| HostKeyError {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let _ = keyfile::save_public(&path.with_extension("pub"), k.public_key());
            notes.push(format!("generated host key {}", path.display()));
        }
        keys.push(load(&path)?.1);
    }
    Ok((keys, notes))
}

fn create_dir(dir: &Path) -> Result<(), HostKeyError> {
    std::fs::create_dir_all(dir).map_err(|e| HostKeyError {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed448_host_key_loads() {
        // `puttygen -t ed448 -C tested448 -O private-openssh`.
        const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAASgAAAAlz
c2gtZWQ0NDgAAAA54KBb7zS9xQFbYvPNh1zj9s28iiUZERi62C3hmCj8E3/xsxsm
IWni8zAcINK4qqnM8U9fA6OdXMyAAAAA4LXVdzS11Xc0AAAACXNzaC1lZDQ0OAAA
ADngoFvvNL3FAVti882HXOP2zbyKJRkRGLrYLeGYKPwTf/GzGyYhaeLzMBwg0riq
qczxT18Do51czIAAAAByebtMWkCtwHJ64UNTOLK0CH7JjxkLW0r1WbGhnpmH0qBw
lWJtZVS4WWLJSJB53KeOYnExJqlk/5sA4KBb7zS9xQFbYvPNh1zj9s28iiUZERi6
2C3hmCj8E3/xsxsmIWni8zAcINK4qqnM8U9fA6OdXMyAAAAACXRlc3RlZDQ0OAEC
AwQFBgcICQoL
-----END OPENSSH PRIVATE KEY-----
";
        let dir = std::env::temp_dir().join(format!("tobira-hostkeys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ssh_host_ed448_key");
        std::fs::write(&path, KEY).unwrap();
        let (keys, _) = load_or_generate(std::slice::from_ref(&path), &dir).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].key_type(), "ssh-ed448");
        assert_eq!(keys[0].algorithms(), ["ssh-ed448"]);
        let sig = keys[0].sign("ssh-ed448", b"exchange hash").unwrap();
        tobira_proto::hostkey::verify("ssh-ed448", keys[0].public_blob(), b"exchange hash", &sig).unwrap();
        let pub_key = crate::pubkey::AnyPublicKey::from_blob(keys[0].public_blob()).unwrap();
        assert_eq!(
            pub_key.fingerprint(),
            "SHA256:k02Oun4Vx52/6IZ3OMJI3idPZrdFu8UfPi/VUj0aQrU"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
