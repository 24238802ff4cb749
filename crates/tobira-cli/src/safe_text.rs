//! Text from the server, made safe for the user's terminal.
//!
//! A server chooses the text of its banner (RFC 4252 §5.4), of
//! keyboard-interactive prompts (RFC 4256 §3.2), of disconnect and
//! channel-open-failure messages (RFC 4253 §11.1, RFC 4254 §5.1) and of
//! authentication method names. Printed as it is, an escape sequence in
//! it could retitle the terminal, rewrite what is shown above, or worse on
//! some terminals. As ssh(1) does (`strnvis`/`utf8.c`), control
//! characters other than newline and tab (and a carriage return before a
//! newline, as in a CRLF banner) are shown as `\ooo` octal escapes;
//! printable Unicode passes unchanged.

use std::borrow::Cow;

/// `text` with every control character except `\n`, `\t` and a `\r`
/// before `\n` (C0, DEL and C1) replaced by its `\ooo` octal escape, and
/// a backslash doubled when such escapes were needed (so the result reads
/// unambiguously).
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_at = |i: usize, c: char| {
        c.is_control()
            && c != '\n'
            && c != '\t'
            && !(c == '\r' && text.get(i + 1..).is_some_and(|rest| rest.starts_with('\n')))
    };
    if !text.char_indices().any(|(i, c)| unsafe_at(i, c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (i, c) in text.char_indices() {
        if unsafe_at(i, c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\{b:03o}"));
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escapes_become_visible_and_the_rest_stays() {
        assert_eq!(printable("Welcome\r\n\tto höst ✓"), "Welcome\r\n\tto höst ✓");
        assert!(matches!(printable("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(printable("\x1b]0;pwned\x07title"), "\\033]0;pwned\\007title");
        assert_eq!(printable("a\rb\x7fc\u{9b}2J"), "a\\015b\\177c\\302\\2332J");
        assert_eq!(printable("C:\\dir\x1b"), "C:\\\\dir\\033");
    }
}
