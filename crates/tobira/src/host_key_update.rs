//! The client's side of host key rotation (ssh_config(5) `UpdateHostKeys`;
//! OpenSSH PROTOCOL §2.5): after authentication the server lists all its
//! host keys; keys we lack are learned once the server has proven, by a
//! signature over this session, that it holds them, and keys the server
//! no longer has are dropped from the user's known_hosts. The protocol
//! steps are the core's ([`tobira_proto::Event::HostKeysOffered`],
//! [`tobira_proto::Connection::prove_host_keys`]); this module decides and
//! writes, as ssh(1)'s `client_input_hostkeys` and `update_known_hosts`.

use std::path::PathBuf;

use crate::config::client::UpdateHostKeys;
use crate::config::LogLevel;
use crate::known_hosts::{self, KnownHosts};
use crate::pubkey::AnyPublicKey;

/// What the update may do and where.
#[derive(Debug, Clone)]
pub struct UpdateSettings {
    /// `UpdateHostKeys` (`yes` or `ask`; `no` means no updater at all).
    pub mode: UpdateHostKeys,
    /// `UserKnownHostsFile`: the first receives new keys; retired keys
    /// are removed from all.
    pub user_files: Vec<PathBuf>,
    /// `HashKnownHosts`.
    pub hash: bool,
    /// The host as known_hosts names it (`HostName`) and its port.
    pub host: String,
    /// The port.
    pub port: u16,
    /// `HostKeyAlgorithms`: keys of other types are not learned.
    pub host_key_algorithms: Vec<String>,
}

/// How the user is asked (`UpdateHostKeys ask`): shows the question and
/// returns the answer, or `None` without a terminal.
pub type Prompter<'a> = dyn FnMut(&str) -> Option<String> + 'a;
/// Where messages go, with the level ssh(1) logs them at.
pub type Notify<'a> = dyn FnMut(LogLevel, &str) + 'a;

/// One connection's host key update.
#[derive(Debug, Clone)]
pub struct HostKeyUpdate {
    s: UpdateSettings,
    /// Waiting for the proof.
    pending: Option<Pending>,
    done: bool,
}

/// What an update waits on the server's proof to do.
#[derive(Debug, Clone)]
struct Pending {
    /// Every usable key the server offered.
    offered: Vec<AnyPublicKey>,
    /// The offered keys not yet known for the host (those to prove).
    new: Vec<AnyPublicKey>,
    /// Keys listed for the host that the server no longer offers.
    retired: Vec<AnyPublicKey>,
}

impl HostKeyUpdate {
    /// An updater for a connection whose host key the user's files vouched
    /// for, or the user confirmed; `None` when `UpdateHostKeys` is `no`
    /// or there is no user file.
    pub fn new(s: UpdateSettings) -> Option<Self> {
        if s.mode == UpdateHostKeys::No || s.user_files.is_empty() {
            return None;
        }
        Some(HostKeyUpdate {
            s,
            pending: None,
            done: false,
        })
    }

    /// Takes the server's list of host key blobs (its
    /// `hostkeys-00@openssh.com`). Returns the blobs the server must prove
    /// (for [`tobira_proto::Connection::prove_host_keys`]); when only
    /// retired keys are to go, the files are updated at once.
    pub fn offered(&mut self, blobs: &[Vec<u8>], prompt: &mut Prompter<'_>, notify: &mut Notify<'_>) -> Vec<Vec<u8>> {
        if std::mem::replace(&mut self.done, true) {
            return Vec::new();
        }
        let mut offered: Vec<(AnyPublicKey, &Vec<u8>)> = Vec::new();
        for blob in blobs {
            let key = match AnyPublicKey::from_blob(blob) {
                Ok(k) => k,
                Err(e) => {
                    notify(
                        LogLevel::Debug1,
                        &format!("debug1: server sent unusable host key: {e}\n"),
                    );
                    continue;
                }
            };
            if !self.allowed(&key) {
                notify(
                    LogLevel::Debug1,
                    &format!(
                        "debug1: {} host key is not permitted by HostkeyAlgorithms\n",
                        key.key_type()
                    ),
                );
                continue;
            }
            if offered.iter().any(|(k, _)| k.same_key(&key)) {
                notify(
                    LogLevel::Error,
                    &format!("received duplicated {} host key\n", key.key_type()),
                );
                return Vec::new();
            }
            offered.push((key, blob));
        }
        if offered.is_empty() {
            notify(LogLevel::Debug1, "debug1: server sent no hostkeys\n");
            return Vec::new();
        }
        if let Some(odd) = self.s.user_files.iter().find(|p| p.exists() && !p.is_file()) {
            notify(
                LogLevel::Debug1,
                &format!(
                    "debug1: not updating known_hosts: {} is not a regular file\n",
                    odd.display()
                ),
            );
            return Vec::new();
        }
        let known = match KnownHosts::load(&self.s.user_files) {
            Ok(k) => k,
            Err(e) => {
                notify(LogLevel::Error, &format!("cannot read known_hosts: {e}\n"));
                return Vec::new();
            }
        };
        let keys: Vec<AnyPublicKey> = offered.iter().map(|(k, _)| k.clone()).collect();
        let view = known.rotation_view(&self.s.host, self.s.port, &keys);
        if view.new.is_empty() && view.retired.is_empty() {
            notify(LogLevel::Debug1, "debug1: host keys unchanged\n");
            return Vec::new();
        }
        if let Some(why) = view.blocked {
            notify(LogLevel::Debug1, &format!("debug1: not updating known_hosts: {why}\n"));
            return Vec::new();
        }
        if view.new.is_empty() {
            self.apply(&keys, &[], &view.retired, prompt, notify);
            return Vec::new();
        }
        let new: Vec<AnyPublicKey> = view.new.iter().map(|&i| keys[i].clone()).collect();
        let to_prove = view.new.iter().map(|&i| offered[i].1.clone()).collect();
        self.pending = Some(Pending {
            offered: keys,
            new,
            retired: view.retired,
        });
        to_prove
    }

    /// Takes the keys the server proved (the core's
    /// [`tobira_proto::Event::HostKeysProven`]) and updates the files.
    pub fn proven(&mut self, blobs: &[Vec<u8>], prompt: &mut Prompter<'_>, notify: &mut Notify<'_>) {
        let Some(Pending { offered, new, retired }) = self.pending.take() else {
            return;
        };
        let proven: Vec<AnyPublicKey> = blobs.iter().filter_map(|b| AnyPublicKey::from_blob(b).ok()).collect();
        let learned: Vec<AnyPublicKey> = new
            .into_iter()
            .filter(|k| proven.iter().any(|p| p.same_key(k)))
            .collect();
        if learned.is_empty() && retired.is_empty() {
            return;
        }
        self.apply(&offered, &learned, &retired, prompt, notify);
    }

    /// Whether `HostKeyAlgorithms` lets a key of this type be used.
    fn allowed(&self, key: &AnyPublicKey) -> bool {
        self.s
            .host_key_algorithms
            .iter()
            .any(|a| tobira_proto::hostkey::key_type_for(a) == key.key_type())
    }

    /// Tells the user, asks when `ask`, and rewrites the files: the first
    /// gets `learned`, every one loses the host's lines not in `offered`.
    fn apply(
        &self,
        offered: &[AnyPublicKey],
        learned: &[AnyPublicKey],
        retired: &[AnyPublicKey],
        prompt: &mut Prompter<'_>,
        notify: &mut Notify<'_>,
    ) {
        let ask = self.s.mode == UpdateHostKeys::Ask;
        let level = if ask { LogLevel::Info } else { LogLevel::Verbose };
        if ask {
            notify(
                level,
                "The server has updated its host keys.\nThese changes were verified by the server's existing trusted key.\n",
            );
        }
        for k in learned {
            notify(
                level,
                &format!("Learned new hostkey: {} {}\n", k.type_label(), k.fingerprint()),
            );
        }
        for k in retired {
            notify(
                level,
                &format!("Deprecating obsolete hostkey: {} {}\n", k.type_label(), k.fingerprint()),
            );
        }
        if ask && !confirmed(prompt, &mut |m| notify(level, m)) {
            return;
        }
        for (i, path) in self.s.user_files.iter().enumerate() {
            // Only the first file is created if missing (for additions).
            let add = if i == 0 { learned } else { &[] };
            match known_hosts::replace_host_keys(path, &self.s.host, self.s.port, offered, add, self.s.hash) {
                Ok(removed) => {
                    let shown = known_hosts::host_name_for(&self.s.host.to_ascii_lowercase(), self.s.port);
                    for r in removed {
                        notify(
                            LogLevel::Verbose,
                            &format!(
                                "{}:{}: Removed {} key for host {shown}\n",
                                path.display(),
                                r.line,
                                r.key.type_label()
                            ),
                        );
                    }
                    for k in add {
                        notify(
                            LogLevel::Verbose,
                            &format!(
                                "Adding new key for {shown} to {}: {} {}\n",
                                path.display(),
                                k.key_type(),
                                k.fingerprint()
                            ),
                        );
                    }
                }
                Err(e) => notify(
                    LogLevel::Error,
                    &format!("hostfile_replace_entries failed for {}: {e}\n", path.display()),
                ),
            }
        }
    }
}

/// ssh(1)'s question, up to three times.
fn confirmed(prompt: &mut Prompter<'_>, say: &mut dyn FnMut(&str)) -> bool {
    for _ in 0..3 {
        let Some(answer) = prompt("Accept updated hostkeys? (yes/no): ") else {
            return false;
        };
        match answer.trim() {
            a if a.eq_ignore_ascii_case("yes") => return true,
            a if a.eq_ignore_ascii_case("no") => return false,
            _ => say("Please enter \"yes\" or \"no\"\n"),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(alg: ssh_key::Algorithm) -> AnyPublicKey {
        ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, alg)
            .unwrap()
            .public_key()
            .into()
    }

    fn ed() -> AnyPublicKey {
        key(ssh_key::Algorithm::Ed25519)
    }

    fn settings(dir: &str, mode: UpdateHostKeys) -> UpdateSettings {
        let d = std::env::temp_dir().join(format!("tobira-hku-{}-{dir}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        UpdateSettings {
            mode,
            user_files: vec![d.join("known_hosts"), d.join("known_hosts2")],
            hash: false,
            host: "h".into(),
            port: 2222,
            host_key_algorithms: vec!["ssh-ed25519".into(), "rsa-sha2-512".into()],
        }
    }

    fn blobs(keys: &[&AnyPublicKey]) -> Vec<Vec<u8>> {
        keys.iter().map(|k| k.blob().to_vec()).collect()
    }

    fn write(s: &UpdateSettings, i: usize, keys: &[&AnyPublicKey]) {
        let text: String = keys
            .iter()
            .map(|k| format!("[h]:2222 {}\n", k.to_openssh_bare()))
            .collect();
        std::fs::write(&s.user_files[i], text).unwrap();
    }

    fn read(s: &UpdateSettings, i: usize) -> String {
        std::fs::read_to_string(&s.user_files[i]).unwrap_or_default()
    }

    #[test]
    fn a_new_key_is_proven_then_learned_and_a_retired_one_dropped_everywhere() {
        let s = settings("learn", UpdateHostKeys::Yes);
        let (known, new, retired) = (ed(), ed(), ed());
        write(&s, 0, &[&known, &retired]);
        write(&s, 1, &[&retired]);
        let mut u = HostKeyUpdate::new(s.clone()).unwrap();
        let mut notes = String::new();
        let ask = &mut |_: &str| -> Option<String> { panic!("asked in yes mode") };
        let to_prove = u.offered(&blobs(&[&known, &new]), ask, &mut |_, m| notes.push_str(m));
        assert_eq!(to_prove, blobs(&[&new]));
        assert_eq!(read(&s, 0).lines().count(), 2, "nothing written before the proof");
        u.proven(&to_prove, ask, &mut |_, m| notes.push_str(m));
        assert_eq!(
            read(&s, 0),
            format!(
                "[h]:2222 {}\n[h]:2222 {}\n",
                known.to_openssh_bare(),
                new.to_openssh_bare()
            )
        );
        assert_eq!(read(&s, 1), "");
        assert!(
            notes.contains(&format!("Learned new hostkey: ED25519 {}", new.fingerprint())),
            "{notes}"
        );
        assert!(notes.contains(&format!(
            "Deprecating obsolete hostkey: ED25519 {}",
            retired.fingerprint()
        )));
        // Once per connection.
        assert!(u.offered(&blobs(&[&known, &ed()]), ask, &mut |_, _| {}).is_empty());
    }

    #[test]
    fn only_retired_keys_need_no_proof_and_an_unproven_key_is_not_learned() {
        let s = settings("retire", UpdateHostKeys::Yes);
        let (known, retired, new) = (ed(), ed(), ed());
        write(&s, 0, &[&known, &retired]);
        let mut u = HostKeyUpdate::new(s.clone()).unwrap();
        let ask = &mut |_: &str| -> Option<String> { None };
        assert!(u.offered(&blobs(&[&known]), ask, &mut |_, _| {}).is_empty());
        assert_eq!(read(&s, 0), format!("[h]:2222 {}\n", known.to_openssh_bare()));
        let mut u = HostKeyUpdate::new(s.clone()).unwrap();
        assert_eq!(u.offered(&blobs(&[&known, &new]), ask, &mut |_, _| {}).len(), 1);
        u.proven(&[], ask, &mut |_, _| {});
        assert_eq!(read(&s, 0), format!("[h]:2222 {}\n", known.to_openssh_bare()));
    }

    #[test]
    fn ask_mode_writes_only_on_yes() {
        let s = settings("ask", UpdateHostKeys::Ask);
        let (known, new) = (ed(), ed());
        write(&s, 0, &[&known]);
        for (answers, learned) in [
            (vec!["maybe", "no"], false),
            (vec!["x", "y", "z"], false),
            (vec!["YES"], true),
        ] {
            let mut u = HostKeyUpdate::new(s.clone()).unwrap();
            let mut answers = answers.into_iter();
            let mut asked = 0;
            let ask = &mut |q: &str| {
                assert_eq!(q, "Accept updated hostkeys? (yes/no): ");
                asked += 1;
                answers.next().map(str::to_string)
            };
            let mut notes = String::new();
            let to_prove = u.offered(&blobs(&[&known, &new]), ask, &mut |_, m| notes.push_str(m));
            u.proven(&to_prove, ask, &mut |l, m| {
                // Shown without -v, but for the rewrite's own lines.
                assert!(l <= LogLevel::Info || m.starts_with("Adding new key"), "{m}");
                notes.push_str(m)
            });
            assert!(notes.starts_with("The server has updated its host keys."), "{notes}");
            assert_eq!(read(&s, 0).contains(&new.to_openssh_bare()), learned);
            assert!(asked <= 3);
        }
    }

    #[test]
    fn duplicates_disallowed_types_and_garbage_are_handled_as_ssh_does() {
        let s = settings("filter", UpdateHostKeys::Yes);
        let known = ed();
        write(&s, 0, &[&known]);
        let ask = &mut |_: &str| -> Option<String> { None };
        let dup = ed();
        let mut errors = String::new();
        let mut u = HostKeyUpdate::new(s.clone()).unwrap();
        let offered = blobs(&[&known, &dup, &dup]);
        assert!(u
            .offered(&offered, ask, &mut |l, m| if l == LogLevel::Error {
                errors.push_str(m)
            })
            .is_empty());
        assert_eq!(errors, "received duplicated ssh-ed25519 host key\n");
        // An ECDSA key is outside HostKeyAlgorithms; garbage is skipped.
        let mut u = HostKeyUpdate::new(s.clone()).unwrap();
        let ecdsa = key(ssh_key::Algorithm::Ecdsa {
            curve: ssh_key::EcdsaCurve::NistP256,
        });
        let mut offered = blobs(&[&known, &ecdsa]);
        offered.push(b"\x00\x00\x00\x03abc".to_vec());
        assert!(u.offered(&offered, ask, &mut |_, _| {}).is_empty());
        assert_eq!(read(&s, 0), format!("[h]:2222 {}\n", known.to_openssh_bare()));
    }

    #[test]
    fn no_updater_when_off_or_without_files() {
        assert!(HostKeyUpdate::new(settings("off", UpdateHostKeys::No)).is_none());
        let mut s = settings("nofile", UpdateHostKeys::Yes);
        s.user_files.clear();
        assert!(HostKeyUpdate::new(s).is_none());
    }
}
