//! The server's authentication policy decided directly on requests, with a
//! throw-away system account (the tests run as root, as CI does): a query
//! never authenticates; a valid signature by an unlisted key fails; an
//! invalid signature by a listed key fails; a listed key with a valid
//! signature succeeds.

use std::process::Command;
use std::time::Duration;

use tobira::config::server::ServerConfig;
use tobira::server_auth::{AuthState, Decision, PolicyContext};
use tobira_proto::msg::userauth::{MethodData, UserauthRequest};
use tobira_proto::AuthRequest;

struct User(String);

impl Drop for User {
    fn drop(&mut self) {
        for _ in 0..50 {
            if Command::new("userdel")
                .args(["-r", "-f", &self.0])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn key_line(dir: &std::path::Path, name: &str) -> (ssh_key::PublicKey, String) {
    let p = dir.join(name);
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", "ed25519", "-f"])
        .arg(&p)
        .status()
        .unwrap()
        .success());
    let line = std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
    (ssh_key::PublicKey::from_openssh(line.trim()).unwrap(), line)
}

fn request(user: &str, key: &ssh_key::PublicKey, signed: bool) -> UserauthRequest {
    UserauthRequest {
        user: user.into(),
        service: "ssh-connection".into(),
        method: MethodData::PublicKey {
            algorithm: "ssh-ed25519".into(),
            key_blob: key.to_bytes().unwrap(),
            host_key: None,
            signature: signed.then(|| vec![0u8; 83]),
        },
    }
}

#[test]
fn publickey_decisions() {
    assert!(
        Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false),
        "this test creates a system account and must run as root (CI does)"
    );
    let name = format!("tbp{}", std::process::id() % 100_000);
    let home = std::env::temp_dir().join(format!("tobira-policy-{name}"));
    let _ = std::fs::remove_dir_all(&home);
    assert!(Command::new("useradd")
        .args(["-m", "-d"])
        .arg(&home)
        .args(["-s", "/bin/sh", &name])
        .status()
        .unwrap()
        .success());
    let _user = User(name.clone());
    // "*": no password, but not locked, so keys may log in (a fresh account's "!" is locked).
    assert!(Command::new("usermod")
        .args(["-p", "*", &name])
        .status()
        .unwrap()
        .success());
    let dir = home.join(".ssh");
    std::fs::create_dir_all(&dir).unwrap();
    let (listed, listed_line) = key_line(&dir, "listed");
    let (unlisted, _) = key_line(&dir, "unlisted");
    std::fs::write(dir.join("authorized_keys"), listed_line).unwrap();
    Command::new("chown")
        .arg("-R")
        .arg(format!("{name}:{name}"))
        .arg(&home)
        .status()
        .unwrap();
    Command::new("chmod").arg("700").arg(&dir).status().unwrap();

    let ctx = PolicyContext {
        config: std::sync::Arc::new(ServerConfig::defaults(true)),
        is_root: true,
        peer: "127.0.0.1:5555".parse().unwrap(),
    };
    let mut st = AuthState::new(ctx);
    // A query for a listed key: PK_OK, never success.
    let o = st.decide(&AuthRequest {
        request: request(&name, &listed, false),
        signature_valid: None,
    });
    assert!(
        matches!(o.decision, Decision::PkOk { .. }),
        "{:?} {:?}",
        o.decision,
        o.log
    );
    // A query with a forged "valid" flag still cannot authenticate: no signature.
    let o = st.decide(&AuthRequest {
        request: request(&name, &listed, false),
        signature_valid: Some(true),
    });
    assert!(matches!(o.decision, Decision::PkOk { .. }), "{:?}", o.decision);
    // A valid signature by an unlisted key: failure.
    let o = st.decide(&AuthRequest {
        request: request(&name, &unlisted, true),
        signature_valid: Some(true),
    });
    assert_eq!(o.decision, Decision::Reject { partial: false });
    // A listed key whose signature did not verify: failure, logged.
    let o = st.decide(&AuthRequest {
        request: request(&name, &listed, true),
        signature_valid: Some(false),
    });
    assert_eq!(o.decision, Decision::Reject { partial: false });
    assert!(
        o.log.iter().any(|l| l.starts_with(&format!(
            "Failed publickey for {name} from 127.0.0.1 port 5555 ssh2: ED25519 SHA256:"
        ))),
        "{:?}",
        o.log
    );
    // A listed key with a verified signature: success, logged as sshd does.
    let o = st.decide(&AuthRequest {
        request: request(&name, &listed, true),
        signature_valid: Some(true),
    });
    assert_eq!(o.decision, Decision::Accept);
    assert!(
        o.log.iter().any(|l| l.starts_with(&format!(
            "Accepted publickey for {name} from 127.0.0.1 port 5555 ssh2: ED25519 SHA256:"
        ))),
        "{:?}",
        o.log
    );
    // The user name may not change within a connection.
    let o = st.decide(&AuthRequest {
        request: request("root", &listed, true),
        signature_valid: Some(true),
    });
    assert!(matches!(o.decision, Decision::Disconnect(_)), "{:?}", o.decision);
}
