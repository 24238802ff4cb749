//! The connection protocol through the sans-IO core (RFC 4254): channel
//! open/accept/refuse, requests and replies, data both ways under flow
//! control, EOF and CLOSE ordering, and the limits a hostile peer hits.

mod common;

use common::{drain_output, pair_with, pump};
use tobira_proto::msg::connection::{ChannelKind, ChannelRequest};
use tobira_proto::wire::Writer;
use tobira_proto::{Config, Connection, DisconnectReason, Event};

/// An authenticated pair.
fn authed_pair() -> (Connection, Connection) {
    authed_pair_with(Config::default())
}

/// [`authed_pair`] with the client's configuration.
fn authed_pair_with(client: Config) -> (Connection, Connection) {
    let (mut c, mut s) = pair_with(client);
    c.userauth_password("u", "p", None).unwrap();
    pump(&mut c, &mut s);
    s.auth_accept().unwrap();
    pump(&mut c, &mut s);
    assert!(c.is_authenticated());
    (c, s)
}

/// Opens a session from the client and accepts it on the server.
fn session(c: &mut Connection, s: &mut Connection) -> (u32, u32) {
    let cid = c.channel_open(ChannelKind::Session).unwrap();
    let (_, se) = pump(c, s);
    let sid = se
        .iter()
        .find_map(|e| match e {
            Event::ChannelOpenRequest {
                id,
                kind: ChannelKind::Session,
            } => Some(*id),
            _ => None,
        })
        .unwrap();
    s.channel_accept(sid).unwrap();
    let (ce, _) = pump(c, s);
    assert!(ce.contains(&Event::ChannelOpenConfirmed { id: cid }));
    (cid, sid)
}

fn data_of(events: &[Event], want: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        if let Event::ChannelData { id, data } = e {
            if *id == want {
                out.extend_from_slice(data);
            }
        }
    }
    out
}

#[test]
fn exec_session_round_trip() {
    let (mut c, mut s) = authed_pair();
    let (cid, sid) = session(&mut c, &mut s);
    c.channel_request(
        cid,
        &ChannelRequest::Exec {
            command: "echo hi".into(),
        },
        true,
    )
    .unwrap();
    let (_, se) = pump(&mut c, &mut s);
    assert!(se.contains(&Event::ChannelRequest {
        id: sid,
        request: ChannelRequest::Exec {
            command: "echo hi".into()
        },
        want_reply: true
    }));
    s.channel_request_reply(sid, true).unwrap();
    s.channel_write(sid, None, b"hi\n").unwrap();
    s.channel_write(sid, Some(1), b"warn\n").unwrap();
    s.channel_request(sid, &ChannelRequest::ExitStatus { status: 3 }, false)
        .unwrap();
    s.channel_eof(sid).unwrap();
    s.channel_close(sid).unwrap();
    let (ce, se1) = pump(&mut c, &mut s);
    let order: Vec<&Event> = ce.iter().filter(|e| !matches!(e, Event::Trace(_))).collect();
    assert_eq!(
        order,
        vec![
            &Event::ChannelRequestReply { id: cid, success: true },
            &Event::ChannelData {
                id: cid,
                data: b"hi\n".to_vec()
            },
            &Event::ChannelExtendedData {
                id: cid,
                code: 1,
                data: b"warn\n".to_vec()
            },
            &Event::ChannelRequest {
                id: cid,
                request: ChannelRequest::ExitStatus { status: 3 },
                want_reply: false
            },
            &Event::ChannelEof { id: cid },
            // The server's CLOSE is answered at once (RFC 4254 §5.3).
            &Event::ChannelClosed { id: cid },
        ]
    );
    assert!(se1.contains(&Event::ChannelClosed { id: sid }));
    assert!(!c.channel_exists(cid) && !s.channel_exists(sid));
}

/// 5 MiB through a 2 MiB window and 32 KiB packets: every byte arrives in
/// order, nothing is sent past the window, and CLOSE comes after the data.
#[test]
fn bulk_data_respects_window_and_close_after_data() {
    let (mut c, mut s) = authed_pair();
    let (cid, sid) = session(&mut c, &mut s);
    let blob: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    s.channel_write(sid, None, &blob).unwrap();
    s.channel_eof(sid).unwrap();
    s.channel_close(sid).unwrap();
    assert!(s.channel_queued(sid) > 0, "held back by the window");
    let (ce, _) = pump(&mut c, &mut s);
    assert_eq!(data_of(&ce, cid), blob);
    let last_data = ce.iter().rposition(|e| matches!(e, Event::ChannelData { .. })).unwrap();
    let eof = ce.iter().position(|e| *e == Event::ChannelEof { id: cid }).unwrap();
    assert!(eof > last_data);
    let closed = ce.iter().position(|e| *e == Event::ChannelClosed { id: cid }).unwrap();
    assert!(closed > eof);
}

#[test]
fn many_channels_and_refusals() {
    let (mut c, mut s) = authed_pair();
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(session(&mut c, &mut s));
    }
    for (i, (cid, sid)) in ids.iter().enumerate() {
        c.channel_write(*cid, None, format!("channel {i}").as_bytes()).unwrap();
        let (_, se) = pump(&mut c, &mut s);
        assert_eq!(data_of(&se, *sid), format!("channel {i}").into_bytes());
    }
    let cid = c
        .channel_open(ChannelKind::DirectTcpip {
            host: "h".into(),
            port: 1,
            originator: "o".into(),
            originator_port: 2,
        })
        .unwrap();
    let (_, se) = pump(&mut c, &mut s);
    let sid = se.iter().find_map(|e| match e {
        Event::ChannelOpenRequest { id, .. } => Some(*id),
        _ => None,
    });
    s.channel_reject(sid.unwrap(), 2, "connect failed").unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    assert!(ce.contains(&Event::ChannelOpenFailed {
        id: cid,
        code: 2,
        message: "connect failed".into()
    }));
}

/// Moves what `from` has to send into `to`, in one piece.
fn deliver(from: &mut Connection, to: &mut Connection) {
    let b = from.pending_output().to_vec();
    from.consume_output(b.len());
    to.feed(&b).unwrap();
}

/// The peer's CLOSE and its next CHANNEL_OPEN arrive in one read, before
/// the application has taken the ChannelClosed event: the new channel gets
/// another id, so the application's late calls for the old channel (a
/// forwarding that closes every finished stream it still lists) cannot end
/// the new one. The id reused, the new channel's first write failed with
/// "write after EOF or close".
#[test]
fn closed_id_not_reused_before_the_application_saw_it() {
    let (mut c, mut s) = authed_pair();
    let (_, sid) = session(&mut c, &mut s);
    s.channel_eof(sid).unwrap();
    s.channel_close(sid).unwrap();
    deliver(&mut s, &mut c); // The client answers CLOSE at once...
    while c.poll_event().is_some() {}
    let cid = c.channel_open(ChannelKind::Session).unwrap(); // ...and opens another.
    deliver(&mut c, &mut s);
    // The application, not yet aware, ends what it takes for the old one.
    s.channel_eof(sid).unwrap();
    s.channel_close(sid).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    let closed = events.iter().position(|e| *e == Event::ChannelClosed { id: sid });
    let (pos, new) = events
        .iter()
        .enumerate()
        .find_map(|(i, e)| match e {
            Event::ChannelOpenRequest { id, .. } => Some((i, *id)),
            _ => None,
        })
        .unwrap();
    assert!(closed.is_some_and(|c| c < pos), "{events:?}");
    assert_ne!(new, sid);
    s.channel_accept(new).unwrap();
    s.channel_write(new, None, b"fresh").unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    assert_eq!(data_of(&ce, cid), b"fresh");
    assert!(c.channel_exists(cid) && s.channel_exists(new), "{ce:?}");
    // Once the event is taken, the id is free again.
    c.channel_open(ChannelKind::Session).unwrap();
    let (_, se) = pump(&mut c, &mut s);
    assert!(se
        .iter()
        .any(|e| matches!(e, Event::ChannelOpenRequest { id, .. } if *id == sid)));
    // Likewise the id of our open the peer refused waits for ChannelOpenFailed.
    let mine = s.channel_open(ChannelKind::Session).unwrap();
    deliver(&mut s, &mut c);
    let req = std::iter::from_fn(|| c.poll_event())
        .find_map(|e| match e {
            Event::ChannelOpenRequest { id, .. } => Some(id),
            _ => None,
        })
        .unwrap();
    c.channel_reject(req, 1, "no").unwrap();
    deliver(&mut c, &mut s);
    assert_ne!(s.channel_open(ChannelKind::Session).unwrap(), mine);
    assert!(
        std::iter::from_fn(|| s.poll_event()).any(|e| matches!(e, Event::ChannelOpenFailed { id, .. } if id == mine))
    );
}

fn raw(c: &mut Connection, payload: Vec<u8>) -> Vec<u8> {
    c.send_payload(payload).unwrap();
    let b = c.pending_output().to_vec();
    c.consume_output(b.len());
    b
}

#[test]
fn hostile_channel_messages() {
    // Data past our window.
    let (mut c, mut s) = authed_pair();
    let (_, sid) = session(&mut c, &mut s);
    let mut big = vec![94u8];
    big.put_u32(sid);
    big.put_string(&vec![0u8; 40 * 1024]);
    let b = raw(&mut c, big);
    let e = s.feed(&b).unwrap_err();
    assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError));
    assert!(e.to_string().contains("over the maximum"), "{e}");
    // Window adjust overflow.
    let (mut c, mut s) = authed_pair();
    let (_, sid) = session(&mut c, &mut s);
    let mut adj = vec![93u8];
    adj.put_u32(sid);
    adj.put_u32(u32::MAX);
    let b = raw(&mut c, adj);
    let e = s.feed(&b).unwrap_err();
    assert!(e.to_string().contains("window adjust overflows"), "{e}");
    // Unknown channel.
    let (mut c, mut s) = authed_pair();
    let b = raw(&mut c, vec![96, 0, 0, 0, 77]);
    let e = s.feed(&b).unwrap_err();
    assert!(e.to_string().contains("unknown channel 77"), "{e}");
    // Maximum packet size 0 is refused.
    let (mut c, mut s) = authed_pair();
    let mut open = vec![90u8];
    open.put_string(b"session");
    open.put_u32(5);
    open.put_u32(1000);
    open.put_u32(0);
    let b = raw(&mut c, open);
    s.feed(&b).unwrap();
    assert!(!std::iter::from_fn(|| s.poll_event()).any(|e| matches!(e, Event::ChannelOpenRequest { .. })));
    // A reply nobody asked for.
    let (mut c, mut s) = authed_pair();
    let (_, sid) = session(&mut c, &mut s);
    let mut rep = vec![99u8];
    rep.put_u32(sid);
    let b = raw(&mut c, rep);
    assert!(s.feed(&b).is_err());
}

/// Answers go out in request order, so the core's own (keepalives) wait
/// behind one the application has not given. Up to MAX_ANSWERS_OWED they
/// wait and then all go out; one more and the peer is disconnected, per
/// channel and for global requests.
#[test]
fn answers_owed_are_bounded() {
    use tobira_proto::MAX_ANSWERS_OWED;
    let env = ChannelRequest::Env {
        name: "LANG".into(),
        value: "C".into(),
    };
    // Channel requests: within the bound every answer arrives, in order.
    let (mut c, mut s) = authed_pair();
    let (cid, sid) = session(&mut c, &mut s);
    c.channel_request(cid, &env, true).unwrap();
    for _ in 1..MAX_ANSWERS_OWED {
        c.channel_request(cid, &ChannelRequest::Keepalive, true).unwrap();
    }
    let (ce, _) = pump(&mut c, &mut s);
    assert!(!ce.iter().any(|e| matches!(e, Event::ChannelRequestReply { .. })));
    s.channel_request_reply(sid, true).unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    let replies: Vec<bool> = ce
        .iter()
        .filter_map(|e| match e {
            Event::ChannelRequestReply { id, success } if *id == cid => Some(*success),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), MAX_ANSWERS_OWED);
    assert!(replies[0] && replies[1..].iter().all(|ok| !ok));
    // One more than the bound, behind an unanswered one: disconnected.
    let (mut c, mut s) = authed_pair();
    let (cid, sid) = session(&mut c, &mut s);
    c.channel_request(cid, &env, true).unwrap();
    pump(&mut c, &mut s);
    let mut ka = vec![98u8];
    ka.put_u32(sid);
    ka.put_string(b"keepalive@openssh.com");
    ka.put_bool(true);
    let mut bytes = Vec::new();
    for _ in 0..MAX_ANSWERS_OWED {
        bytes.extend(raw(&mut c, ka.clone()));
    }
    let e = s.feed(&bytes).unwrap_err();
    assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError));
    assert!(e.to_string().contains("requests already await an answer"), "{e}");
    // Global requests, the same way.
    let (mut c, mut s) = authed_pair();
    c.global_request("tcpip-forward", true, &[0, 0, 0, 0, 0, 0, 0, 0])
        .unwrap();
    pump(&mut c, &mut s);
    let mut gka = vec![80u8];
    gka.put_string(b"keepalive@openssh.com");
    gka.put_bool(true);
    let mut bytes = Vec::new();
    for _ in 1..MAX_ANSWERS_OWED {
        bytes.extend(raw(&mut c, gka.clone()));
    }
    s.feed(&bytes).unwrap();
    let e = s.feed(&raw(&mut c, gka)).unwrap_err();
    assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError));
    assert!(e.to_string().contains("global requests already await an answer"), "{e}");
}

/// `no-more-sessions@openssh.com` asked with want-reply is answered
/// (success, as sshd does) in its turn: the answers after it go to their
/// own requests.
#[test]
fn no_more_sessions_with_want_reply_is_answered_in_turn() {
    let (mut c, mut s) = authed_pair();
    c.global_request("no-more-sessions@openssh.com", true, &[]).unwrap();
    c.global_request("keepalive@openssh.com", true, &[]).unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    let replies: Vec<bool> = ce
        .iter()
        .filter_map(|e| match e {
            Event::GlobalReply { success, .. } => Some(*success),
            _ => None,
        })
        .collect();
    assert_eq!(replies, vec![true, false]);
}

#[test]
fn global_requests_in_order_and_keepalive() {
    let (mut c, mut s) = authed_pair();
    let mut fwd = Vec::new();
    fwd.put_string(b"127.0.0.1");
    fwd.put_u32(0);
    c.global_request("tcpip-forward", true, &fwd).unwrap();
    c.global_request("keepalive@openssh.com", true, &[]).unwrap();
    let (_, se) = pump(&mut c, &mut s);
    assert!(se
        .iter()
        .any(|e| matches!(e, Event::GlobalRequest { name, want_reply: true, .. } if name == "tcpip-forward")));
    s.global_request_reply(true, &[0, 0, 0x1f, 0x90]).unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    let replies: Vec<&Event> = ce.iter().filter(|e| matches!(e, Event::GlobalReply { .. })).collect();
    // In request order, though the keepalive was answered by the core first.
    assert_eq!(
        replies,
        vec![
            &Event::GlobalReply {
                success: true,
                data: vec![0, 0, 0x1f, 0x90]
            },
            &Event::GlobalReply {
                success: false,
                data: vec![]
            }
        ]
    );
}

/// 10,000 channel opens: the first 1,024 are tracked, the rest refused with
/// SSH_OPEN_RESOURCE_SHORTAGE; memory stays bounded; the connection lives.
#[test]
fn ten_thousand_channel_opens_are_bounded() {
    let (mut c, mut s) = authed_pair();
    let mut accepted = 0;
    for i in 0..10_000u32 {
        let mut open = vec![90u8];
        open.put_string(b"session");
        open.put_u32(i);
        open.put_u32(1 << 20);
        open.put_u32(32768);
        let b = raw(&mut c, open);
        s.feed(&b).unwrap();
        let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
        for e in events {
            if let Event::ChannelOpenRequest { id, .. } = e {
                s.channel_accept(id).unwrap();
                accepted += 1;
            }
        }
        // The answers (confirmations, then RESOURCE_SHORTAGE failures) are
        // for channels the real client never opened: dropped here.
        let out = s.pending_output().len();
        s.consume_output(out);
    }
    assert_eq!(accepted, 1024);
    assert!(!s.is_closed());
    // Max packet sizes 0 and over 2^31 are refused.
    for mp in [0u32, (1 << 31) + 1] {
        let mut open = vec![90u8];
        open.put_string(b"session");
        open.put_u32(77);
        open.put_u32(1000);
        open.put_u32(mp);
        let (mut c, mut s) = authed_pair();
        let b = raw(&mut c, open);
        s.feed(&b).unwrap();
        assert!(!std::iter::from_fn(|| s.poll_event()).any(|e| matches!(e, Event::ChannelOpenRequest { .. })));
    }
}

/// A re-exchange in the middle of a bulk transfer on several channels: no
/// byte is lost or reordered, and nothing beyond the windows is held.
#[test]
fn rekey_during_bulk_transfer() {
    let (mut c, mut s) = authed_pair();
    let chans: Vec<(u32, u32)> = (0..4).map(|_| session(&mut c, &mut s)).collect();
    let blobs: Vec<Vec<u8>> = (0..4u32)
        .map(|k| (0..3 * 1024 * 1024u32).map(|i| ((i * 7 + k) % 253) as u8).collect())
        .collect();
    for ((_, sid), blob) in chans.iter().zip(&blobs) {
        s.channel_write(*sid, None, blob).unwrap();
    }
    // Move part of the data (bursts until more than two channels' windows
    // went), then re-key from the server while the rest waits.
    let mut moved = 0;
    while moved < 5 * 1024 * 1024 {
        let out = s.pending_output().to_vec();
        assert!(!out.is_empty(), "stalled after {moved} bytes");
        s.consume_output(out.len());
        c.feed(&out).unwrap();
        moved += out.len();
    }
    let mut ce: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    let started = chans.iter().filter(|(cid, _)| !data_of(&ce, *cid).is_empty()).count();
    assert!(started >= 3, "{started} channels under way before the re-exchange");
    s.start_rekey();
    let (more, _) = pump(&mut c, &mut s);
    ce.extend(more);
    assert!(ce.contains(&Event::KexDone { first: false }));
    for ((cid, _), blob) in chans.iter().zip(&blobs) {
        assert_eq!(&data_of(&ce, *cid), blob);
    }
}

/// Moves bytes in pieces of awkward sizes, taking part of the pending
/// output and writing more while the rest waits: what a socket that
/// accepts partial writes does.
fn pump_in_pieces(c: &mut Connection, s: &mut Connection, sizes: &[usize]) -> (Vec<Event>, Vec<Event>) {
    let (mut ce, mut se) = (Vec::new(), Vec::new());
    let mut k = 0;
    loop {
        let step = sizes[k % sizes.len()];
        k += 1;
        let n = c.pending_output().len().min(step);
        let co = c.pending_output()[..n].to_vec();
        c.consume_output(n);
        let m = s.pending_output().len().min(step);
        let so = s.pending_output()[..m].to_vec();
        s.consume_output(m);
        if co.is_empty() && so.is_empty() {
            return (ce, se);
        }
        s.feed(&co).unwrap();
        c.feed(&so).unwrap();
        ce.extend(std::iter::from_fn(|| c.poll_event()));
        se.extend(std::iter::from_fn(|| s.poll_event()));
    }
}

#[test]
fn large_writes_and_partial_output_keep_every_byte_in_order() {
    // The CTR suites copy the data into each packet; AES-GCM and
    // chacha20-poly1305 seal it from the queued buffer
    // (`Sealer::seal_parts`), with and without spare capacity after it.
    for cipher in [
        "chacha20-poly1305@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-ctr",
    ] {
        large_writes_in_order(Config {
            cipher: vec![cipher.to_string()],
            ..Config::default()
        });
    }
}

fn large_writes_in_order(config: Config) {
    let (mut c, mut s) = authed_pair_with(config);
    let (cid, sid) = session(&mut c, &mut s);
    // 3 MiB in writes of 300 KiB (each sent as ten packets or so, over
    // more than the 2 MiB window), interleaved with owned writes, while the
    // output is taken a few odd-sized bytes at a time.
    let data: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut got = Vec::new();
    for (i, chunk) in data.chunks(300 * 1024).enumerate() {
        if i % 2 == 0 {
            c.channel_write(cid, None, chunk).unwrap();
        } else {
            // Exactly its length: no room after it for the padding.
            c.channel_write_owned(cid, None, chunk.to_vec()).unwrap();
        }
        let (_, se) = pump_in_pieces(&mut c, &mut s, &[1, 4093, 70_001, 7, 250_000]);
        got.extend(data_of(&se, sid));
        // A partial write: part of what is pending goes, more is queued.
        let n = c.pending_output().len() / 3;
        let head = c.pending_output()[..n].to_vec();
        c.consume_output(n);
        s.feed(&head).unwrap();
        got.extend(data_of(&std::iter::from_fn(|| s.poll_event()).collect::<Vec<_>>(), sid));
    }
    let (_, se) = pump_in_pieces(&mut c, &mut s, &[65_536, 3]);
    got.extend(data_of(&se, sid));
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the data arrived changed or out of order");
    assert_eq!(c.channel_queued(cid), 0);
    assert!(c.pending_output().is_empty());
}

/// Data packets of one channel that arrive in one read become one event
/// (at most `MAX_DATA_EVENT` bytes), in order; stderr and other channels
/// are not mixed in; a recycled buffer is used for the next event.
#[test]
fn data_packets_of_one_read_are_gathered_and_buffers_reused() {
    use tobira_proto::connection::MAX_DATA_EVENT;
    let (mut c, mut s) = authed_pair();
    let (cid, sid) = session(&mut c, &mut s);
    let (cid2, sid2) = session(&mut c, &mut s);
    let blob: Vec<u8> = (0..600 * 1024u32).map(|i| (i % 253) as u8).collect();
    s.channel_write(sid, None, &blob[..100_000]).unwrap();
    s.channel_write(sid, Some(1), b"err").unwrap();
    s.channel_write(sid, None, &blob[100_000..]).unwrap();
    s.channel_write(sid2, None, b"other").unwrap();
    // Everything the server has queued arrives in one read.
    let bytes = drain_output(&mut s);
    c.feed(&bytes).unwrap();
    let mut events = Vec::new();
    while let Some(e) = c.poll_event() {
        events.push(e);
    }
    let sizes: Vec<(u32, bool, usize)> = events
        .iter()
        .filter_map(|e| match e {
            Event::ChannelData { id, data } => Some((*id, false, data.len())),
            Event::ChannelExtendedData { id, data, .. } => Some((*id, true, data.len())),
            _ => None,
        })
        .collect();
    // The window (2 MiB) lets it all through; 100,000 bytes, then "err",
    // then 514,400 bytes in events of at most MAX_DATA_EVENT. The other
    // channel's packet goes first in the second burst (channels take
    // turns, OUTPUT_BURST) and splits one of those events.
    assert_eq!(sizes[0], (cid, false, 100_000));
    assert_eq!(sizes[1], (cid, true, 3));
    let rest: Vec<usize> = sizes[2..]
        .iter()
        .filter(|&&(id, _, _)| id == cid)
        .map(|&(_, _, n)| n)
        .collect();
    assert!(rest.iter().all(|&n| n <= MAX_DATA_EVENT), "{rest:?}");
    let fewest = (blob.len() - 100_000).div_ceil(MAX_DATA_EVENT);
    assert!(rest.len() == fewest || rest.len() == fewest + 1, "{rest:?}");
    assert_eq!(sizes.iter().filter(|&&(id, _, _)| id == cid2).count(), 1, "{sizes:?}");
    assert!(sizes.contains(&(cid2, false, 5)), "{sizes:?}");
    assert_eq!(data_of(&events, cid), blob);
    assert_eq!(data_of(&events, cid2), b"other");

    // A buffer given back carries the next event.
    let Some(Event::ChannelData { data, .. }) = events.into_iter().next() else {
        panic!("first event is data");
    };
    let ptr = data.as_ptr();
    c.recycle(data);
    s.channel_write(sid2, None, b"again").unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    let again = ce
        .iter()
        .find_map(|e| match e {
            Event::ChannelData { id, data } if *id == cid2 => Some(data),
            _ => None,
        })
        .expect("data arrives");
    assert_eq!(again.as_slice(), b"again");
    assert_eq!(again.as_ptr(), ptr, "the recycled buffer is reused");
}

/// The peer's CLOSE arriving while our key re-exchange holds our answer
/// back: the channel lingers until NEWKEYS, and what the application still
/// writes or requests on it is dropped, not an error that would end the
/// connection (RFC 4254 §5.3: nothing can be delivered after CLOSE).
#[test]
fn writes_after_the_peers_close_during_a_rekey_are_dropped() {
    let (mut c, mut s) = authed_pair();
    let (cid, sid) = session(&mut c, &mut s);
    s.start_rekey();
    // Our KEXINIT waits unsent on the wire; the client closes meanwhile.
    let kexinit = s.pending_output().to_vec();
    s.consume_output(kexinit.len());
    c.channel_close(cid).unwrap();
    let close = c.pending_output().to_vec();
    c.consume_output(close.len());
    s.feed(&close).unwrap();
    assert!(s.channel_exists(sid), "the answer waits for the new keys");
    s.channel_write(sid, None, b"late output").unwrap();
    s.channel_request(sid, &ChannelRequest::ExitStatus { status: 0 }, false)
        .unwrap();
    c.feed(&kexinit).unwrap();
    let (ce, se) = pump(&mut c, &mut s);
    assert!(se.contains(&Event::ChannelClosed { id: sid }), "{se:?}");
    assert!(ce.contains(&Event::ChannelClosed { id: cid }), "{ce:?}");
    assert!(data_of(&ce, cid).is_empty(), "nothing after the close");
    assert!(!ce.iter().any(|e| matches!(e, Event::ChannelRequest { .. })), "{ce:?}");
    assert!(!s.channel_exists(sid) && !c.channel_exists(cid));
}

/// Channel data goes out in bursts of about `OUTPUT_BURST`: the rest
/// waits in its channel's queue and is sealed as the driver writes what
/// is pending; all of it arrives, in order, and the EOF after it.
#[test]
fn channel_data_is_sealed_in_bursts_as_the_output_drains() {
    use tobira_proto::connection::{LOCAL_MAX_PACKET, OUTPUT_BURST};
    let (mut c, mut s) = authed_pair();
    let (cid, sid) = session(&mut c, &mut s);
    // Within the starting 2 MiB window: only the burst limit holds it.
    let blob: Vec<u8> = (0..1536 * 1024u32).map(|i| (i % 251) as u8).collect();
    s.channel_write(sid, None, &blob).unwrap();
    s.channel_eof(sid).unwrap();
    // A burst may overshoot by the packet that crossed the limit.
    let most = OUTPUT_BURST + LOCAL_MAX_PACKET as usize + 1024;
    let first = s.pending_output().len();
    assert!(first >= OUTPUT_BURST && first <= most, "first burst {first}");
    assert!(s.channel_queued(sid) > 0, "the rest waits in the channel's queue");
    let (mut wire, mut writes) = (Vec::new(), 0);
    loop {
        let out = s.pending_output().to_vec();
        if out.is_empty() {
            break;
        }
        // What was left of the last write, under OUTPUT_BURST, and at
        // most one more burst.
        assert!(out.len() < OUTPUT_BURST + most, "{} pending", out.len());
        // Half of it written: the next burst is sealed only once less
        // than OUTPUT_BURST is left.
        let half = out.len().div_ceil(2);
        s.consume_output(half);
        if out.len() - half >= OUTPUT_BURST {
            assert_eq!(
                s.pending_output(),
                &out[half..],
                "sealed more before the output drained"
            );
        } else {
            assert!(s.pending_output().starts_with(&out[half..]));
        }
        wire.extend_from_slice(&out[..half]);
        writes += 1;
    }
    assert!(writes > blob.len() / most, "{writes} writes for 1.5 MiB");
    assert_eq!(s.channel_queued(sid), 0);
    c.feed(&wire).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(
        data_of(&events, cid) == blob,
        "the data arrived changed or out of order"
    );
    let last_data = events.iter().rposition(|e| matches!(e, Event::ChannelData { .. }));
    let eof = events
        .iter()
        .position(|e| matches!(e, Event::ChannelEof { id } if *id == cid));
    assert!(
        eof.is_some() && eof > last_data,
        "EOF after the data: {eof:?} {last_data:?}"
    );
}

/// A DISCONNECT while channel data waits for the output to drain: nothing
/// is sealed after it, however much the windows would allow.
#[test]
fn nothing_is_sealed_after_a_disconnect_while_a_burst_is_held() {
    use tobira_proto::connection::{LOCAL_MAX_PACKET, OUTPUT_BURST};
    let (mut c, mut s) = authed_pair();
    let (cid, sid) = session(&mut c, &mut s);
    let blob = vec![7u8; 1536 * 1024];
    s.channel_write(sid, None, &blob).unwrap();
    let first = s.pending_output().len();
    assert!(s.channel_queued(sid) > 0);
    s.disconnect(DisconnectReason::ByApplication, "bye");
    let wire = drain_output(&mut s);
    // The burst already sealed, then the DISCONNECT, and no more.
    assert!(
        wire.len() < first + 1024,
        "{} bytes after a {first}-byte burst",
        wire.len()
    );
    assert!(first <= OUTPUT_BURST + LOCAL_MAX_PACKET as usize + 1024);
    let r = c.feed(&wire);
    assert!(matches!(r, Err(tobira_proto::Error::PeerDisconnected { .. })), "{r:?}");
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert_eq!(data_of(&events, cid).len() + s.channel_queued(sid), blob.len());
}

/// Channels take turns going first in a burst: a few bytes written on one
/// channel while another streams bulk data through an open window get
/// out within a burst or two, not after the bulk data.
#[test]
fn small_writes_are_not_held_behind_another_channels_bulk_data() {
    use tobira_proto::connection::{LOCAL_MAX_PACKET, OUTPUT_BURST};
    let (mut c, mut s) = authed_pair();
    let (bulk_c, bulk_s) = session(&mut c, &mut s);
    let (keys_c, keys_s) = session(&mut c, &mut s);
    let blob = vec![1u8; 1536 * 1024];
    s.channel_write(bulk_s, None, &blob).unwrap();
    assert!(s.channel_queued(bulk_s) > 0, "a burst is held");
    // A keystroke's echo while the burst is held.
    s.channel_write(keys_s, None, b"k").unwrap();
    let (mut bulk_before, mut seen) = (0usize, false);
    while !seen {
        let out = s.pending_output().to_vec();
        assert!(!out.is_empty(), "the keystroke never went out");
        s.consume_output(out.len());
        c.feed(&out).unwrap();
        for e in std::iter::from_fn(|| c.poll_event()) {
            match e {
                Event::ChannelData { id, data } if id == bulk_c && !seen => bulk_before += data.len(),
                Event::ChannelData { id, data } if id == keys_c => {
                    assert_eq!(data, b"k");
                    seen = true;
                }
                _ => {}
            }
        }
    }
    let burst = OUTPUT_BURST + LOCAL_MAX_PACKET as usize;
    assert!(bulk_before <= 2 * burst, "{bulk_before} bytes of bulk data went first");
}
