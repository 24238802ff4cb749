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
) -> Result<(), String> {
    let mut files = s.user_files.clone();
    files.extend(s.global_files.iter().cloned());
    let kh =
        KnownHosts::load(&files).map_err(|e| format!("cannot read known_hosts: {e}\nHost key verification failed."))?;
    match kh.check(host, port, key) {
        HostKeyStatus::Known { .. } => Ok(()),
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
                Ok(())
            } else {
                Err(warning)
            }
        }
        HostKeyStatus::Unknown => match s.mode {
            StrictMode::Yes => Err(known_hosts::unknown_host_refusal(host, port, key)),
            StrictMode::AcceptNew | StrictMode::No => record(s, host, port, key, notify),
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
                        return record(s, host, port, key, notify);
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

fn record(
    s: &TrustSettings,
    host: &str,
    port: u16,
    key: &AnyPublicKey,
    notify: &mut dyn FnMut(LogLevel, &str),
) -> Result<(), String> {
    let Some(path) = s.user_files.first() else {
        return Ok(());
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
    Ok(())
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
