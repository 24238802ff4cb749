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
