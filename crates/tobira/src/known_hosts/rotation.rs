//! What a server's list of all its host keys (OpenSSH PROTOCOL §2.5,
//! `hostkeys-00@openssh.com`) changes in the user's known_hosts files, and
//! the rewrite that records it (ssh(1) `UpdateHostKeys`; OpenSSH's
//! `hostkeys_find` and `hostfile_replace_entries`).

use std::io;
use std::path::Path;

use super::{
    append, classify, hash_host_name, host_name_for, key_text, match_hosts, parse_key, read_text, replace_with_backup,
    KnownHosts, Line, Marker, HASH_MAGIC,
};
use crate::pubkey::AnyPublicKey;

/// The comparison of the offered keys with the lines for the host.
#[derive(Debug, Default)]
pub struct RotationView {
    /// Offered keys (by index) that no line for the host holds.
    pub new: Vec<usize>,
    /// Keys on plain lines for the host that the server no longer offers.
    pub retired: Vec<AnyPublicKey>,
    /// Why the files must be left as they are, when they must: a line we
    /// could not rewrite without touching other hosts or markers.
    pub blocked: Option<&'static str>,
}

/// A host field OpenSSH will not rewrite (`hostspec_is_complex`): a
/// wildcard, or more than two names (`host,address` is the one pair it
/// writes itself).
fn is_complex(hosts: &str) -> bool {
    if hosts.starts_with(HASH_MAGIC) {
        return false;
    }
    hosts.contains(['*', '?']) || hosts.split(',').count() > 2
}

impl KnownHosts {
    /// Compares `offered` (the server's host keys) with the lines for
    /// `host` on `port` (these should be the user's files only). Lines for
    /// the host with a marker or a complex host field, an offered key
    /// known under another name, or a retired key still listed for other
    /// names block the update, as in ssh(1).
    pub fn rotation_view(&self, host: &str, port: u16, offered: &[AnyPublicKey]) -> RotationView {
        let name = host_name_for(&host.to_ascii_lowercase(), port);
        let mut view = RotationView::default();
        let mut found = vec![false; offered.len()];
        for e in &self.entries {
            let offered_at = offered.iter().position(|k| k.same_key(&e.key));
            if !e.matches(&name) {
                if e.marker == Marker::None && offered_at.is_some() {
                    view.blocked = Some("an offered host key is known under another name");
                }
                continue;
            }
            if e.marker != Marker::None || is_complex(&e.hosts) {
                view.blocked = Some("the host's known_hosts lines use markers, wildcards or several names");
                continue;
            }
            match offered_at {
                Some(i) => found[i] = true,
                None if !view.retired.iter().any(|k| k.same_key(&e.key)) => view.retired.push(e.key.clone()),
                None => {}
            }
        }
        let elsewhere = self
            .entries
            .iter()
            .any(|e| e.marker == Marker::None && !e.matches(&name) && view.retired.iter().any(|k| k.same_key(&e.key)));
        if elsewhere {
            view.blocked = Some("a retired host key is still listed for other names");
        }
        view.new = (0..offered.len()).filter(|&i| !found[i]).collect();
        view
    }
}

/// One line taken out by [`replace_host_keys`].
#[derive(Debug)]
pub struct Removed {
    /// 1-based line number in the file as it was.
    pub line: usize,
    /// The key it held.
    pub key: AnyPublicKey,
}

/// Rewrites the known_hosts file `path` for `host` on `port` (OpenSSH's
/// `hostfile_replace_entries`): the host's plain lines whose key is not in
/// `keep` go, every other line stays as written, and `add` is appended for
/// the host (hashed with `hash`). The old file is kept as `PATH.old` and
/// the new one renamed into place; a missing file is created (0600) only
/// when there is something to add. Returns the lines removed.
pub fn replace_host_keys(
    path: &Path,
    host: &str,
    port: u16,
    keep: &[AnyPublicKey],
    add: &[AnyPublicKey],
    hash: bool,
) -> io::Result<Vec<Removed>> {
    let name = host_name_for(&host.to_ascii_lowercase(), port);
    if path.exists() && !path.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a regular file; not rewriting it", path.display()),
        ));
    }
    let text = match read_text(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Nothing to remove: the new keys make the file, as ssh(1)
            // adds a host.
            for key in add {
                append(path, host, port, key, hash)?;
            }
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let mut out = String::with_capacity(text.len() + 128 * add.len());
    let mut removed = Vec::new();
    for (n, raw) in super::numbered_lines(&text) {
        if let Line::Entry(fields) = classify(raw) {
            if fields.marker == Marker::None && match_hosts(fields.hosts, &name) == Some(true) {
                if let Ok(key) = parse_key(fields.rest) {
                    if !keep.iter().any(|k| k.same_key(&key)) {
                        removed.push(Removed { line: n, key });
                        continue;
                    }
                }
            }
        }
        out.push_str(raw);
        out.push('\n');
    }
    for key in add {
        let field = if hash { hash_host_name(&name)? } else { name.clone() };
        out.push_str(&format!("{field} {}\n", key_text(key)?));
    }
    if removed.is_empty() && add.is_empty() {
        return Ok(removed);
    }
    replace_with_backup(path, &out)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;

    fn key() -> AnyPublicKey {
        ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap()
            .public_key()
            .into()
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tobira-rotation-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d.join("known_hosts")
    }

    fn view(text: &str, host: &str, port: u16, offered: &[AnyPublicKey]) -> RotationView {
        KnownHosts::parse(Path::new("kh"), text).rotation_view(host, port, offered)
    }

    #[test]
    fn new_and_retired_keys_are_told_apart() {
        let (a, b, old) = (key(), key(), key());
        let text = format!(
            "[h]:2222 {}\n[h]:2222 {}\nother {}\n",
            a.to_openssh_bare(),
            old.to_openssh_bare(),
            key().to_openssh_bare()
        );
        let v = view(&text, "H", 2222, &[a.clone(), b.clone()]);
        assert_eq!(v.new, vec![1]);
        assert_eq!(v.retired.len(), 1);
        assert!(v.retired[0].same_key(&old));
        assert_eq!(v.blocked, None);
        // The same keys on port 22 are another host: both are new.
        let v = view(&text, "h", 22, &[a, b]);
        assert_eq!(v.new, vec![0, 1]);
        assert!(v.retired.is_empty());
    }

    #[test]
    fn wildcards_markers_and_other_names_block_the_update() {
        let (a, b) = (key(), key());
        let offered = [a.clone(), b.clone()];
        let wild = format!("h* {}\n", a.to_openssh_bare());
        assert!(view(&wild, "h", 22, &offered).blocked.is_some());
        let three = format!("h,h2,h3 {}\n", a.to_openssh_bare());
        assert!(view(&three, "h", 22, &offered).blocked.is_some());
        let pair = format!("h,10.0.0.1 {}\n", a.to_openssh_bare());
        assert_eq!(view(&pair, "h", 22, &offered).blocked, None);
        let marker = format!("h {}\n@revoked h {}\n", a.to_openssh_bare(), key().to_openssh_bare());
        assert!(view(&marker, "h", 22, &offered).blocked.is_some());
        let elsewhere = format!("h {}\nmirror {}\n", a.to_openssh_bare(), b.to_openssh_bare());
        assert!(view(&elsewhere, "h", 22, &offered).blocked.is_some());
        let old = key();
        let shared = format!(
            "h {}\nh {}\nmirror {}\n",
            a.to_openssh_bare(),
            old.to_openssh_bare(),
            old.to_openssh_bare()
        );
        assert!(view(&shared, "h", 22, &[a]).blocked.is_some());
    }

    #[test]
    fn rewrite_removes_retired_lines_keeps_the_rest_and_appends() {
        let (a, b, old) = (key(), key(), key());
        let f = tmp("rewrite");
        let before = format!(
            "# mine\n[h]:2222 {}\n[h]:2222 {}\nother {}\nnot a valid line\n",
            a.to_openssh_bare(),
            old.to_openssh_bare(),
            old.to_openssh_bare()
        );
        fs::write(&f, &before).unwrap();
        let removed =
            replace_host_keys(&f, "h", 2222, &[a.clone(), b.clone()], std::slice::from_ref(&b), false).unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].line, 3);
        let after = fs::read_to_string(&f).unwrap();
        assert_eq!(
            after,
            format!(
                "# mine\n[h]:2222 {}\nother {}\nnot a valid line\n[h]:2222 {}\n",
                a.to_openssh_bare(),
                old.to_openssh_bare(),
                b.to_openssh_bare()
            )
        );
        let backup = PathBuf::from(format!("{}.old", f.display()));
        assert_eq!(fs::read_to_string(backup).unwrap(), before);
        // Hashed: the new line matches the host and nothing else.
        let c = key();
        replace_host_keys(
            &f,
            "h",
            2222,
            &[a.clone(), b.clone(), c.clone()],
            std::slice::from_ref(&c),
            true,
        )
        .unwrap();
        let kh = KnownHosts::load(std::slice::from_ref(&f)).unwrap();
        assert!(matches!(
            kh.check("h", 2222, &c),
            super::super::HostKeyStatus::Known { .. }
        ));
        assert!(fs::read_to_string(&f)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .starts_with("|1|"));
        // Nothing to do: the file is left alone.
        let mtime = fs::metadata(&f).unwrap().modified().unwrap();
        assert!(replace_host_keys(&f, "h", 2222, &[a, b, c], &[], false)
            .unwrap()
            .is_empty());
        assert_eq!(fs::metadata(&f).unwrap().modified().unwrap(), mtime);
    }

    #[test]
    fn a_missing_file_is_created_private_only_with_keys_to_add() {
        let f = tmp("missing");
        let a = key();
        assert!(replace_host_keys(&f, "h", 22, std::slice::from_ref(&a), &[], false)
            .unwrap()
            .is_empty());
        assert!(!f.exists());
        replace_host_keys(&f, "h", 22, std::slice::from_ref(&a), std::slice::from_ref(&a), false).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), format!("h {}\n", a.to_openssh_bare()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
