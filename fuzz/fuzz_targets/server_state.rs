//! The server's connection state machine under a scripted, fuzzed client.
//!
//! A real tobira client and server run a handshake with seeded RNGs up to
//! the setup's start point (fresh, after the first NEWKEYS, userauth,
//! authenticated, or with a session channel open); then the script's
//! actions inject payloads through the client's connection (sealed with
//! the right keys), structured messages, unencrypted or raw bytes, partial
//! deliveries and API calls on either side. See `tobira_fuzz::script`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tobira_fuzz::script::Script;
use tobira_proto::Role;

fuzz_target!(|script: Script| {
    tobira_fuzz::session::run(&script, Role::Server);
});
