//! # tobira
//!
//! The tokio driver of the tobira SSH-2 implementation: client and server
//! connection tasks around the sans-IO core in `tobira-proto`, and the
//! OpenSSH-compatible files (known_hosts, key files, configuration).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod driver;
pub mod hostkeys;
pub mod keyfile;
pub mod known_hosts;
pub mod server;
pub mod trust;
