//! # tobira
//!
//! The tokio driver of the tobira SSH-2 implementation: client and server
//! connection tasks around the sans-IO core in `tobira-proto`, and the
//! OpenSSH-compatible files (known_hosts, key files, configuration).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod account;
pub mod admission;
pub mod agent;
pub mod authorized_keys;
pub mod client;
pub mod client_auth;
pub mod config;
pub mod connection_threads;
#[allow(unsafe_code)]
pub mod crypt;
pub mod driver;
#[allow(unsafe_code)]
pub mod fine_timer;
pub mod forward;
pub mod host_key_update;
pub mod hostkeys;
pub mod inherited_fds;
pub mod keyfile;
pub mod known_hosts;
pub mod process;
#[allow(unsafe_code)]
pub mod pty;
pub mod pubkey;
#[allow(unsafe_code)]
pub mod recv_low_water;
pub mod server;
pub mod server_auth;
pub mod server_forward;
pub mod server_session;
pub mod spawner;
pub mod trust;
