//! The `tobira` client against a server that does what tobirad and sshd
//! do not: a scripted server written with `tobira_proto::Connection` over
//! a blocking socket, which accepts any authentication and then sends
//! what each test says, recording how the client answers.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use rand::SeedableRng;
use tobira_proto::hostkey::SigningKey;
use tobira_proto::msg::connection::{ChannelKind, ChannelRequest};
use tobira_proto::{Config, Connection, Event};

/// The server half of one connection.
struct Scripted {
    s: TcpStream,
    c: Connection,
}

impl Scripted {
    /// Listens on a free port; `script` runs on the first connection, after
    /// authentication (any method is accepted), with the session channel
    /// the client opened, once its `exec` is answered with success.
    fn start<T: Send + 'static>(
        dir: &TempDir,
        script: impl FnOnce(&mut Scripted, u32) -> T + Send + 'static,
    ) -> (u16, JoinHandle<T>) {
        let path = dir.path("host_ed25519");
        ssh_keygen(&path, "ed25519", None);
        let key = ssh_key::PrivateKey::read_openssh_file(&path).unwrap();
        let config = Arc::new(Config {
            host_keys: vec![Arc::new(SigningKey::from_ssh_key(&key).unwrap())],
            ..Config::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let rng = Box::new(rand::rngs::StdRng::from_entropy());
            let mut p = Scripted {
                s,
                c: Connection::server(config, rng),
            };
            p.until(|c, e| match e {
                Event::AuthRequest(_) => {
                    c.auth_accept().unwrap();
                    true
                }
                _ => false,
            });
            let mut id = None;
            p.until(|c, e| match e {
                Event::ChannelOpenRequest {
                    id: i,
                    kind: ChannelKind::Session,
                } => {
                    c.channel_accept(*i).unwrap();
                    id = Some(*i);
                    false
                }
                Event::ChannelRequest {
                    request: ChannelRequest::Exec { .. },
                    ..
                } => {
                    c.channel_request_reply(id.unwrap(), true).unwrap();
                    true
                }
                Event::ChannelRequest {
                    id, want_reply: true, ..
                } => {
                    c.channel_request_reply(*id, true).unwrap();
                    false
                }
                _ => false,
            });
            script(&mut p, id.unwrap())
        });
        (port, h)
    }

    /// Sends what is pending, then reads and feeds until `f` returns true
    /// for an event; false when the client left or 20 s passed first.
    fn until(&mut self, mut f: impl FnMut(&mut Connection, &Event) -> bool) -> bool {
        let start = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(e) = self.c.poll_event() {
                if f(&mut self.c, &e) {
                    self.flush();
                    return true;
                }
            }
            self.flush();
            let left = Duration::from_secs(20).saturating_sub(start.elapsed());
            if left.is_zero() {
                return false;
            }
            self.s
                .set_read_timeout(Some(left.min(Duration::from_millis(200))))
                .unwrap();
            match self.s.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    if self.c.feed(&buf[..n]).is_err() {
                        return false;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return false,
            }
        }
    }

    fn flush(&mut self) {
        let n = self.c.pending_output().len();
        if n > 0 && self.s.write_all(self.c.pending_output()).is_ok() {
            self.c.consume_output(n);
        }
    }

    /// Sends `request` with want-reply on channel `id` and returns the
    /// client's answer (None: none came).
    fn ask(&mut self, id: u32, request: &ChannelRequest) -> Option<bool> {
        self.c.channel_request(id, request, true).unwrap();
        let mut answer = None;
        self.until(|_, e| match e {
            Event::ChannelRequestReply { id: i, success } if *i == id => {
                answer = Some(*success);
                true
            }
            _ => false,
        });
        answer
    }

    /// EOF and CLOSE, then waits for the client's CLOSE.
    fn close(&mut self, id: u32) {
        let _ = self.c.channel_eof(id);
        let _ = self.c.channel_close(id);
        self.until(|_, e| matches!(e, Event::ChannelClosed { .. }));
    }
}

fn tobira(port: u16) -> std::process::Output {
    run(
        client_command("tobira", "-T", port).args(["alice@127.0.0.1", "some command"]),
        Duration::from_secs(60),
    )
}

/// exit-status sent with want-reply: OpenSSH answers success, and so must
/// tobira; an answer never given would hold back every later one.
#[test]
fn exit_status_with_want_reply_is_answered() {
    let dir = TempDir::new("scripted-exit");
    let (port, server) = Scripted::start(&dir, |p, id| {
        p.c.channel_write(id, None, b"output\n").unwrap();
        let answer = p.ask(id, &ChannelRequest::ExitStatus { status: 7 });
        p.close(id);
        answer
    });
    let out = tobira(port);
    let answer = server.join().unwrap();
    assert_eq!(answer, Some(true), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(out.stdout, b"output\n");
}

/// exit-signal with want-reply is answered the same way; the client exits
/// 128 + the signal's number and shows its message.
#[test]
fn exit_signal_with_want_reply_is_answered() {
    let dir = TempDir::new("scripted-signal");
    let (port, server) = Scripted::start(&dir, |p, id| {
        let answer = p.ask(
            id,
            &ChannelRequest::ExitSignal {
                name: "TERM".into(),
                core_dumped: false,
                message: "terminated by the script".into(),
            },
        );
        p.close(id);
        answer
    });
    let out = run(
        client_command_logging("tobira", "-T", port).args(["alice@127.0.0.1", "some command"]),
        Duration::from_secs(60),
    );
    let answer = server.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(answer, Some(true), "{err}");
    assert_eq!(out.status.code(), Some(128 + 15));
    assert!(err.contains("terminated by the script"), "{err}");
}

/// Requests the client does not know, on its session channel, are refused
/// (CHANNEL_FAILURE), as OpenSSH does; the session goes on.
#[test]
fn unknown_channel_request_is_refused() {
    let dir = TempDir::new("scripted-unknown");
    let (port, server) = Scripted::start(&dir, |p, id| {
        let answer = p.ask(
            id,
            &ChannelRequest::Other {
                name: "nonsense@example.com".into(),
                data: Vec::new(),
            },
        );
        p.c.channel_request(id, &ChannelRequest::ExitStatus { status: 0 }, false)
            .unwrap();
        p.close(id);
        answer
    });
    let out = tobira(port);
    assert_eq!(server.join().unwrap(), Some(false));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Of `-q` and `-v`, the one given last wins, as in OpenSSH: `-q -v` logs
/// at debug1, `-v -q` is quiet; each alone does what it says.
#[test]
fn quiet_and_verbose_last_one_wins() {
    let cases: [(&[&str], bool); 5] = [
        (&["-v"], true),
        (&["-q"], false),
        (&["-q", "-v"], true),
        (&["-v", "-q"], false),
        (&["-vv", "-q", "-v"], true),
    ];
    for (flags, debug) in cases {
        let dir = TempDir::new("scripted-qv");
        let (port, server) = Scripted::start(&dir, |p, id| {
            p.c.channel_request(id, &ChannelRequest::ExitStatus { status: 0 }, false)
                .unwrap();
            p.close(id);
        });
        let out = run(
            client_command_logging("tobira", "-T", port)
                .args(flags)
                .args(["alice@127.0.0.1", "some command"]),
            Duration::from_secs(60),
        );
        server.join().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{flags:?}: {err}");
        assert_eq!(err.contains("debug1:"), debug, "{flags:?}: {err}");
        if !debug {
            assert!(err.is_empty(), "{flags:?}: {err}");
        }
    }
}
