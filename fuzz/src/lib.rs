//! Shared code of the tobira fuzz targets: the two-way byte codec of the
//! structured inputs, the scripts of the state targets and the in-memory
//! client/server session that runs them.

pub mod codec;
pub mod script;
pub mod session;
pub mod seeds;
