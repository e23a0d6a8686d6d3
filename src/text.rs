//! Text from outside (target and role names, key IDs, server messages) made safe to show on a
//! terminal: control characters (C0 including ESC, CR and LF; DEL; C1), Unicode line and
//! paragraph separators, and the invisible formatting characters that reorder or hide text
//! (bidirectional overrides and isolates, zero-width characters) become visible escapes
//! (`\e`, `\r`, `\n`, `\u{202e}`). An escape sequence in a name then cannot retitle the
//! terminal or move the cursor, a `\r` cannot overwrite a line, a `\n` cannot forge a row,
//! and a bidi override cannot show one name as another. Everything else, non-ASCII letters
//! included, is shown as it is.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Arabic letter mark; Mongolian vowel separator.
            '\u{061c}' | '\u{180e}'
            // Zero-width space, non-joiner, joiner; left-to-right and right-to-left marks.
            | '\u{200b}'..='\u{200f}'
            // Line and paragraph separators (some terminals break lines there).
            | '\u{2028}' | '\u{2029}'
            // Bidirectional embeddings and overrides.
            | '\u{202a}'..='\u{202e}'
            // Word joiner, invisible operators; bidirectional isolates.
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            // Byte order mark (zero-width no-break space); interlinear annotation.
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
        )
}

fn push_escape(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{1b}' => out.push_str("\\e"),
        c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
    }
}

/// `s` with every character that is unsafe on a terminal escaped, for one line of output.
/// Borrowed when there is nothing to escape.
pub fn printable(s: &str) -> Cow<'_, str> {
    escape(s, |_| false)
}

/// As [`printable`], keeping line feeds: for output of several lines made by trustkey, whose
/// fields were escaped with [`printable`] (a `\n` inside a field is escaped there).
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    escape(s, |c| c == '\n')
}

fn escape(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let bad = |c: char| unsafe_char(c) && !keep(c);
    let Some(first) = s.char_indices().find(|&(_, c)| bad(c)).map(|(i, _)| i) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(s.get(..first).unwrap_or_default());
    for c in s.get(first..).unwrap_or_default().chars() {
        if bad(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// At most `max` characters of `s` (an ellipsis marks a cut), never cutting through one.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((end, _)) => Cow::Owned(format!("{}…", s.get(..end).unwrap_or_default())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        for (input, shown) in [
            ("plain/name-1.0.tar", "plain/name-1.0.tar"),
            ("é ü 日本", "é ü 日本"),
            ("\u{1b}]0;pwned\u{7}title", "\\e]0;pwned\\u{7}title"),
            ("\u{1b}[2J\u{1b}[H", "\\e[2J\\e[H"),
            ("evil\rgood", "evil\\rgood"),
            ("a\nb  0000  1  targets", "a\\nb  0000  1  targets"),
            ("tab\there", "tab\\there"),
            ("del\u{7f}", "del\\u{7f}"),
            ("c1\u{9b}31m", "c1\\u{9b}31m"),
            ("nel\u{85}", "nel\\u{85}"),
            ("gpj.\u{202e}exe", "gpj.\\u{202e}exe"),
            ("iso\u{2066}late\u{2069}", "iso\\u{2066}late\\u{2069}"),
            ("zero\u{200b}width", "zero\\u{200b}width"),
            ("line\u{2028}sep", "line\\u{2028}sep"),
            ("bom\u{feff}", "bom\\u{feff}"),
        ] {
            assert_eq!(printable(input), shown, "{input:?}");
        }
        assert!(matches!(printable("nothing to do"), Cow::Borrowed(_)));
    }

    #[test]
    fn lines_keep_line_feeds_only() {
        assert_eq!(printable_lines("a\nb\r\n\u{1b}[1m"), "a\nb\\r\n\\e[1m");
    }

    #[test]
    fn truncates_by_characters() {
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("ééééé", 2), "éé…");
    }
}
