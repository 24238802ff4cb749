//! Receive windows that grow with the bandwidth-delay product
//! (`connection/window.rs`), through the sans-IO core: a pair of
//! connections exchanging their output once per step, so that a round trip
//! takes two steps and the window, not the link, limits a bulk transfer.

mod common;

use common::{drain_output, open_session, pair_with, pump};
use tobira_proto::msg::connection::ChannelRequest;
use tobira_proto::{Config, Connection, Event, LOCAL_WINDOW, MAX_GROWTH, MAX_WINDOW};

/// An authenticated pair with a session open; the client's configuration
/// given. Returns (client, server, client channel, server channel).
fn session_pair(client: Config) -> (Connection, Connection, u32, u32) {
    let (mut c, mut s) = pair_with(client);
    c.userauth_password("u", "p", None).unwrap();
    pump(&mut c, &mut s);
    s.auth_accept().unwrap();
    pump(&mut c, &mut s);
    let (cid, sid) = open_session(&mut c, &mut s);
    (c, s, cid, sid)
}

/// Everything `conn` has to send, taken out of it as a driver's flush
/// does (every burst, until the output stays empty).
fn take_output(conn: &mut Connection) -> Vec<u8> {
    drain_output(conn)
}

/// One step: each side's output goes to the other once. The server's
/// events go to `se`, or stay for the caller to poll.
fn step(c: &mut Connection, s: &mut Connection, ce: &mut Vec<Event>, se: Option<&mut Vec<Event>>) {
    let co = take_output(c);
    let so = take_output(s);
    s.feed(&co).unwrap();
    c.feed(&so).unwrap();
    ce.extend(std::iter::from_fn(|| c.poll_event()));
    if let Some(se) = se {
        se.extend(std::iter::from_fn(|| s.poll_event()));
    }
}

/// Writes `chunk`s on the server's channel until 8 MiB are queued: a
/// sender that always has more to send than the window lets through.
fn keep_queued(s: &mut Connection, sid: u32, chunk: &[u8]) {
    while s.channel_queued(sid) < 8 * 1024 * 1024 {
        s.channel_write(sid, None, chunk).unwrap();
    }
}

/// The bytes of a channel's data events, and how many there were.
fn take_data(events: &mut Vec<Event>, want: u32, into: &mut Vec<u8>) {
    events.retain(|e| match e {
        Event::ChannelData { id, data } if *id == want => {
            into.extend_from_slice(data);
            false
        }
        _ => true,
    });
}

/// The server keeps 8 MiB queued until `total` bytes are written; the
/// client consumes what arrives (automatic window adjust). Returns the
/// steps taken, the data received and the events left over.
fn download(
    c: &mut Connection,
    s: &mut Connection,
    cid: u32,
    sid: u32,
    total: usize,
    mut each_step: impl FnMut(usize, &mut Connection, &mut Connection),
) -> (usize, Vec<u8>, Vec<Event>, Vec<Event>) {
    let pattern: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (mut written, mut got) = (0usize, Vec::new());
    let (mut ce, mut se) = (Vec::new(), Vec::new());
    let mut steps = 0;
    while got.len() < total {
        while written < total && s.channel_queued(sid) < 8 * 1024 * 1024 {
            let n = pattern.len().min(total - written);
            s.channel_write(sid, None, &pattern[..n]).unwrap();
            written += n;
        }
        step(c, s, &mut ce, None);
        take_data(&mut ce, cid, &mut got);
        // The server's events are the callback's to take.
        each_step(steps, c, s);
        steps += 1;
        assert!(steps < 10_000, "the transfer stalled at {} bytes", got.len());
    }
    se.extend(std::iter::from_fn(|| s.poll_event()));
    (steps, got, ce, se)
}

fn expected(total: usize) -> Vec<u8> {
    (0..total).map(|i| ((i % (1024 * 1024)) % 251) as u8).collect()
}

/// A window-limited transfer: the window doubles each round trip up to
/// MAX_WINDOW, the peer never sends past it (the core would end the
/// connection), every byte arrives in order, and the probes stay inside
/// the cores: no request event on the server, no reply event on the
/// client.
#[test]
fn window_grows_while_it_limits_the_transfer() {
    let (mut c, mut s, cid, sid) = session_pair(Config::default());
    assert_eq!(c.channel_receive_window(cid), Some(LOCAL_WINDOW));
    let total = 96 * 1024 * 1024;
    let (steps, got, ce, se) = download(&mut c, &mut s, cid, sid, total, |_, _, _| {});
    assert!(got == expected(total), "data differs");
    assert_eq!(c.channel_receive_window(cid), Some(MAX_WINDOW));
    // 96 MiB through a fixed 2 MiB window takes at least 48 round trips
    // (96 steps); with the window grown, far fewer.
    assert!(steps < 48, "{steps} steps");
    assert!(
        !se.iter().any(|e| matches!(e, Event::ChannelRequest { .. })),
        "a probe reached the application: {se:?}"
    );
    assert!(
        !ce.iter().any(|e| matches!(e, Event::ChannelRequestReply { .. })),
        "a probe's answer reached the application: {ce:?}"
    );
    // The server's own window, which only saw window adjusts and probes,
    // did not grow.
    assert_eq!(s.channel_receive_window(sid), Some(LOCAL_WINDOW));
}

/// A consumer slower than the window: the peer cannot send a window's
/// worth in a round trip, so the window stays where it started.
#[test]
fn slow_consumer_keeps_the_starting_window() {
    let config = Config {
        auto_window_adjust: false,
        ..Config::default()
    };
    let (mut c, mut s, cid, sid) = session_pair(config);
    let total = 24 * 1024 * 1024;
    let pattern = vec![7u8; 1024 * 1024];
    let (mut written, mut received, mut consumed) = (0usize, 0usize, 0usize);
    let (mut ce, mut se) = (Vec::new(), Vec::new());
    let mut steps = 0;
    while consumed < total {
        while written < total && s.channel_queued(sid) < 8 * 1024 * 1024 {
            s.channel_write(sid, None, &pattern).unwrap();
            written += pattern.len();
        }
        step(&mut c, &mut s, &mut ce, Some(&mut se));
        let mut got = Vec::new();
        take_data(&mut ce, cid, &mut got);
        received += got.len();
        // 256 KiB a step: a quarter of the window per round trip (two
        // steps), under the half that makes it grow.
        let n = (received - consumed).min(256 * 1024);
        c.channel_consumed(cid, n).unwrap();
        consumed += n;
        steps += 1;
        assert!(steps < 10_000, "stalled");
    }
    assert_eq!(c.channel_receive_window(cid), Some(LOCAL_WINDOW));
}

/// The application's own requests with a reply, sent while probes are in
/// flight, get their own answers, in order.
#[test]
fn application_replies_are_not_confused_with_probes() {
    let (mut c, mut s, cid, sid) = session_pair(Config::default());
    let total = 48 * 1024 * 1024;
    let mut asked = 0;
    let answer = |s: &mut Connection| {
        // The server answers every request it has seen: true for odd
        // names' numbers, false for even.
        while let Some(e) = s.poll_event() {
            match e {
                Event::ChannelRequest {
                    request: ChannelRequest::Env { name, .. },
                    ..
                } => {
                    let n: usize = name[1..].parse().unwrap();
                    s.channel_request_reply(sid, n % 2 == 1).unwrap();
                }
                Event::ChannelRequest { request, .. } => panic!("unexpected request {request:?}"),
                _ => {}
            }
        }
    };
    let (_, got, ce, _) = download(&mut c, &mut s, cid, sid, total, |i, c, s| {
        if i % 3 == 0 {
            let request = ChannelRequest::Env {
                name: format!("V{i}"),
                value: "x".into(),
            };
            c.channel_request(cid, &request, true).unwrap();
            asked += 1;
        }
        answer(s);
    });
    assert!(got == expected(total), "data differs");
    // The last requests are answered.
    let mut ce2 = Vec::new();
    for _ in 0..4 {
        step(&mut c, &mut s, &mut ce2, None);
        answer(&mut s);
    }
    let replies: Vec<bool> = ce
        .iter()
        .chain(ce2.iter())
        .filter_map(|e| match e {
            Event::ChannelRequestReply { success, .. } => Some(*success),
            _ => None,
        })
        .collect();
    let want: Vec<bool> = (0..asked).map(|k| (3 * k) % 2 == 1).collect();
    assert_eq!(replies, want);
    assert!(c.channel_receive_window(cid).unwrap() > LOCAL_WINDOW);
}

/// Several busy channels on one connection: together their windows grow
/// by no more than MAX_GROWTH.
#[test]
fn growth_is_bounded_per_connection() {
    let (mut c, mut s, cid, sid) = session_pair(Config::default());
    let mut chans = vec![(cid, sid)];
    for _ in 0..3 {
        chans.push(open_session(&mut c, &mut s));
    }
    let chunk = vec![1u8; 1024 * 1024];
    let (mut ce, mut se) = (Vec::new(), Vec::new());
    let mut busy = |c: &mut Connection, s: &mut Connection, chans: &[(u32, u32)]| {
        for _ in 0..200 {
            for &(_, sid) in chans {
                keep_queued(s, sid, &chunk);
            }
            step(c, s, &mut ce, Some(&mut se));
            ce.clear();
        }
    };
    busy(&mut c, &mut s, &chans);
    let grown = |c: &Connection, chans: &[(u32, u32)]| -> u32 {
        chans
            .iter()
            .map(|&(cid, _)| c.channel_receive_window(cid).unwrap() - LOCAL_WINDOW)
            .sum()
    };
    assert_eq!(grown(&c, &chans), MAX_GROWTH);
    for &(cid, _) in &chans {
        assert!(c.channel_receive_window(cid).unwrap() <= MAX_WINDOW);
    }
    // A grown channel closes: its growth returns to the budget, and the
    // others grow into it.
    let (cid0, sid0) = chans.remove(0);
    let freed = c.channel_receive_window(cid0).unwrap() - LOCAL_WINDOW;
    assert!(freed > 0);
    c.channel_close(cid0).unwrap();
    s.channel_close(sid0).unwrap();
    busy(&mut c, &mut s, &chans);
    assert!(!c.channel_exists(cid0));
    assert_eq!(grown(&c, &chans), MAX_GROWTH);
}

/// Growth follows what the application takes, not what arrives: after a
/// first round trip the client stops consuming, and however much the
/// server sends (it sends every byte of window it gets), the window stays.
#[test]
fn window_does_not_grow_when_the_application_stops_taking() {
    let config = Config {
        auto_window_adjust: false,
        ..Config::default()
    };
    let (mut c, mut s, cid, sid) = session_pair(config);
    let chunk = vec![3u8; 1024 * 1024];
    let (mut ce, mut se) = (Vec::new(), Vec::new());
    let mut received = 0usize;
    // 512 KiB arrive and are taken at once: the adjust (and its probe)
    // goes out while the window is nearly all open.
    s.channel_write(sid, None, &chunk[..512 * 1024]).unwrap();
    for i in 0..100 {
        if i > 0 {
            keep_queued(&mut s, sid, &chunk);
        }
        step(&mut c, &mut s, &mut ce, Some(&mut se));
        let mut got = Vec::new();
        take_data(&mut ce, cid, &mut got);
        received += got.len();
        // The application takes those 512 KiB, then nothing: the server
        // fills the window, and a whole window arrives in the probe's
        // round trip, none of it taken.
        if i == 0 {
            c.channel_consumed(cid, got.len()).unwrap();
        }
    }
    assert_eq!(c.channel_receive_window(cid), Some(LOCAL_WINDOW));
    // The peer could send the window and what was taken, no more.
    assert_eq!(received, LOCAL_WINDOW as usize + 512 * 1024);
}

/// A peer that answers a window probe after the channel has closed (the
/// probe crossed its CLOSE): the answer is absorbed, not a protocol error;
/// a second, unsolicited one still is.
#[test]
fn late_probe_answer_after_close_is_absorbed() {
    let (mut c, mut s, cid, sid) = session_pair(Config::default());
    // A window's worth: the client takes it on arrival and sends a
    // window adjust with a probe, which never reaches the server.
    s.channel_write(sid, None, &vec![9u8; LOCAL_WINDOW as usize]).unwrap();
    let so = take_output(&mut s);
    c.feed(&so).unwrap();
    let probe = take_output(&mut c);
    assert!(
        probe.len() > 64,
        "an adjust and a probe went out ({} bytes)",
        probe.len()
    );
    // The server closes; the client answers and forgets the channel.
    s.channel_close(sid).unwrap();
    let so = take_output(&mut s);
    c.feed(&so).unwrap();
    while c.poll_event().is_some() {}
    assert!(!c.channel_exists(cid));
    // The server's late answer to the probe.
    let mut failure = vec![100u8];
    failure.extend_from_slice(&cid.to_be_bytes());
    s.send_payload(failure.clone()).unwrap();
    let so = take_output(&mut s);
    c.feed(&so).expect("a late probe answer is absorbed");
    // Nothing more was due.
    s.send_payload(failure).unwrap();
    let so = take_output(&mut s);
    assert!(c.feed(&so).is_err(), "an unsolicited answer is an error");
}

/// With `Config::window_growth` off, no probe goes out and the window
/// stays where it started, however the transfer goes.
#[test]
fn window_growth_can_be_turned_off() {
    let config = Config {
        window_growth: false,
        ..Config::default()
    };
    let (mut c, mut s, cid, sid) = session_pair(config);
    let total = 32 * 1024 * 1024;
    let (_, got, _, se) = download(&mut c, &mut s, cid, sid, total, |_, _, _| {});
    assert!(got == expected(total), "data differs");
    assert_eq!(c.channel_receive_window(cid), Some(LOCAL_WINDOW));
    assert!(!se.iter().any(|e| matches!(e, Event::ChannelRequest { .. })));
}

/// Window adjustments and the probes sent with them are not packets the
/// peer may be waiting for: `Connection::answerable_packets_sent` stays
/// put while a receiver sends only those, and moves with anything else
/// (channel data here), which tells a driver when to stop batching its
/// reads (`tobira::driver::Driver::on_bulk_read`). With the window kept by
/// the connection and by the application alike.
#[test]
fn window_messages_are_not_answerable_packets() {
    for auto in [true, false] {
        let config = Config {
            auto_window_adjust: auto,
            ..Config::default()
        };
        let (mut c, mut s, cid, sid) = session_pair(config);
        let before = c.answerable_packets_sent();
        let client_sent = download_8_mib(&mut c, &mut s, cid, sid, |_, _| {});
        assert!(client_sent > 0, "the receiver sent no window adjustment");
        assert_eq!(c.answerable_packets_sent(), before, "window messages counted");
        c.channel_write(cid, None, b"k").unwrap();
        assert!(!take_output(&mut c).is_empty());
        assert_ne!(c.answerable_packets_sent(), before, "channel data not counted");
    }
}

/// A window adjustment held back by a key exchange is counted when it is
/// sealed, not when queued: it must not cancel out the KEXINIT that the
/// same step sends (which the peer answers), nor be counted if it never
/// goes. So the count never goes back.
#[test]
fn a_held_window_adjustment_does_not_hide_our_kexinit() {
    let config = Config {
        auto_window_adjust: false,
        rekey_bytes: 512 * 1024,
        ..Config::default()
    };
    let (mut c, mut s, cid, sid) = session_pair(config);
    let mut kexinits = 0;
    download_8_mib(&mut c, &mut s, cid, sid, |c, client_step| {
        let (before, was_exchanging) = client_step;
        // Counted as sealed, the count only ever grows.
        let moved = c.answerable_packets_sent().wrapping_sub(before);
        assert!(moved < 1 << 32, "the count went back by {}", moved.wrapping_neg());
        if !was_exchanging && c.kex_in_progress() {
            kexinits += 1;
            assert!(moved > 0, "our KEXINIT was not counted");
        }
    });
    assert!(kexinits >= 2, "{kexinits} re-exchanges");
}

/// Sends 8 MiB from the server's channel to the client's, the client
/// consuming each step's data at once; `each` sees the client after its
/// step, with the answerable count and whether a key exchange ran before
/// it. Returns the bytes the client sent.
fn download_8_mib(
    c: &mut Connection,
    s: &mut Connection,
    cid: u32,
    sid: u32,
    mut each: impl FnMut(&Connection, (u64, bool)),
) -> usize {
    let pattern = vec![7u8; 1024 * 1024];
    let (mut received, mut client_sent) = (0usize, 0usize);
    let mut ce = Vec::new();
    for _ in 0..8 {
        s.channel_write(sid, None, &pattern).unwrap();
    }
    let mut steps = 0;
    while received < 8 * pattern.len() {
        let so = take_output(s);
        let before = (c.answerable_packets_sent(), c.kex_in_progress());
        c.feed(&so).unwrap();
        ce.extend(std::iter::from_fn(|| c.poll_event()));
        let mut got = Vec::new();
        take_data(&mut ce, cid, &mut got);
        received += got.len();
        c.channel_consumed(cid, got.len()).unwrap();
        each(c, before);
        let co = take_output(c);
        client_sent += co.len();
        s.feed(&co).unwrap();
        while s.poll_event().is_some() {}
        steps += 1;
        assert!(steps < 10_000, "stalled");
    }
    client_sent
}
