//! The transport layer (RFC 4253): identification, binary packets,
//! negotiation, key derivation.

pub mod compress;
pub mod ident;
pub mod keys;
pub mod negotiate;
pub mod out_buf;
pub mod packet;
