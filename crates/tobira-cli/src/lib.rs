//! Shared pieces of the tobira binaries: logging set-up and terminal
//! prompts. The binaries only parse arguments and call the library.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod background;
pub mod client_forward;
pub mod input;
pub mod logging;
pub mod output;
pub mod safe_text;
pub mod session;
mod stdio_pipe;
pub mod terminal;
pub mod tty;
