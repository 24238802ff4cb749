//! What a connection offers and holds: algorithm preferences, host keys
//! (server), group-exchange moduli (server), advertised auth methods.

use std::sync::Arc;

use crate::algorithms;
use crate::hostkey::SigningKey;
use crate::kex::gex::Modulus;

/// Configuration of one connection (either role).
#[derive(Clone, Debug)]
pub struct Config {
    /// Key exchange methods, preferred first (RFC 4253 §7.1 `kex_algorithms`).
    pub kex: Vec<String>,
    /// Host key algorithms (client: accepted; server: offered if a key exists).
    pub host_key: Vec<String>,
    /// Ciphers, both directions.
    pub cipher: Vec<String>,
    /// MACs, both directions.
    pub mac: Vec<String>,
    /// Compression methods, both directions.
    pub compression: Vec<String>,
    /// Server: host keys.
    pub host_keys: Vec<Arc<SigningKey>>,
    /// Server: list every host key to the client after authentication
    /// (`hostkeys-00@openssh.com`, OpenSSH PROTOCOL §2.5), so that it can
    /// learn the ones it lacks and forget retired ones. On by default, as
    /// in OpenSSH's sshd.
    pub announce_host_keys: bool,
    /// Server: DH group-exchange moduli.
    pub moduli: Arc<Vec<Modulus>>,
    /// Server: the smallest group-exchange modulus handed out, in bits
    /// (default 3072, as public audit tools ask; RFC 8270 allows 2048).
    pub gex_min_bits: u32,
    /// Server: algorithms listed in the `server-sig-algs` extension.
    pub server_sig_algs: Vec<String>,
    /// Reopen channel windows as soon as data arrives (simple embedding);
    /// drivers that apply backpressure turn this off and call
    /// [`crate::Connection::channel_consumed`].
    pub auto_window_adjust: bool,
    /// Grow receive windows with the bandwidth-delay product, measuring
    /// round trips with `winadj@putty.projects.tartarus.org` probes
    /// (`connection/window.rs`). Off: every window stays at
    /// [`crate::LOCAL_WINDOW`] and no probe is sent, for a peer that
    /// mishandles channel requests it does not know.
    pub window_growth: bool,
    /// Start a key re-exchange once either direction has carried this many
    /// bytes under the current keys (`RekeyLimit`; RFC 4253 §9 recommends
    /// 1 GB). Ciphers with 64-bit blocks rekey sooner (RFC 4344 §3.2); the
    /// time limit is the driver's (it calls
    /// [`crate::Connection::start_rekey`]).
    pub rekey_bytes: u64,
    /// Server: hand the slow steps of a key exchange (finite-field DH, RSA
    /// or DSA host-key signatures, the RSA key exchange's transient key
    /// and decryption) to the driver as a
    /// [`crate::connection::KexWork`] instead of computing it inside
    /// [`crate::Connection::feed`]; see
    /// [`crate::Connection::take_kex_work`]. Off: everything runs inline.
    pub offload_slow_kex: bool,
    /// Emit [`crate::Event::Trace`] for every packet.
    pub trace: bool,
    /// Our identification string (without CR LF).
    pub ident: String,
}

/// Default of [`Config::rekey_bytes`]: 1 GiB.
pub const DEFAULT_REKEY_BYTES: u64 = 1 << 30;

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kex: owned(algorithms::KEX_DEFAULT),
            host_key: owned(algorithms::HOSTKEY_DEFAULT),
            cipher: owned(algorithms::cipher_default()),
            mac: owned(algorithms::MAC_DEFAULT),
            compression: owned(algorithms::COMPRESSION_DEFAULT),
            host_keys: Vec::new(),
            announce_host_keys: true,
            moduli: Arc::new(crate::kex::gex::fallback_groups()),
            gex_min_bits: 3072,
            server_sig_algs: owned(algorithms::PUBKEY_SUPPORTED),
            auto_window_adjust: true,
            window_growth: true,
            rekey_bytes: DEFAULT_REKEY_BYTES,
            offload_slow_kex: false,
            trace: false,
            ident: crate::transport::ident::local_ident(),
        }
    }
}
