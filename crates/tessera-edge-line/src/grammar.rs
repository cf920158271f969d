//! The upstream's tokenizer, and the one canonical spelling the edge writes back.
//!
//! An edge that splits a line differently from the service behind it checks one command and
//! forwards another. So the edge parses each client line with the upstream's own grammar (a
//! [`Dialect`]), refuses every line whose reading could differ between two parsers, and forwards
//! only a re-serialisation of the tokens it checked, never the client's bytes.
//!
//! * [`Dialect::Ztick`] (the default) is ztick's parser: tokens are separated by runs of `' '`
//!   (and nothing else), a token that starts with `"` is a quoted string in which `\` takes the next
//!   character literally (so `\"` and `\\`), and outside quotes a `\` is an ordinary character.
//!   ztick also ends an unquoted token at a `"` and reads quoted strings across newlines; the edge
//!   refuses both (a quote must open and close a whole token on the same line).
//! * [`Dialect::Generic`] is for other line services whose quoting the edge does not know: words
//!   separated by `' '`, and any `"` or `\` refused, so there is nothing to interpret differently.
//!
//! In both, a line must be UTF-8 and free of control characters (TAB, CR, NUL…), of every Unicode
//! space other than `' '` (NBSP, U+2000…, U+3000…) and of invisible format characters (zero-width
//! spaces, bidi overrides, BOM): a reader that treats any of them as a separator, or strips them,
//! would see different tokens.

/// The tokenizer a rules file selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// ztick's parser (`awf-project/ztick`, `src/infrastructure/protocol/parser.zig`).
    #[default]
    Ztick,
    /// Space-separated words, no quoting at all.
    Generic,
}

/// ztick reads into a fixed 4096-byte buffer and drops a connection whose line does not fit:
/// 4095 bytes and the newline.
pub const ZTICK_MAX_LINE: usize = 4095;

/// The line limit of the generic dialect, when the rules file sets none.
pub const GENERIC_MAX_LINE: usize = 8192;

/// Why a line cannot be read the same way by the edge and the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineFault {
    /// Bytes that are not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// A control character (TAB, CR, NUL, DEL, C1…).
    #[error("control character U+{0:04X} (only ' ' separates words)")]
    Control(u32),
    /// A space other than U+0020.
    #[error("unicode space U+{0:04X} (only ' ' separates words)")]
    UnicodeSpace(u32),
    /// An invisible format character (zero-width, bidi, BOM…).
    #[error("invisible format character U+{0:04X}")]
    Format(u32),
    /// A quoted string not closed on the same line (or ending in a lone `\`).
    #[error("unclosed quote")]
    UnclosedQuote,
    /// A quote touching a word (`a"b"`, `"a"b`): ztick splits it, people do not.
    #[error("a quote must open and close a whole word")]
    QuoteInsideWord,
    /// A `"` or `\` in a dialect without quoting.
    #[error("quotes and backslashes are not allowed")]
    Quoting,
}

/// Invisible characters of Unicode category Cf (and U+180E) that some readers drop or treat as
/// space. Listed by hand: the edge does not carry Unicode tables for one check.
const FORMAT_RANGES: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Checks the character policy shared by every dialect.
fn check_characters(line: &[u8]) -> Result<&str, LineFault> {
    let text = std::str::from_utf8(line).map_err(|_| LineFault::NotUtf8)?;
    for c in text.chars() {
        let code = u32::from(c);
        if c.is_control() {
            return Err(LineFault::Control(code));
        }
        if c.is_whitespace() && c != ' ' {
            return Err(LineFault::UnicodeSpace(code));
        }
        if FORMAT_RANGES
            .iter()
            .any(|&(low, high)| (low..=high).contains(&code))
        {
            return Err(LineFault::Format(code));
        }
    }
    Ok(text)
}

impl Dialect {
    /// The longest line this dialect's upstream accepts, newline excluded (`None`: no fixed limit).
    pub fn upstream_max_line(self) -> Option<usize> {
        match self {
            Self::Ztick => Some(ZTICK_MAX_LINE),
            Self::Generic => None,
        }
    }

    /// The client line limit when the rules file sets none.
    pub fn default_max_line(self) -> usize {
        match self {
            Self::Ztick => ZTICK_MAX_LINE,
            Self::Generic => GENERIC_MAX_LINE,
        }
    }

    /// Splits one line (terminator removed) into the tokens the upstream will see.
    pub fn tokenize(self, line: &[u8]) -> Result<Vec<String>, LineFault> {
        let text = check_characters(line)?;
        match self {
            Self::Ztick => ztick_tokens(text),
            Self::Generic => {
                if text.contains(['"', '\\']) {
                    return Err(LineFault::Quoting);
                }
                Ok(text
                    .split(' ')
                    .filter(|word| !word.is_empty())
                    .map(str::to_owned)
                    .collect())
            }
        }
    }

    /// Writes tokens back in the one spelling the edge forwards (no terminator).
    pub fn serialize<S: AsRef<str>>(self, tokens: &[S]) -> Vec<u8> {
        let mut line = Vec::new();
        for (index, token) in tokens.iter().enumerate() {
            if index > 0 {
                line.push(b' ');
            }
            let token = token.as_ref();
            match self {
                Self::Ztick if needs_quotes(token) => {
                    line.push(b'"');
                    for byte in token.bytes() {
                        if byte == b'"' || byte == b'\\' {
                            line.push(b'\\');
                        }
                        line.push(byte);
                    }
                    line.push(b'"');
                }
                _ => line.extend_from_slice(token.as_bytes()),
            }
        }
        line
    }
}

/// Whether ztick would read `token` differently unquoted.
fn needs_quotes(token: &str) -> bool {
    token.is_empty() || token.contains([' ', '"', '\\'])
}

/// ztick's tokenizer on a line already known to hold no newline or control character.
fn ztick_tokens(text: &str) -> Result<Vec<String>, LineFault> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    loop {
        while bytes.get(pos) == Some(&b' ') {
            pos += 1;
        }
        if pos == bytes.len() {
            return Ok(tokens);
        }
        let mut token = Vec::new();
        if bytes[pos] == b'"' {
            pos += 1;
            loop {
                match bytes.get(pos) {
                    None => return Err(LineFault::UnclosedQuote),
                    Some(b'"') => {
                        pos += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let escaped = *bytes.get(pos + 1).ok_or(LineFault::UnclosedQuote)?;
                        token.push(escaped);
                        pos += 2;
                    }
                    Some(&byte) => {
                        token.push(byte);
                        pos += 1;
                    }
                }
            }
            if !matches!(bytes.get(pos), None | Some(b' ')) {
                return Err(LineFault::QuoteInsideWord);
            }
        } else {
            while let Some(&byte) = bytes.get(pos) {
                match byte {
                    b' ' => break,
                    b'"' => return Err(LineFault::QuoteInsideWord),
                    _ => {
                        token.push(byte);
                        pos += 1;
                    }
                }
            }
        }
        // Escapes copy whole UTF-8 sequences byte by byte, so the token stays UTF-8.
        tokens.push(String::from_utf8(token).map_err(|_| LineFault::NotUtf8)?);
    }
}

#[cfg(test)]
mod tests;
