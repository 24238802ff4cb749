//! The agent protocol client (`tobira::agent::AgentClient`): the replies
//! of a hostile agent.
//!
//! The client only talks to a Unix socket, so each input is served by an
//! in-process "agent": a listener in a temporary directory; for each input
//! the harness connects, accepts, writes the reply bytes and shuts its end
//! down, then runs requests on the client, which reads them.
//!
//! Input: `[ops] replies`: each bit pair of `ops` (low first) picks one
//! request on the same connection: 0 = identities, 1 = sign with
//! `ssh-ed25519`, 2 = sign with `rsa-sha2-512`, 3 = sign with
//! `rsa-sha2-256` (so a desynchronised connection is exercised too).
//! `replies` is the whole byte stream the agent sends (frames and all).
//!
//! Oracles: no panic; identities never exceed `MAX_IDENTITIES` and never
//! have an empty key blob; a returned signature blob starts with the
//! requested algorithm name.
#![no_main]

use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tobira::agent::{AgentClient, MAX_IDENTITIES};
use tobira_proto::wire::Reader;

struct Agent {
    listener: UnixListener,
    path: PathBuf,
}

fn agent() -> &'static Agent {
    static A: OnceLock<Agent> = OnceLock::new();
    A.get_or_init(|| {
        let dir = tobira_fuzz::scratch_dir("agent");
        let path = dir.join("agent.sock");
        let listener = UnixListener::bind(&path).expect("bind agent socket");
        Agent { listener, path }
    })
}

/// Bounded so that the whole reply fits in the socket buffer before the
/// client reads (the harness writes it in one go, single-threaded).
const MAX_REPLY: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&ops, replies)) = data.split_first() else {
        return;
    };
    if replies.len() > MAX_REPLY {
        return;
    }
    let a = agent();
    let Ok(mut client) = AgentClient::connect(&a.path) else {
        return;
    };
    let Ok((mut server, _)) = a.listener.accept() else {
        return;
    };
    server.write_all(replies).expect("reply fits in the socket buffer");
    let _ = server.shutdown(Shutdown::Write);
    // Nothing blocks: the reply is complete and then EOF. A short timeout
    // anyway, so a bug cannot hang the fuzzer.
    let _ = client.set_timeout(Some(Duration::from_secs(5)));
    let blob = {
        let mut b = Vec::new();
        tobira_proto::wire::Writer::put_string(&mut b, b"ssh-ed25519");
        tobira_proto::wire::Writer::put_string(&mut b, &[7u8; 32]);
        b
    };
    for i in 0..4 {
        match (ops >> (2 * i)) & 3 {
            0 => {
                if let Ok(ids) = client.identities() {
                    assert!(ids.len() <= MAX_IDENTITIES);
                    assert!(ids.iter().all(|id| !id.key_blob.is_empty()));
                }
            }
            op => {
                let alg = ["ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"][op as usize - 1];
                if let Ok(sig) = client.sign(&blob, b"data to sign", alg) {
                    let mut r = Reader::new(&sig);
                    assert_eq!(r.utf8().ok(), Some(alg), "signature blob of another algorithm");
                }
            }
        }
    }
});
