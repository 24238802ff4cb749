//! The local terminal of an interactive `tobira` session, as ssh(1) handles
//! it: raw mode while a pty is in use, the window size and `TERM` for the
//! `pty-req` and `window-change` requests (RFC 4254 §6.2, §6.7), the
//! encoded terminal modes (RFC 4254 §8) and the escape characters
//! (ssh(1) ESCAPE CHARACTERS).

use std::io;
use std::os::fd::AsFd;
use std::sync::Mutex;

use rustix::termios::{
    tcgetattr, tcgetwinsize, tcsetattr, ControlModes, InputModes, LocalModes, OptionalActions, OutputModes,
    SpecialCodeIndex, Termios,
};

/// The terminal modes of stdin saved by the active [`RawModeGuard`], like
/// OpenSSH's `get_saved_tio()`: [`encoded_modes`] describes the user's
/// terminal, not the raw mode we put it in.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

fn saved_modes() -> Option<Termios> {
    SAVED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn set_saved_modes(modes: Option<Termios>) {
    *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = modes;
}

/// Puts the local terminal (stdin) in raw mode as ssh(1) does for a session
/// with a pty (OpenSSH's `enter_raw_mode`), and restores the saved modes on
/// drop, which also runs while the process unwinds from a panic.
///
/// Call [`RawModeGuard::restore`] before `std::process::exit`, which runs no
/// destructors. Nothing is done when stdin is not a terminal.
pub struct RawModeGuard {
    saved: Termios,
    active: bool,
}

impl RawModeGuard {
    /// Saves the modes of stdin and switches it to raw mode: no echo, no
    /// line editing, no signals from the keyboard, no output processing,
    /// no CR/NL translation, no flow control, one byte per read — the flags
    /// ssh(1) clears so that every key press reaches the remote pty
    /// (RFC 4254 §6.2). `Ok(None)` when stdin is not a terminal.
    pub fn enter() -> io::Result<Option<RawModeGuard>> {
        let stdin = io::stdin();
        if !rustix::termios::isatty(stdin.as_fd()) {
            return Ok(None);
        }
        let saved = make_raw_mode()?;
        Ok(Some(RawModeGuard { saved, active: true }))
    }

    /// Puts the saved terminal modes back (OpenSSH's `leave_raw_mode`);
    /// later calls, and the drop, do nothing more.
    pub fn restore(&mut self) {
        if !self.active {
            return;
        }
        self.active = false;
        let _ = tcsetattr(io::stdin().as_fd(), OptionalActions::Drain, &self.saved);
        set_saved_modes(None);
    }

    /// Raw mode again after [`RawModeGuard::restore`], with the terminal's
    /// modes saved anew (the user may have changed them meanwhile).
    pub fn reenter(&mut self) -> io::Result<()> {
        if self.active {
            return Ok(());
        }
        self.saved = make_raw_mode()?;
        self.active = true;
        Ok(())
    }

    /// The `~^Z` escape of ssh(1): restores the terminal, stops the whole
    /// process with SIGTSTP as OpenSSH's `client_suspend_self` does, and
    /// enters raw mode again once the shell continues it (SIGCONT). The
    /// caller should then send a `window-change` (RFC 4254 §6.7) if
    /// [`window_size`] changed while it was stopped.
    pub fn suspend(&mut self) -> io::Result<()> {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        self.restore();
        kill(Pid::this(), Signal::SIGTSTP).map_err(io::Error::from)?;
        self.reenter()
    }
}

impl Drop for RawModeGuard {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Saves stdin's modes and applies OpenSSH's `enter_raw_mode` flags.
fn make_raw_mode() -> io::Result<Termios> {
    let stdin = io::stdin();
    let saved = tcgetattr(stdin.as_fd())?;
    let mut tio = saved.clone();
    tio.input_modes.insert(InputModes::IGNPAR);
    tio.input_modes.remove(
        InputModes::ISTRIP
            | InputModes::INLCR
            | InputModes::IGNCR
            | InputModes::ICRNL
            | InputModes::IXON
            | InputModes::IXANY
            | InputModes::IXOFF,
    );
    #[cfg(any(target_os = "linux", target_os = "android"))]
    tio.input_modes.remove(InputModes::IUCLC);
    tio.local_modes.remove(
        LocalModes::ISIG
            | LocalModes::ICANON
            | LocalModes::ECHO
            | LocalModes::ECHOE
            | LocalModes::ECHOK
            | LocalModes::ECHONL
            | LocalModes::IEXTEN,
    );
    tio.output_modes.remove(OutputModes::OPOST);
    tio.special_codes[SpecialCodeIndex::VMIN] = 1;
    tio.special_codes[SpecialCodeIndex::VTIME] = 0;
    tcsetattr(stdin.as_fd(), OptionalActions::Drain, &tio)?;
    set_saved_modes(Some(saved.clone()));
    Ok(saved)
}

/// The terminal size for the `pty-req` and `window-change` requests
/// (RFC 4254 §6.2, §6.7): `(columns, rows, width in pixels, height in
/// pixels)` of stdin's terminal, else stdout's, as ssh(1) reads it with
/// `TIOCGWINSZ`. `None` when neither is a terminal.
pub fn window_size() -> Option<(u32, u32, u32, u32)> {
    let ws = tcgetwinsize(io::stdin().as_fd())
        .or_else(|_| tcgetwinsize(io::stdout().as_fd()))
        .ok()?;
    Some((
        u32::from(ws.ws_col),
        u32::from(ws.ws_row),
        u32::from(ws.ws_xpixel),
        u32::from(ws.ws_ypixel),
    ))
}

/// The terminal type for the `pty-req` request (RFC 4254 §6.2): `$TERM`,
/// or the empty string when it is unset, as ssh(1) sends it.
pub fn term_name() -> String {
    std::env::var_os("TERM")
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `TTY_OP_END` of RFC 4254 §8.
const TTY_OP_END: u8 = 0;
/// `TTY_OP_ISPEED` of RFC 4254 §8.
const TTY_OP_ISPEED: u8 = 128;
/// `TTY_OP_OSPEED` of RFC 4254 §8.
const TTY_OP_OSPEED: u8 = 129;

/// The special characters that ssh(1) sends (OpenSSH's `ttymodes.h`), with
/// their RFC 4254 §8 opcodes.
fn special_chars() -> Vec<(u8, SpecialCodeIndex)> {
    let mut v = vec![
        (1, SpecialCodeIndex::VINTR),
        (2, SpecialCodeIndex::VQUIT),
        (3, SpecialCodeIndex::VERASE),
        (4, SpecialCodeIndex::VKILL),
        (5, SpecialCodeIndex::VEOF),
        (6, SpecialCodeIndex::VEOL),
        (7, SpecialCodeIndex::VEOL2),
        (8, SpecialCodeIndex::VSTART),
        (9, SpecialCodeIndex::VSTOP),
        (10, SpecialCodeIndex::VSUSP),
    ];
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "openbsd",
        target_os = "netbsd"
    ))]
    v.push((11, SpecialCodeIndex::VDSUSP));
    v.extend([
        (12, SpecialCodeIndex::VREPRINT),
        (13, SpecialCodeIndex::VWERASE),
        (14, SpecialCodeIndex::VLNEXT),
    ]);
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "openbsd",
        target_os = "netbsd"
    ))]
    v.push((17, SpecialCodeIndex::VSTATUS));
    v.push((18, SpecialCodeIndex::VDISCARD));
    v
}

/// `_POSIX_VDISABLE`: a special character that is switched off, sent as 255
/// (OpenSSH's `special_char_encode`).
#[cfg(any(target_os = "linux", target_os = "android"))]
const POSIX_VDISABLE: u8 = 0;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const POSIX_VDISABLE: u8 = 0xff;

/// The boolean modes that ssh(1) sends, with their RFC 4254 §8 opcodes:
/// `(opcode, set)`.
fn flag_modes(t: &Termios) -> Vec<(u8, bool)> {
    let i = |f: InputModes| t.input_modes.contains(f);
    let l = |f: LocalModes| t.local_modes.contains(f);
    let o = |f: OutputModes| t.output_modes.contains(f);
    // OpenSSH tests `(c_cflag & MODE) != 0`, so CS7 also reads as set under
    // CS8; servers end up with the same character size either way.
    let c = |f: ControlModes| t.control_modes.bits() & f.bits() != 0;
    let mut v = vec![
        (30, i(InputModes::IGNPAR)),
        (31, i(InputModes::PARMRK)),
        (32, i(InputModes::INPCK)),
        (33, i(InputModes::ISTRIP)),
        (34, i(InputModes::INLCR)),
        (35, i(InputModes::IGNCR)),
        (36, i(InputModes::ICRNL)),
    ];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    v.push((37, i(InputModes::IUCLC)));
    v.extend([
        (38, i(InputModes::IXON)),
        (39, i(InputModes::IXANY)),
        (40, i(InputModes::IXOFF)),
        (41, i(InputModes::IMAXBEL)),
    ]);
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
    v.push((42, i(InputModes::IUTF8)));
    v.extend([(50, l(LocalModes::ISIG)), (51, l(LocalModes::ICANON))]);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    v.push((52, l(LocalModes::XCASE)));
    v.extend([
        (53, l(LocalModes::ECHO)),
        (54, l(LocalModes::ECHOE)),
        (55, l(LocalModes::ECHOK)),
        (56, l(LocalModes::ECHONL)),
        (57, l(LocalModes::NOFLSH)),
        (58, l(LocalModes::TOSTOP)),
        (59, l(LocalModes::IEXTEN)),
        (60, l(LocalModes::ECHOCTL)),
        (61, l(LocalModes::ECHOKE)),
        (62, l(LocalModes::PENDIN)),
        (70, o(OutputModes::OPOST)),
    ]);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    v.push((71, o(OutputModes::OLCUC)));
    v.extend([
        (72, o(OutputModes::ONLCR)),
        (73, o(OutputModes::OCRNL)),
        (74, o(OutputModes::ONOCR)),
        (75, o(OutputModes::ONLRET)),
        (90, c(ControlModes::CS7)),
        (91, c(ControlModes::CS8)),
        (92, c(ControlModes::PARENB)),
        (93, c(ControlModes::PARODD)),
    ]);
    v
}

fn encode_modes(t: &Termios) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |op: u8, value: u32| {
        out.push(op);
        out.extend_from_slice(&value.to_be_bytes());
    };
    put(TTY_OP_OSPEED, t.output_speed());
    put(TTY_OP_ISPEED, t.input_speed());
    for (op, idx) in special_chars() {
        let ch = t.special_codes[idx];
        put(op, if ch == POSIX_VDISABLE { 255 } else { u32::from(ch) });
    }
    for (op, set) in flag_modes(t) {
        put(op, u32::from(set));
    }
    out.push(TTY_OP_END);
    out
}

/// The `encoded terminal modes` string of the `pty-req` request (RFC 4254
/// §6.2, §8), built as ssh(1) builds it (OpenSSH's `tty_make_modes`): the
/// output and input speeds (`TTY_OP_OSPEED`, `TTY_OP_ISPEED`), the special
/// characters `VINTR`..`VDISCARD` (255 when disabled), then the input,
/// local, output and control flags, each as an opcode byte and a `uint32`,
/// ending with `TTY_OP_END` (0). The modes are those saved by an active
/// [`RawModeGuard`], else stdin's current ones; just `[0]` when stdin is not
/// a terminal.
pub fn encoded_modes() -> Vec<u8> {
    match saved_modes().or_else(|| tcgetattr(io::stdin().as_fd()).ok()) {
        Some(t) => encode_modes(&t),
        None => vec![TTY_OP_END],
    }
}

/// What an escape sequence typed on the local terminal asks for (ssh(1)
/// ESCAPE CHARACTERS). The caller carries it out; text to show locally
/// comes as [`EscapeAction::Message`] (written to stderr by ssh(1), with
/// `\r\n` line ends since the terminal is raw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscapeAction {
    /// `~.`: close the connection (ssh(1) sends `SSH_MSG_DISCONNECT`,
    /// RFC 4253 §11.1, and exits). The rest of the input is dropped.
    Disconnect,
    /// `~^Z`: suspend the client, e.g. with [`RawModeGuard::suspend`].
    Suspend,
    /// `~#`: show the open channels (OpenSSH's `channel_open_message`).
    ListForwards,
    /// `~?`: this help text, ready to show.
    Help(String),
    /// `~B`: send a `break` request (RFC 4335) of 1000 ms, as ssh(1) does.
    SendBreak,
    /// `~R`: start a key re-exchange (RFC 4253 §9).
    Rekey,
    /// `~V` (`increase: false`) / `~v` (`increase: true`): change the
    /// LogLevel by one step, then show
    /// [`EscapeState::log_level_message`].
    Verbosity {
        /// `true` for `~v`, `false` for `~V`.
        increase: bool,
    },
    /// `~C` when the command line is enabled (see
    /// [`EscapeState::with_command_line`]): open ssh(1)'s `ssh>` prompt.
    CommandLine,
    /// Text to show on the local terminal.
    Message(String),
}

/// One piece of the input after escape processing, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscapeItem {
    /// Bytes to send to the channel (RFC 4254 §5.2).
    Data(Vec<u8>),
    /// An escape sequence to act on locally.
    Action(EscapeAction),
}

/// OpenSSH's escape-character processing (ssh(1) ESCAPE CHARACTERS,
/// `process_escapes` in clientloop.c) for bytes read from the local
/// terminal: the escape character is recognised only at the start or right
/// after a `\r` or `\n`; the byte after it picks the action; `~~` sends one
/// escape character and any other byte sends both.
#[derive(Debug, Clone)]
pub struct EscapeState {
    escape_char: Option<u8>,
    last_was_cr: bool,
    pending: bool,
    command_line: bool,
}

impl EscapeState {
    /// A new state at the start of a line. `None` is `EscapeChar none`
    /// (ssh(1) `-e none`): everything passes through.
    pub fn new(escape_char: Option<u8>) -> Self {
        EscapeState {
            escape_char,
            last_was_cr: true,
            pending: false,
            command_line: false,
        }
    }

    /// Whether `~C` opens the command line ([`EscapeAction::CommandLine`]
    /// and a `~C` line in the help), as ssh_config(5)
    /// `EnableEscapeCommandline`; off by default, as in OpenSSH 9.2 and
    /// later, when `~C` shows "commandline disabled".
    pub fn with_command_line(mut self, enabled: bool) -> Self {
        self.command_line = enabled;
        self
    }

    /// The configured escape character.
    pub fn escape_char(&self) -> Option<u8> {
        self.escape_char
    }

    /// The `~?` text of ssh(1), OpenSSH 9.x wording, with this escape
    /// character and `\r\n` line ends.
    pub fn help(&self) -> String {
        let e = char::from(self.escape_char.unwrap_or(b'~'));
        let mut entries: Vec<(&str, &str)> = vec![
            (".", "terminate connection (and any multiplexed sessions)"),
            ("B", "send a BREAK to the remote system"),
        ];
        if self.command_line {
            entries.push(("C", "open a command line"));
        }
        entries.extend([
            ("R", "request rekey"),
            ("V/v", "decrease/increase verbosity (LogLevel)"),
            ("^Z", "suspend ssh"),
            ("#", "list forwarded connections"),
            ("&", "background ssh (when waiting for connections to terminate)"),
            ("?", "this message"),
        ]);
        let mut s = format!("{e}?\r\nSupported escape sequences:\r\n");
        for (cmd, text) in entries {
            s.push_str(&format!(" {e}{cmd:<3} - {text}\r\n"));
        }
        s.push_str(&format!(
            " {e}{e}   - send the escape character by typing it twice\r\n\
             (Note that escapes are only recognized immediately after newline.)\r\n"
        ));
        s
    }

    /// What ssh(1) shows after `~V`/`~v`: `~v [LogLevel DEBUG1]`, given the
    /// name of the new level.
    pub fn log_level_message(&self, increase: bool, level_name: &str) -> String {
        let e = char::from(self.escape_char.unwrap_or(b'~'));
        let c = if increase { 'v' } else { 'V' };
        format!("{e}{c} [LogLevel {level_name}]\r\n")
    }

    /// Splits `input` into bytes to send and actions, in order. The state
    /// carries across calls: an escape character at the end of one read
    /// waits for the next byte, and "after a newline" spans reads. After
    /// [`EscapeAction::Disconnect`] the rest of `input` is dropped.
    pub fn process(&mut self, input: &[u8]) -> Vec<EscapeItem> {
        let mut items = Vec::new();
        let Some(esc) = self.escape_char else {
            if !input.is_empty() {
                items.push(EscapeItem::Data(input.to_vec()));
            }
            return items;
        };
        let e = char::from(esc);
        let mut data = Vec::new();
        fn act(items: &mut Vec<EscapeItem>, data: &mut Vec<u8>, a: EscapeAction) {
            if !data.is_empty() {
                items.push(EscapeItem::Data(std::mem::take(data)));
            }
            items.push(EscapeItem::Action(a));
        }
        for &ch in input {
            if self.pending {
                self.pending = false;
                match ch {
                    b'.' => {
                        act(&mut items, &mut data, EscapeAction::Message(format!("{e}.\r\n")));
                        act(&mut items, &mut data, EscapeAction::Disconnect);
                        return items;
                    }
                    0x1a => {
                        let m = format!("{e}^Z [suspend ssh]\r\n");
                        act(&mut items, &mut data, EscapeAction::Message(m));
                        act(&mut items, &mut data, EscapeAction::Suspend);
                        continue;
                    }
                    b'B' => {
                        act(&mut items, &mut data, EscapeAction::Message(format!("{e}B\r\n")));
                        act(&mut items, &mut data, EscapeAction::SendBreak);
                        continue;
                    }
                    b'R' => {
                        act(&mut items, &mut data, EscapeAction::Rekey);
                        continue;
                    }
                    b'V' | b'v' => {
                        let increase = ch == b'v';
                        act(&mut items, &mut data, EscapeAction::Verbosity { increase });
                        continue;
                    }
                    b'&' => {
                        let m = format!("{e}& [backgrounding not supported]\r\n");
                        act(&mut items, &mut data, EscapeAction::Message(m));
                        continue;
                    }
                    b'?' => {
                        act(&mut items, &mut data, EscapeAction::Help(self.help()));
                        continue;
                    }
                    b'#' => {
                        act(&mut items, &mut data, EscapeAction::Message(format!("{e}#\r\n")));
                        act(&mut items, &mut data, EscapeAction::ListForwards);
                        continue;
                    }
                    b'C' => {
                        let a = if self.command_line {
                            EscapeAction::CommandLine
                        } else {
                            EscapeAction::Message("commandline disabled\r\n".into())
                        };
                        act(&mut items, &mut data, a);
                        continue;
                    }
                    _ => {
                        if ch != esc {
                            data.push(esc);
                        }
                    }
                }
            } else if self.last_was_cr && ch == esc {
                self.pending = true;
                continue;
            }
            self.last_was_cr = ch == b'\r' || ch == b'\n';
            data.push(ch);
        }
        if !data.is_empty() {
            items.push(EscapeItem::Data(data));
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(v: &[u8]) -> EscapeItem {
        EscapeItem::Data(v.to_vec())
    }

    fn action(a: EscapeAction) -> EscapeItem {
        EscapeItem::Action(a)
    }

    fn msg(s: &str) -> EscapeItem {
        action(EscapeAction::Message(s.to_string()))
    }

    #[test]
    fn plain_data_passes() {
        let mut s = EscapeState::new(Some(b'~'));
        assert_eq!(s.process(b"ls -l\r"), vec![data(b"ls -l\r")]);
        assert_eq!(s.process(b""), vec![]);
    }

    #[test]
    fn disconnect_at_start_and_after_newline_only() {
        let mut s = EscapeState::new(Some(b'~'));
        assert_eq!(
            s.process(b"~.rest"),
            vec![msg("~.\r\n"), action(EscapeAction::Disconnect)]
        );
        let mut s = EscapeState::new(Some(b'~'));
        // Not after a newline: sent as typed.
        assert_eq!(s.process(b"a~."), vec![data(b"a~.")]);
        assert_eq!(
            s.process(b"\n~."),
            vec![data(b"\n"), msg("~.\r\n"), action(EscapeAction::Disconnect)]
        );
        let mut s = EscapeState::new(Some(b'~'));
        assert_eq!(
            s.process(b"x\r~.y"),
            vec![data(b"x\r"), msg("~.\r\n"), action(EscapeAction::Disconnect)]
        );
    }

    #[test]
    fn split_reads() {
        let mut s = EscapeState::new(Some(b'~'));
        assert_eq!(s.process(b"echo\r"), vec![data(b"echo\r")]);
        assert_eq!(s.process(b"~"), vec![]);
        assert_eq!(s.process(b"."), vec![msg("~.\r\n"), action(EscapeAction::Disconnect)]);
        // The newline and the escape character in separate reads too.
        let mut s = EscapeState::new(Some(b'~'));
        assert_eq!(s.process(b"a"), vec![data(b"a")]);
        assert_eq!(s.process(b"\n"), vec![data(b"\n")]);
        assert_eq!(s.process(b"~"), vec![]);
        assert_eq!(s.process(b"x"), vec![data(b"~x")]);
    }

    #[test]
    fn double_escape_sends_one() {
        let mut s = EscapeState::new(Some(b'~'));
        assert_eq!(s.process(b"~~"), vec![data(b"~")]);
        // After `~~` we are no longer at the start of a line.
        assert_eq!(s.process(b"~."), vec![data(b"~.")]);
    }

    #[test]
    fn other_char_sends_both() {
        let mut s = EscapeState::new(Some(b'~'));
        assert_eq!(s.process(b"~x~."), vec![data(b"~x~.")]);
        // `~` then a newline: both sent and still at the start of a line.
        let mut s = EscapeState::new(Some(b'~'));
        assert_eq!(
            s.process(b"~\r~."),
            vec![data(b"~\r"), msg("~.\r\n"), action(EscapeAction::Disconnect)]
        );
    }

    #[test]
    fn actions_keep_line_start() {
        let mut s = EscapeState::new(Some(b'~'));
        let items = s.process(b"~B~R~#~\x1a~v~V~&~Cok");
        assert_eq!(
            items,
            vec![
                msg("~B\r\n"),
                action(EscapeAction::SendBreak),
                action(EscapeAction::Rekey),
                msg("~#\r\n"),
                action(EscapeAction::ListForwards),
                msg("~^Z [suspend ssh]\r\n"),
                action(EscapeAction::Suspend),
                action(EscapeAction::Verbosity { increase: true }),
                action(EscapeAction::Verbosity { increase: false }),
                msg("~& [backgrounding not supported]\r\n"),
                msg("commandline disabled\r\n"),
                data(b"ok"),
            ]
        );
        let mut s = EscapeState::new(Some(b'~')).with_command_line(true);
        assert_eq!(s.process(b"~C"), vec![action(EscapeAction::CommandLine)]);
        assert_eq!(s.log_level_message(true, "DEBUG1"), "~v [LogLevel DEBUG1]\r\n");
    }

    #[test]
    fn other_escape_char() {
        let mut s = EscapeState::new(Some(b'%'));
        assert_eq!(s.process(b"~."), vec![data(b"~.")]);
        let mut s = EscapeState::new(Some(b'%'));
        assert_eq!(s.process(b"%%"), vec![data(b"%")]);
        let mut s = EscapeState::new(Some(b'%'));
        assert_eq!(s.process(b"%x"), vec![data(b"%x")]);
        let mut s = EscapeState::new(Some(b'%'));
        assert_eq!(s.process(b"%."), vec![msg("%.\r\n"), action(EscapeAction::Disconnect)]);
        // A control character, as `-e ^]`.
        let mut s = EscapeState::new(Some(0x1d));
        assert_eq!(
            s.process(b"\x1d."),
            vec![msg("\x1d.\r\n"), action(EscapeAction::Disconnect)]
        );
    }

    #[test]
    fn disabled_escapes() {
        let mut s = EscapeState::new(None);
        assert_eq!(s.process(b"~."), vec![data(b"~.")]);
        assert_eq!(s.process(b"\r~?~~"), vec![data(b"\r~?~~")]);
        assert_eq!(s.escape_char(), None);
    }

    #[test]
    fn help_text() {
        let mut s = EscapeState::new(Some(b'~'));
        let expected = "~?\r\n\
Supported escape sequences:\r\n \
~.   - terminate connection (and any multiplexed sessions)\r\n \
~B   - send a BREAK to the remote system\r\n \
~R   - request rekey\r\n \
~V/v - decrease/increase verbosity (LogLevel)\r\n \
~^Z  - suspend ssh\r\n \
~#   - list forwarded connections\r\n \
~&   - background ssh (when waiting for connections to terminate)\r\n \
~?   - this message\r\n \
~~   - send the escape character by typing it twice\r\n\
(Note that escapes are only recognized immediately after newline.)\r\n";
        assert_eq!(s.process(b"~?"), vec![action(EscapeAction::Help(expected.to_string()))]);
        let with_c = EscapeState::new(Some(b'%')).with_command_line(true).help();
        assert!(with_c.starts_with("%?\r\n"));
        assert!(with_c.contains(" %B   - send a BREAK to the remote system\r\n %C   - open a command line\r\n %R "));
        assert!(with_c.contains(" %%   - send the escape character by typing it twice\r\n"));
    }

    fn check_encoding(m: &[u8]) {
        assert_eq!(m.last(), Some(&0));
        assert_eq!((m.len() - 1) % 5, 0);
        for entry in m[..m.len() - 1].chunks(5) {
            assert!(entry[0] != 0 && entry[0] < 160, "opcode {}", entry[0]);
        }
    }

    #[test]
    fn encoded_modes_shape() {
        let m = encoded_modes();
        check_encoding(&m);
        if !rustix::termios::isatty(io::stdin().as_fd()) {
            assert_eq!(m, vec![0]);
        }
    }

    #[test]
    fn no_tty_is_a_no_op() {
        let stdin_tty = rustix::termios::isatty(io::stdin().as_fd());
        let stdout_tty = rustix::termios::isatty(io::stdout().as_fd());
        if !stdin_tty {
            assert!(RawModeGuard::enter().unwrap().is_none());
        }
        if !stdin_tty && !stdout_tty {
            assert_eq!(window_size(), None);
        }
    }

    #[test]
    fn term_name_from_environment() {
        let expected = std::env::var_os("TERM")
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert_eq!(term_name(), expected);
    }

    /// Runs [`pty_child`] under a pseudo-terminal made by python3's `pty`
    /// module, with a 111x33 window; skipped without python3.
    #[test]
    fn raw_mode_under_pty() {
        let exe = std::env::current_exe().unwrap();
        let script = r#"
import os, pty, sys, fcntl, termios, struct
exe = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 33, 111, 0, 0))
    env = dict(os.environ, TOBIRA_PTY_CHILD='1')
    os.execve(exe, [exe, '--exact', 'terminal::tests::pty_child', '--ignored',
                    '--nocapture', '--test-threads=1'], env)
out = b''
while True:
    try:
        d = os.read(fd, 4096)
    except OSError:
        break
    if not d:
        break
    out += d
_, st = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(st))
"#;
        let out = match std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&exe)
            .output()
        {
            Ok(o) => o,
            Err(e) => {
                eprintln!("skipped: no python3 ({e})");
                return;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("PTY-CHILD-OK"),
            "child failed: {}\n{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The part of [`raw_mode_under_pty`] that runs on the pty.
    #[test]
    #[ignore = "run by raw_mode_under_pty"]
    fn pty_child() {
        if std::env::var_os("TOBIRA_PTY_CHILD").is_none() {
            return;
        }
        let stdin = io::stdin();
        assert!(rustix::termios::isatty(stdin.as_fd()));
        assert_eq!(window_size(), Some((111, 33, 0, 0)));
        let before = encoded_modes();
        check_encoding(&before);
        let find = |m: &[u8], op: u8| {
            m.chunks(5)
                .find(|c| c[0] == op)
                .map(|c| u32::from_be_bytes([c[1], c[2], c[3], c[4]]))
        };
        assert_eq!(find(&before, 53), Some(1), "ECHO");
        assert_eq!(find(&before, 51), Some(1), "ICANON");
        assert_eq!(find(&before, 1), Some(3), "VINTR is ^C");
        assert!(find(&before, 128).is_some() && find(&before, 129).is_some());

        let mut guard = RawModeGuard::enter().unwrap().expect("a tty");
        let raw = tcgetattr(stdin.as_fd()).unwrap();
        assert!(!raw.local_modes.contains(LocalModes::ICANON));
        assert!(!raw.local_modes.contains(LocalModes::ECHO));
        assert!(!raw.local_modes.contains(LocalModes::ISIG));
        assert!(!raw.output_modes.contains(OutputModes::OPOST));
        assert!(!raw.input_modes.contains(InputModes::ICRNL));
        // The modes sent are the saved ones, not raw mode.
        assert_eq!(encoded_modes(), before);
        guard.restore();
        let back = tcgetattr(stdin.as_fd()).unwrap();
        assert!(back.local_modes.contains(LocalModes::ICANON));
        assert!(back.output_modes.contains(OutputModes::OPOST));
        guard.reenter().unwrap();
        drop(guard);
        let back = tcgetattr(stdin.as_fd()).unwrap();
        assert!(back.local_modes.contains(LocalModes::ECHO));
        println!("PTY-CHILD-OK");
    }
}
