//! # tobira-proto
//!
//! A sans-IO implementation of the SSH-2 protocol (RFC 4250–4254): no
//! sockets, no async runtime, no clock; the caller feeds bytes in and takes
//! bytes and events out. Randomness is injected.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod algorithms;
pub mod crypto;
pub mod error;
pub mod hostkey;
pub mod kex;
pub mod msg;
pub mod transport;
pub mod wire;

pub use error::{DisconnectReason, Error};
pub mod config;
pub mod connection;
pub mod trace;

pub use config::Config;
pub use connection::{AuthRequest, Connection, Event, Role, LOCAL_WINDOW, MAX_ANSWERS_OWED, MAX_GROWTH, MAX_WINDOW};
