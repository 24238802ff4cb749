//! Connection protocol messages (RFC 4254): channel opens, channel
//! requests and global requests, with OpenSSH's extensions.

use crate::wire::{DecodeError, Reader, Writer};

/// What a channel carries (RFC 4254 §6.1, §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelKind {
    /// `session`.
    Session,
    /// `direct-tcpip`: a client-requested connection (`ssh -L`, `-D`, `-W`).
    DirectTcpip {
        /// Host to connect to.
        host: String,
        /// Port to connect to.
        port: u32,
        /// Originator address.
        originator: String,
        /// Originator port.
        originator_port: u32,
    },
    /// `forwarded-tcpip`: a connection to a remote-forwarded port (`ssh -R`).
    ForwardedTcpip {
        /// The address that was connected.
        address: String,
        /// The port that was connected.
        port: u32,
        /// Originator address.
        originator: String,
        /// Originator port.
        originator_port: u32,
    },
    /// Any other type, with its type-specific data.
    Other(String, Vec<u8>),
}

impl ChannelKind {
    /// The channel type name.
    pub fn name(&self) -> &str {
        match self {
            ChannelKind::Session => "session",
            ChannelKind::DirectTcpip { .. } => "direct-tcpip",
            ChannelKind::ForwardedTcpip { .. } => "forwarded-tcpip",
            ChannelKind::Other(n, _) => n,
        }
    }

    /// Appends the type-specific fields.
    pub fn encode_fields(&self, v: &mut Vec<u8>) {
        match self {
            ChannelKind::Session => {}
            ChannelKind::DirectTcpip {
                host,
                port,
                originator,
                originator_port,
            }
            | ChannelKind::ForwardedTcpip {
                address: host,
                port,
                originator,
                originator_port,
            } => {
                v.put_string(host.as_bytes());
                v.put_u32(*port);
                v.put_string(originator.as_bytes());
                v.put_u32(*originator_port);
            }
            ChannelKind::Other(_, data) => v.extend_from_slice(data),
        }
    }

    /// Decodes the type-specific fields of `name` from `r`.
    pub fn decode(name: &str, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok(match name {
            "session" => ChannelKind::Session,
            "direct-tcpip" | "forwarded-tcpip" => {
                let a = text(r.string()?);
                let p = r.u32()?;
                let o = text(r.string()?);
                let op = r.u32()?;
                if name == "direct-tcpip" {
                    ChannelKind::DirectTcpip {
                        host: a,
                        port: p,
                        originator: o,
                        originator_port: op,
                    }
                } else {
                    ChannelKind::ForwardedTcpip {
                        address: a,
                        port: p,
                        originator: o,
                        originator_port: op,
                    }
                }
            }
            other => ChannelKind::Other(other.to_string(), r.remaining().to_vec()),
        })
    }
}

/// A channel request (RFC 4254 §6.2–§6.10, RFC 4335, OpenSSH PROTOCOL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelRequest {
    /// `pty-req` (§6.2).
    PtyReq {
        /// TERM value.
        term: String,
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
        /// Width in pixels.
        width_px: u32,
        /// Height in pixels.
        height_px: u32,
        /// Encoded terminal modes (§8).
        modes: Vec<u8>,
    },
    /// `x11-req` (§6.3.1).
    X11Req,
    /// `env` (§6.4).
    Env {
        /// Variable name.
        name: String,
        /// Value.
        value: String,
    },
    /// `shell` (§6.5).
    Shell,
    /// `exec` (§6.5).
    Exec {
        /// The command line.
        command: String,
    },
    /// `subsystem` (§6.5).
    Subsystem {
        /// Subsystem name.
        name: String,
    },
    /// `window-change` (§6.7).
    WindowChange {
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
        /// Width in pixels.
        width_px: u32,
        /// Height in pixels.
        height_px: u32,
    },
    /// `signal` (§6.9), name without "SIG".
    Signal {
        /// Signal name.
        name: String,
    },
    /// `exit-status` (§6.10).
    ExitStatus {
        /// Exit status.
        status: u32,
    },
    /// `exit-signal` (§6.10).
    ExitSignal {
        /// Signal name without "SIG".
        name: String,
        /// Core dumped.
        core_dumped: bool,
        /// Error message.
        message: String,
    },
    /// `break` (RFC 4335).
    Break {
        /// Break length in milliseconds.
        ms: u32,
    },
    /// `eow@openssh.com`: no more writes in this direction (PROTOCOL §2.1).
    Eow,
    /// `keepalive@openssh.com`.
    Keepalive,
    /// `winadj@putty.projects.tartarus.org`: PuTTY's no-op request, sent
    /// with a window adjust to time a round trip (`connection/window.rs`);
    /// peers answer it with CHANNEL_FAILURE (RFC 4254 §5.4).
    WindowProbe,
    /// Anything else.
    Other {
        /// Request name.
        name: String,
        /// Request-specific data.
        data: Vec<u8>,
    },
}

impl ChannelRequest {
    /// The request name on the wire.
    pub fn name(&self) -> &str {
        match self {
            ChannelRequest::PtyReq { .. } => "pty-req",
            ChannelRequest::X11Req => "x11-req",
            ChannelRequest::Env { .. } => "env",
            ChannelRequest::Shell => "shell",
            ChannelRequest::Exec { .. } => "exec",
            ChannelRequest::Subsystem { .. } => "subsystem",
            ChannelRequest::WindowChange { .. } => "window-change",
            ChannelRequest::Signal { .. } => "signal",
            ChannelRequest::ExitStatus { .. } => "exit-status",
            ChannelRequest::ExitSignal { .. } => "exit-signal",
            ChannelRequest::Break { .. } => "break",
            ChannelRequest::Eow => "eow@openssh.com",
            ChannelRequest::Keepalive => "keepalive@openssh.com",
            ChannelRequest::WindowProbe => "winadj@putty.projects.tartarus.org",
            ChannelRequest::Other { name, .. } => name,
        }
    }

    /// Appends the request-specific fields.
    pub fn encode_fields(&self, v: &mut Vec<u8>) {
        match self {
            ChannelRequest::PtyReq {
                term,
                cols,
                rows,
                width_px,
                height_px,
                modes,
            } => {
                v.put_string(term.as_bytes());
                v.put_u32(*cols);
                v.put_u32(*rows);
                v.put_u32(*width_px);
                v.put_u32(*height_px);
                v.put_string(modes);
            }
            ChannelRequest::Env { name, value } => {
                v.put_string(name.as_bytes());
                v.put_string(value.as_bytes());
            }
            ChannelRequest::Exec { command } => v.put_string(command.as_bytes()),
            ChannelRequest::Subsystem { name } | ChannelRequest::Signal { name } => v.put_string(name.as_bytes()),
            ChannelRequest::WindowChange {
                cols,
                rows,
                width_px,
                height_px,
            } => {
                v.put_u32(*cols);
                v.put_u32(*rows);
                v.put_u32(*width_px);
                v.put_u32(*height_px);
            }
            ChannelRequest::ExitStatus { status } => v.put_u32(*status),
            ChannelRequest::ExitSignal {
                name,
                core_dumped,
                message,
            } => {
                v.put_string(name.as_bytes());
                v.put_bool(*core_dumped);
                v.put_string(message.as_bytes());
                v.put_string(b"");
            }
            ChannelRequest::Break { ms } => v.put_u32(*ms),
            ChannelRequest::Other { data, .. } => v.extend_from_slice(data),
            ChannelRequest::X11Req
            | ChannelRequest::Shell
            | ChannelRequest::Eow
            | ChannelRequest::Keepalive
            | ChannelRequest::WindowProbe => {}
        }
    }

    /// Decodes the request-specific fields of `name`.
    pub fn decode(name: &str, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok(match name {
            "pty-req" => ChannelRequest::PtyReq {
                term: text(r.string()?),
                cols: r.u32()?,
                rows: r.u32()?,
                width_px: r.u32()?,
                height_px: r.u32()?,
                modes: r.string()?.to_vec(),
            },
            "x11-req" => ChannelRequest::X11Req,
            "env" => ChannelRequest::Env {
                name: text(r.string()?),
                value: text(r.string()?),
            },
            "shell" => ChannelRequest::Shell,
            "exec" => ChannelRequest::Exec {
                command: text(r.string()?),
            },
            "subsystem" => ChannelRequest::Subsystem {
                name: text(r.string()?),
            },
            "window-change" => ChannelRequest::WindowChange {
                cols: r.u32()?,
                rows: r.u32()?,
                width_px: r.u32()?,
                height_px: r.u32()?,
            },
            "signal" => ChannelRequest::Signal {
                name: text(r.string()?),
            },
            "exit-status" => ChannelRequest::ExitStatus { status: r.u32()? },
            "exit-signal" => {
                let name = text(r.string()?);
                let core_dumped = r.bool()?;
                let message = text(r.string()?);
                let _lang = r.string()?;
                ChannelRequest::ExitSignal {
                    name,
                    core_dumped,
                    message,
                }
            }
            "break" => ChannelRequest::Break { ms: r.u32()? },
            "eow@openssh.com" => ChannelRequest::Eow,
            "keepalive@openssh.com" => ChannelRequest::Keepalive,
            "winadj@putty.projects.tartarus.org" => ChannelRequest::WindowProbe,
            other => ChannelRequest::Other {
                name: other.to_string(),
                data: r.remaining().to_vec(),
            },
        })
    }
}

/// Reason codes of SSH_MSG_CHANNEL_OPEN_FAILURE (RFC 4254 §5.1).
pub mod open_failure {
    /// SSH_OPEN_ADMINISTRATIVELY_PROHIBITED
    pub const ADMINISTRATIVELY_PROHIBITED: u32 = 1;
    /// SSH_OPEN_CONNECT_FAILED
    pub const CONNECT_FAILED: u32 = 2;
    /// SSH_OPEN_UNKNOWN_CHANNEL_TYPE
    pub const UNKNOWN_CHANNEL_TYPE: u32 = 3;
    /// SSH_OPEN_RESOURCE_SHORTAGE
    pub const RESOURCE_SHORTAGE: u32 = 4;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_truncation() {
        let reqs = [
            ChannelRequest::PtyReq {
                term: "xterm".into(),
                cols: 80,
                rows: 24,
                width_px: 0,
                height_px: 0,
                modes: vec![0],
            },
            ChannelRequest::Env {
                name: "LANG".into(),
                value: "C".into(),
            },
            ChannelRequest::Exec {
                command: "echo hi".into(),
            },
            ChannelRequest::Subsystem { name: "sftp".into() },
            ChannelRequest::WindowChange {
                cols: 1,
                rows: 2,
                width_px: 3,
                height_px: 4,
            },
            ChannelRequest::Signal { name: "TERM".into() },
            ChannelRequest::ExitStatus { status: 3 },
            ChannelRequest::ExitSignal {
                name: "KILL".into(),
                core_dumped: false,
                message: String::new(),
            },
            ChannelRequest::Break { ms: 500 },
        ];
        for req in reqs {
            let mut v = Vec::new();
            req.encode_fields(&mut v);
            assert_eq!(ChannelRequest::decode(req.name(), &mut Reader::new(&v)).unwrap(), req);
            if !v.is_empty() {
                assert!(
                    ChannelRequest::decode(req.name(), &mut Reader::new(&v[..v.len() - 1])).is_err(),
                    "{req:?}"
                );
            }
        }
        let k = ChannelKind::DirectTcpip {
            host: "h".into(),
            port: 22,
            originator: "o".into(),
            originator_port: 1,
        };
        let mut v = Vec::new();
        k.encode_fields(&mut v);
        assert_eq!(ChannelKind::decode("direct-tcpip", &mut Reader::new(&v)).unwrap(), k);
    }
}
