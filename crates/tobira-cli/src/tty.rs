//! Questions to the user on the controlling terminal (`/dev/tty`), as ssh
//! asks them: never on stdin, which may carry data.

use std::io::{BufRead, BufReader, Write};

/// Shows `question` on the terminal and reads one line. `None` when there
/// is no terminal (then ssh refuses rather than guessing).
pub fn ask(question: &str) -> Option<String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let mut w = tty.try_clone().ok()?;
    w.write_all(question.as_bytes()).ok()?;
    w.flush().ok()?;
    let mut line = String::new();
    let n = BufReader::new(tty).read_line(&mut line).ok()?;
    if n == 0 {
        return None;
    }
    Some(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Reads a secret from the terminal with echo off (restored afterwards,
/// also on error). `None` without a terminal.
pub fn ask_secret(prompt: &str) -> Option<zeroize::Zeroizing<String>> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let mut w = tty.try_clone().ok()?;
    let saved = tcgetattr(&tty).ok()?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    tcsetattr(&tty, SetArg::TCSAFLUSH, &quiet).ok()?;
    let result = (|| {
        w.write_all(prompt.as_bytes()).ok()?;
        w.flush().ok()?;
        let mut line = zeroize::Zeroizing::new(String::new());
        let n = BufReader::new(&tty).read_line(&mut line).ok()?;
        if n == 0 {
            return None;
        }
        let trimmed = line.trim_end_matches(['\r', '\n']).len();
        line.truncate(trimmed);
        Some(line)
    })();
    let _ = tcsetattr(&tty, SetArg::TCSAFLUSH, &saved);
    result
}

/// Runs `$SSH_ASKPASS prompt` and returns its first output line.
pub fn askpass(program: &str, prompt: &str) -> Option<zeroize::Zeroizing<String>> {
    let out = std::process::Command::new(program)
        .arg(prompt)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = zeroize::Zeroizing::new(String::from_utf8_lossy(&out.stdout).into_owned());
    Some(zeroize::Zeroizing::new(text.lines().next().unwrap_or("").to_string()))
}

/// Whether secrets come from `SSH_ASKPASS` (ssh(1) ENVIRONMENT):
/// `SSH_ASKPASS_REQUIRE=force` always, `prefer` when set, `never` never;
/// by default when there is no terminal and a display is set.
pub fn use_askpass() -> Option<String> {
    let program = std::env::var("SSH_ASKPASS").ok().filter(|p| !p.is_empty())?;
    let require = std::env::var("SSH_ASKPASS_REQUIRE").unwrap_or_default();
    let has_tty = std::fs::OpenOptions::new().read(true).open("/dev/tty").is_ok();
    let display = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    match require.as_str() {
        "force" | "prefer" => Some(program),
        "never" => None,
        _ if !has_tty && display => Some(program),
        _ => None,
    }
}

/// The client's [`tobira::client_auth::Prompter`]: the terminal, or
/// `SSH_ASKPASS`; nothing in batch mode.
pub struct TtyPrompter {
    /// `BatchMode`.
    pub batch: bool,
    /// `-q` / `LogLevel QUIET`: no banner.
    pub quiet: bool,
}

impl tobira::client_auth::Prompter for TtyPrompter {
    fn secret(&mut self, prompt: &str) -> Option<zeroize::Zeroizing<String>> {
        if self.batch {
            return None;
        }
        // The prompt may be the server's (keyboard-interactive).
        let prompt = crate::safe_text::printable(prompt);
        match use_askpass() {
            Some(p) => askpass(&p, &prompt),
            None => ask_secret(&prompt),
        }
    }
    fn visible(&mut self, prompt: &str) -> Option<String> {
        if self.batch {
            return None;
        }
        let prompt = crate::safe_text::printable(prompt);
        match use_askpass() {
            Some(p) => askpass(&p, &prompt).map(|s| s.to_string()),
            None => ask(&prompt),
        }
    }
    fn show(&mut self, text: &str) {
        // The server's banner and instructions among them.
        if !self.quiet {
            eprint!("{}", crate::safe_text::printable(text));
        }
    }
}
