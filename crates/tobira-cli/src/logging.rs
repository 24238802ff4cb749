//! Logging set-up: `tracing` to stderr, or to a file (`-E`) in syslog's
//! line format (`Mon DD HH:MM:SS host tobirad[pid]: message`, UTC) so that
//! log tools such as fail2ban read it as they read sshd's lines.

use std::fmt;
use std::path::Path;
use std::sync::Mutex;

use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The syslog-style line prefix.
struct SyslogFormat {
    host: String,
    program: &'static str,
    pid: u32,
}

/// `Mon DD HH:MM:SS` for a Unix time (UTC), as syslog (RFC 3164) writes it.
pub fn syslog_timestamp(unix: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[(month - 1) as usize],
        day,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

impl<S, N> FormatEvent<S, N> for SyslogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        write!(
            writer,
            "{} {} {}[{}]: ",
            syslog_timestamp(now),
            self.host,
            self.program,
            self.pid
        )?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Installs the global subscriber. `level` counts verbosity: 0 quiet
/// (errors only), 1 info, 2 debug, 3+ trace. `program` names the daemon in
/// file lines.
pub fn init(level: u8, file: Option<&Path>, program: &'static str) -> std::io::Result<()> {
    let filter = match level {
        0 => LevelFilter::ERROR,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    match file {
        Some(p) => {
            let f = std::fs::OpenOptions::new().create(true).append(true).open(p)?;
            let host = nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".into());
            let fmt = SyslogFormat {
                host,
                program,
                pid: std::process::id(),
            };
            let _ = tracing_subscriber::fmt()
                .with_max_level(filter)
                .with_ansi(false)
                .event_format(fmt)
                .with_writer(Mutex::new(f))
                .try_init();
        }
        None => {
            let _ = tracing_subscriber::fmt()
                .with_max_level(filter)
                .with_target(false)
                .with_level(false)
                .without_time()
                .with_ansi(false)
                .with_writer(std::io::stderr)
                .try_init();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn syslog_timestamps() {
        assert_eq!(super::syslog_timestamp(0), "Jan  1 00:00:00");
        // 2026-11-25 17:23:01 UTC
        assert_eq!(super::syslog_timestamp(1_795_627_381), "Nov 25 17:23:01");
        assert_eq!(super::syslog_timestamp(951_782_400), "Feb 29 00:00:00");
    }
}
