//! User authentication through the sans-IO core, both roles: public key
//! queries and signatures (valid, forged, wrong session, wrong algorithm,
//! host-bound), password, keyboard-interactive, and order violations.

mod common;

use common::{key, pair, pump};
use tobira_proto::msg::userauth::{publickey_signed_data, InfoRequest, MethodData, Prompt, UserauthRequest};
use tobira_proto::{DisconnectReason, Event};
use zeroize::Zeroizing;

fn requests(events: &[Event]) -> Vec<tobira_proto::AuthRequest> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::AuthRequest(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn publickey_query_then_signature_for_every_key_type() {
    for name in [
        "host_ed25519",
        "host_ecdsa",
        "host_rsa",
        "user_ecdsa384",
        "user_ecdsa521",
    ] {
        let k = key(name);
        for alg in k.algorithms() {
            let (mut c, mut s) = pair();
            c.userauth_publickey_query("alice", alg, k.public_blob()).unwrap();
            let (_, se) = pump(&mut c, &mut s);
            let r = &requests(&se)[0];
            assert_eq!(r.signature_valid, None);
            s.auth_pk_ok(alg, k.public_blob()).unwrap();
            let (ce, _) = pump(&mut c, &mut s);
            assert!(ce.contains(&Event::AuthPkOk {
                algorithm: alg.to_string(),
                key_blob: k.public_blob().to_vec()
            }));
            let data = c.userauth_publickey_data("alice", alg, k.public_blob());
            let sig = k.sign(alg, &data).unwrap();
            c.userauth_publickey_signed("alice", alg, k.public_blob(), sig).unwrap();
            let (_, se) = pump(&mut c, &mut s);
            assert_eq!(requests(&se)[0].signature_valid, Some(true), "{name} {alg}");
            s.auth_accept().unwrap();
            let (ce, _) = pump(&mut c, &mut s);
            assert!(ce.contains(&Event::AuthSuccess));
            assert!(c.is_authenticated() && s.is_authenticated());
        }
    }
}

#[test]
fn forged_or_misdirected_signatures_do_not_verify() {
    let k = key("host_ed25519");
    let other = key("host_ecdsa");
    // Signature over another session identifier.
    let (mut c, mut s) = pair();
    let data = publickey_signed_data(
        &[7u8; 32],
        "alice",
        "ssh-connection",
        "ssh-ed25519",
        k.public_blob(),
        None,
    );
    c.userauth_publickey_signed(
        "alice",
        "ssh-ed25519",
        k.public_blob(),
        k.sign("ssh-ed25519", &data).unwrap(),
    )
    .unwrap();
    let (_, se) = pump(&mut c, &mut s);
    assert_eq!(requests(&se)[0].signature_valid, Some(false));
    // Signed by another key.
    let data = c.userauth_publickey_data("alice", "ssh-ed25519", k.public_blob());
    let wrong = other.sign("ecdsa-sha2-nistp256", &data).unwrap();
    c.userauth_publickey_signed("alice", "ssh-ed25519", k.public_blob(), wrong)
        .unwrap();
    let (_, se) = pump(&mut c, &mut s);
    assert_eq!(requests(&se)[0].signature_valid, Some(false));
    // Algorithm name that does not match the key.
    let data = c.userauth_publickey_data("alice", "rsa-sha2-256", k.public_blob());
    let sig = k.sign("ssh-ed25519", &data).unwrap();
    c.userauth_publickey_signed("alice", "rsa-sha2-256", k.public_blob(), sig)
        .unwrap();
    let (_, se) = pump(&mut c, &mut s);
    assert_eq!(requests(&se)[0].signature_valid, Some(false));
    // Signed for another user name.
    let data = c.userauth_publickey_data("mallory", "ssh-ed25519", k.public_blob());
    let sig = k.sign("ssh-ed25519", &data).unwrap();
    c.userauth_publickey_signed("alice", "ssh-ed25519", k.public_blob(), sig)
        .unwrap();
    let (_, se) = pump(&mut c, &mut s);
    assert_eq!(requests(&se)[0].signature_valid, Some(false));
}

#[test]
fn hostbound_publickey_checks_the_host_key() {
    let k = key("host_rsa");
    let host = key("host_ed25519");
    let wrong_host = key("host_ecdsa");
    for (hk, want) in [(&host, true), (&wrong_host, false)] {
        let (mut c, mut s) = pair();
        let sid = c.session_id().unwrap().to_vec();
        let data = publickey_signed_data(
            &sid,
            "alice",
            "ssh-connection",
            "rsa-sha2-512",
            k.public_blob(),
            Some(hk.public_blob()),
        );
        let req = UserauthRequest {
            user: "alice".into(),
            service: "ssh-connection".into(),
            method: MethodData::PublicKey {
                algorithm: "rsa-sha2-512".into(),
                key_blob: k.public_blob().to_vec(),
                host_key: Some(hk.public_blob().to_vec()),
                signature: Some(k.sign("rsa-sha2-512", &data).unwrap()),
            },
        };
        c.send_payload(req.encode().to_vec()).unwrap();
        let (_, se) = pump(&mut c, &mut s);
        assert_eq!(requests(&se)[0].signature_valid, Some(want));
    }
}

#[test]
fn password_change_request_and_keyboard_interactive() {
    let (mut c, mut s) = pair();
    c.userauth_password("bob", "old", None).unwrap();
    let (_, se) = pump(&mut c, &mut s);
    match &requests(&se)[0].request.method {
        MethodData::Password {
            password,
            new_password: None,
        } => assert_eq!(password.as_str(), "old"),
        m => panic!("{m:?}"),
    }
    s.auth_passwd_changereq("Password expired").unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    assert!(ce.contains(&Event::AuthPasswdChangeReq("Password expired".into())));
    c.userauth_password("bob", "old", Some("new")).unwrap();
    let (_, se) = pump(&mut c, &mut s);
    assert!(
        matches!(&requests(&se)[0].request.method, MethodData::Password { new_password: Some(n), .. } if n.as_str() == "new")
    );
    s.auth_reject(&["keyboard-interactive".into()], false).unwrap();
    pump(&mut c, &mut s);

    c.userauth_keyboard_interactive("bob").unwrap();
    let (_, se) = pump(&mut c, &mut s);
    assert!(matches!(
        requests(&se)[0].request.method,
        MethodData::KeyboardInteractive { .. }
    ));
    let q = InfoRequest {
        name: String::new(),
        instruction: String::new(),
        prompts: vec![Prompt {
            text: "Password: ".into(),
            echo: false,
        }],
    };
    s.auth_info_request(&q).unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    assert!(ce.contains(&Event::AuthInfoRequest(q)));
    c.userauth_info_response(&[Zeroizing::new("pw".into())]).unwrap();
    let (_, se) = pump(&mut c, &mut s);
    assert!(
        matches!(&se[..], [Event::AuthInfoResponse(r)] if r[0].as_str() == "pw"),
        "{se:?}"
    );
    s.auth_accept().unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    assert!(ce.contains(&Event::AuthSuccess));
}

#[test]
fn info_response_without_prompts_is_a_protocol_error() {
    let (mut c, mut s) = pair();
    c.send_payload(vec![61, 0, 0, 0, 0]).unwrap();
    let bytes = c.pending_output().to_vec();
    let e = s.feed(&bytes).unwrap_err();
    assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError));
}

#[test]
fn truncated_userauth_requests_are_clean_disconnects() {
    let k = key("host_ed25519");
    let full = UserauthRequest {
        user: "alice".into(),
        service: "ssh-connection".into(),
        method: MethodData::PublicKey {
            algorithm: "ssh-ed25519".into(),
            key_blob: k.public_blob().to_vec(),
            host_key: None,
            signature: Some(vec![1; 83]),
        },
    }
    .encode();
    for cut in 1..full.len() {
        let (mut c, mut s) = pair();
        c.send_payload(full[..cut].to_vec()).unwrap();
        let bytes = c.pending_output().to_vec();
        let e = s.feed(&bytes).unwrap_err();
        assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError), "cut {cut}");
        assert!(e.to_string().starts_with("malformed message"), "{e}");
    }
    // Oversized length fields.
    let (mut c, mut s) = pair();
    c.send_payload(vec![50, 0xff, 0xff, 0xff, 0xff, b'a']).unwrap();
    let bytes = c.pending_output().to_vec();
    assert!(s.feed(&bytes).is_err());
}

#[test]
fn after_success_connection_messages_are_allowed_and_requests_ignored() {
    let (mut c, mut s) = pair();
    c.userauth_password("bob", "pw", None).unwrap();
    pump(&mut c, &mut s);
    s.auth_accept().unwrap();
    pump(&mut c, &mut s);
    // A late request is ignored (RFC 4252 §5.1); a global request gets an answer, not a disconnect.
    c.userauth_password("bob", "again", None).unwrap();
    c.send_payload(vec![80, 0, 0, 0, 1, b'x', 0]).unwrap();
    let (_, se) = pump(&mut c, &mut s);
    assert!(requests(&se).is_empty());
    assert!(!s.is_closed() && !c.is_closed());
}

/// RFC 8308 §2.4: a per-user EXT_INFO may precede USERAUTH_SUCCESS.
#[test]
fn per_user_server_sig_algs_before_success() {
    let (mut c, mut s) = pair();
    c.userauth_password("bob", "pw", None).unwrap();
    pump(&mut c, &mut s);
    s.auth_accept_with_sig_algs(Some(vec!["ssh-ed25519".into()])).unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    let ext = ce.iter().position(|e| matches!(e, Event::ExtInfo(_))).unwrap();
    let ok = ce.iter().position(|e| *e == Event::AuthSuccess).unwrap();
    assert!(ext < ok);
    assert_eq!(c.server_sig_algs().unwrap(), ["ssh-ed25519".to_string()]);
}
