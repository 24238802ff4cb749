//! Logging set-up: `tracing` to stderr or to a file (`-E`), at the level
//! chosen by `-v`/`-d`/`LogLevel`.

use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::filter::LevelFilter;

/// Installs the global subscriber. `level` counts verbosity: 0 quiet
/// (errors only), 1 info, 2 debug, 3+ trace.
pub fn init(level: u8, file: Option<&Path>) -> std::io::Result<()> {
    let filter = match level {
        0 => LevelFilter::ERROR,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(filter)
        .with_target(false)
        .with_level(false)
        .without_time()
        .with_ansi(false);
    match file {
        Some(p) => {
            let f = std::fs::OpenOptions::new().create(true).append(true).open(p)?;
            let _ = builder.with_writer(Mutex::new(f)).try_init();
        }
        None => {
            let _ = builder.with_writer(std::io::stderr).try_init();
        }
    }
    Ok(())
}
