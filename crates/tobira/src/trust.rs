//! The client's host-key trust decision (the seed's step 3g; ssh(1)
//! `StrictHostKeyChecking`): known_hosts lookup, the interactive question,
//! and recording accepted keys.

use std::path::PathBuf;

use crate::config::LogLevel;
use crate::known_hosts::{self, HostKeyStatus, KnownHosts};
use crate::pubkey::AnyPublicKey;

pub use crate::config::client::StrictHostKeyChecking as StrictMode;

/// Where to look and what to do.
#[derive(Debug, Clone)]
pub struct TrustSettings {
    /// `UserKnownHostsFile`: the first one receives new keys.
    pub user_files: Vec<PathBuf>,
    /// `GlobalKnownHostsFile`.
    pub global_files: Vec<PathBuf>,
    /// `StrictHostKeyChecking`.
    pub mode: StrictMode,
    /// `HashKnownHosts`.
    pub hash: bool,
    /// `BatchMode`: never ask.
    pub batch: bool,
}

/// How the server's host key came to be trusted. Only a key listed in the
/// user's own files under the host's exact name, or one the user
/// confirmed, lets the server update known_hosts later (ssh(1)'s
/// `check_host_key` turns `UpdateHostKeys` off in every other case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trusted {
    /// Listed in a `UserKnownHostsFile` under `[host]:port` (`host` on 22).
    KnownToUser,
    /// Listed in a `GlobalKnownHostsFile`, or only under the bare name.
    KnownOtherwise,
    /// The user answered the question with yes or the fingerprint.
    Confirmed,
    /// Recorded without asking (`accept-new`, `no`).
    AddedUnasked,
    /// A changed key let through by `StrictHostKeyChecking no`.
    Unverified,
}

impl Trusted {
    /// Whether the server may update known_hosts (`UpdateHostKeys`).
    pub fn may_update_known_hosts(self) -> bool {
        matches!(self, Trusted::KnownToUser | Trusted::Confirmed)
    }
}

/// How the user is asked: shows the question, returns the answer line, or
/// `None` when there is no terminal.
pub type Prompter<'a> = dyn FnMut(&str) -> Option<String> + 'a;

/// Decides whether to trust `key` for `host`:`port`. Messages for the user
/// (warnings, "Permanently added") go to `notify` with the level ssh logs
/// them at (ERROR, INFO), for the caller to filter by its `LogLevel`. `Err` holds the text to
/// print before exiting (ending in "Host key verification failed.").
pub fn decide(
    s: &TrustSettings,
    host: &str,
    port: u16,
    key: &AnyPublicKey,
    prompt: &mut Prompter<'_>,
    notify: &mut dyn FnMut(LogLevel, &str),
) -> Result<Trusted, String> {
    let mut files = s.user_files.clone();
    files.extend(s.global_files.iter().cloned());
    let kh =
        KnownHosts::load(&files).map_err(|e| format!("cannot read known_hosts: {e}\nHost key verification failed."))?;
    match kh.check(host, port, key) {
        HostKeyStatus::Known { .. } => {
            let listed = kh.file_listing_exactly(host, port, key);
            if listed.is_some_and(|p| s.user_files.iter().any(|u| u == p)) {
                Ok(Trusted::KnownToUser)
            } else {
                Ok(Trusted::KnownOtherwise)
            }
        }
        HostKeyStatus::Revoked { .. } => Err(known_hosts::revoked_key_warning(host, port, key)),
        HostKeyStatus::Changed { path, line } => {
            let warning = known_hosts::changed_key_warning(host, port, key, &path, line);
            if s.mode == StrictMode::No {
                notify(
                    LogLevel::Error,
                    &warning.replace(
                    &format!("Host key for {} has changed and you have requested strict checking.\nHost key verification failed.", known_hosts::host_name_for(host, port)),
                    "",
                ));
                Ok(Trusted::Unverified)
            } else {
                Err(warning)
            }
        }
        HostKeyStatus::Unknown => match s.mode {
            StrictMode::Yes => Err(known_hosts::unknown_host_refusal(host, port, key)),
            StrictMode::AcceptNew | StrictMode::No => {
                record(s, host, port, key, notify);
                Ok(Trusted::AddedUnasked)
            }
            StrictMode::Ask => {
                if s.batch {
                    return Err("Host key verification failed.".to_string());
                }
                let question = kh.unknown_host_message(host, port, None, key);
                let fp = key.fingerprint();
                let mut q = question;
                loop {
                    let Some(answer) = prompt(&q) else {
                        return Err("Host key verification failed.".to_string());
                    };
                    let a = answer.trim();
                    if a.eq_ignore_ascii_case("yes") || a == fp {
                        record(s, host, port, key, notify);
                        return Ok(Trusted::Confirmed);
                    }
                    if a.eq_ignore_ascii_case("no") {
                        return Err("Host key verification failed.".to_string());
                    }
                    q = "Please type 'yes', 'no' or the fingerprint: ".to_string();
                }
            }
        },
    }
}

fn record(s: &TrustSettings, host: &str, port: u16, key: &AnyPublicKey, notify: &mut dyn FnMut(LogLevel, &str)) {
    let Some(path) = s.user_files.first() else {
        return;
    };
    match known_hosts::append(path, host, port, key, s.hash) {
        Ok(()) => notify(LogLevel::Info, &known_hosts::permanently_added_message(host, port, key)),
        Err(e) => notify(
            LogLevel::Error,
            &format!(
                "Failed to add the host to the list of known hosts ({}): {e}\n",
                path.display()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tobira-trust-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join("known_hosts")
    }

    fn key() -> AnyPublicKey {
        ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap()
            .public_key()
            .into()
    }

    fn settings(file: PathBuf, mode: StrictMode) -> TrustSettings {
        TrustSettings {
            user_files: vec![file],
            global_files: vec![],
            mode,
            hash: false,
            batch: false,
        }
    }

    #[test]
    fn ask_yes_records_then_known_then_changed_refused() {
        let f = tmp("ask");
        let s = settings(f.clone(), StrictMode::Ask);
        let k = key();
        let mut asked = Vec::new();
        let mut notes = Vec::new();
        let mut answers = vec!["maybe".to_string(), "yes".to_string()].into_iter();
        decide(
            &s,
            "example",
            2222,
            &k,
            &mut |q| {
                asked.push(q.to_string());
                answers.next()
            },
            &mut |_, n| notes.push(n.to_string()),
        )
        .unwrap();
        assert!(
            asked[0].contains("The authenticity of host '[example]:2222"),
            "{}",
            asked[0]
        );
        assert!(asked[0].contains("ED25519 key fingerprint is SHA256:"));
        assert_eq!(asked[1], "Please type 'yes', 'no' or the fingerprint: ");
        assert!(notes[0].contains("Permanently added '[example]:2222' (ED25519)"));
        assert!(std::fs::read_to_string(&f)
            .unwrap()
            .starts_with("[example]:2222 ssh-ed25519 "));
        decide(&s, "example", 2222, &k, &mut |_| panic!("asked again"), &mut |_, _| {}).unwrap();
        let other = key();
        let e = decide(&s, "example", 2222, &other, &mut |_| panic!("asked"), &mut |_, _| {}).unwrap_err();
        assert!(e.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "{e}");
        assert!(
            e.contains(&format!("Offending ED25519 key in {}:1", f.display())),
            "{e}"
        );
        assert!(e.trim_end().ends_with("Host key verification failed."), "{e}");
    }

    /// Only a key in the user's own file under the exact name, or one the
    /// user confirmed, may let the server update known_hosts.
    #[test]
    fn how_the_key_came_to_be_trusted() {
        let k = key();
        let f = tmp("trusted");
        let global = f.with_file_name("global");
        let mut s = settings(f.clone(), StrictMode::Yes);
        s.global_files = vec![global.clone()];
        let quiet = &mut |_: LogLevel, _: &str| {};
        let never = &mut |_: &str| -> Option<String> { panic!("asked") };
        std::fs::write(&f, format!("[h]:2222 {}\n", k.to_openssh_bare())).unwrap();
        assert_eq!(decide(&s, "h", 2222, &k, never, quiet), Ok(Trusted::KnownToUser));
        std::fs::write(&f, format!("h {}\n", k.to_openssh_bare())).unwrap();
        assert_eq!(decide(&s, "h", 2222, &k, never, quiet), Ok(Trusted::KnownOtherwise));
        std::fs::write(&f, "").unwrap();
        std::fs::write(&global, format!("[h]:2222 {}\n", k.to_openssh_bare())).unwrap();
        assert_eq!(decide(&s, "h", 2222, &k, never, quiet), Ok(Trusted::KnownOtherwise));
        std::fs::write(&global, "").unwrap();
        s.mode = StrictMode::AcceptNew;
        assert_eq!(decide(&s, "h", 2222, &k, never, quiet), Ok(Trusted::AddedUnasked));
        s.mode = StrictMode::No;
        assert_eq!(decide(&s, "h", 2222, &key(), never, quiet), Ok(Trusted::Unverified));
        let s = settings(tmp("confirmed"), StrictMode::Ask);
        let yes = &mut |_: &str| Some("yes".to_string());
        assert_eq!(decide(&s, "h", 2222, &k, yes, quiet), Ok(Trusted::Confirmed));
        assert!(Trusted::KnownToUser.may_update_known_hosts() && Trusted::Confirmed.may_update_known_hosts());
        for t in [Trusted::KnownOtherwise, Trusted::AddedUnasked, Trusted::Unverified] {
            assert!(!t.may_update_known_hosts(), "{t:?}");
        }
    }

    #[test]
    fn fingerprint_answer_accepts_and_no_refuses() {
        let k = key();
        let fp = k.fingerprint();
        let s = settings(tmp("fp"), StrictMode::Ask);
        decide(&s, "h", 22, &k, &mut |_| Some(fp.clone()), &mut |_, _| {}).unwrap();
        let s = settings(tmp("no"), StrictMode::Ask);
        assert!(decide(&s, "h", 22, &k, &mut |_| Some("no".into()), &mut |_, _| {}).is_err());
        assert!(decide(&s, "h", 22, &k, &mut |_| None, &mut |_, _| {}).is_err());
    }

    #[test]
    fn strict_yes_and_accept_new_and_batch() {
        let k = key();
        let s = settings(tmp("yes"), StrictMode::Yes);
        let e = decide(&s, "h", 22, &k, &mut |_| panic!(), &mut |_, _| {}).unwrap_err();
        assert!(
            e.starts_with("No ED25519 host key is known for h and you have requested strict checking."),
            "{e}"
        );
        let s = settings(tmp("new"), StrictMode::AcceptNew);
        decide(&s, "h", 22, &k, &mut |_| panic!(), &mut |_, _| {}).unwrap();
        assert!(decide(&s, "h", 22, &key(), &mut |_| panic!(), &mut |_, _| {}).is_err());
        let mut s = settings(tmp("batch"), StrictMode::Ask);
        s.batch = true;
        assert_eq!(
            decide(&s, "h", 22, &k, &mut |_| panic!(), &mut |_, _| {}).unwrap_err(),
            "Host key verification failed."
        );
    }

    #[test]
    fn ed448_host_key_recorded_then_known() {
        // `puttygen -t ed448` public keys and the first one's `puttygen -l`.
        let k = AnyPublicKey::from_openssh("ssh-ed448 AAAACXNzaC1lZDQ0OAAAADngoFvvNL3FAVti882HXOP2zbyKJRkRGLrYLeGYKPwTf/GzGyYhaeLzMBwg0riqqczxT18Do51czIA=").unwrap();
        let other = AnyPublicKey::from_openssh("ssh-ed448 AAAACXNzaC1lZDQ0OAAAADmvyiqCCbl1cjYFvwbpoQ7jtdrNtHlfqofMuIPyXD+WslQTwR9ZGhcAAyy4zX2RFj99SS4ZxHwEFAA=").unwrap();
        let f = tmp("ed448");
        let s = settings(f.clone(), StrictMode::Ask);
        let mut asked = String::new();
        let mut notes = String::new();
        decide(
            &s,
            "h",
            2222,
            &k,
            &mut |q| {
                asked.push_str(q);
                Some("SHA256:k02Oun4Vx52/6IZ3OMJI3idPZrdFu8UfPi/VUj0aQrU".into())
            },
            &mut |_, n| notes.push_str(n),
        )
        .unwrap();
        assert!(
            asked.contains("ED448 key fingerprint is SHA256:k02Oun4Vx52/6IZ3OMJI3idPZrdFu8UfPi/VUj0aQrU."),
            "{asked}"
        );
        assert!(notes.contains("Permanently added '[h]:2222' (ED448)"), "{notes}");
        let text = std::fs::read_to_string(&f).unwrap();
        assert_eq!(text, format!("[h]:2222 {}\n", k.to_openssh_bare()));
        let s = settings(f.clone(), StrictMode::Yes);
        decide(&s, "h", 2222, &k, &mut |_| panic!("asked again"), &mut |_, _| {}).unwrap();
        let e = decide(&s, "h", 2222, &other, &mut |_| panic!("asked"), &mut |_, _| {}).unwrap_err();
        assert!(e.contains("Offending ED448 key"), "{e}");
    }
}
