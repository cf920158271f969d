//! Character policy for text that crosses the wire: what may appear in names, identifiers and free
//! text, whatever its length limit.
//!
//! * No control characters anywhere (C0, DEL, C1): a NUL cannot reach PostgreSQL (which refuses
//!   it) and a CR/LF cannot smuggle a second line into a line protocol or a log.
//! * No Unicode format characters (general category Cf: bidi overrides and isolates, zero-width
//!   joiners and spaces, the BOM, tag characters…) in names and identifiers: they make two
//!   different strings look identical (`deploy.\u{202E}x` renders like something else), so a
//!   human reviewing a namespace or an audit line would be misled.
//!
//! Identifiers are compared byte for byte and **never normalised** (no Unicode normalisation, no
//! case folding): `café` written with a combining accent is a different identifier from the
//! precomposed one. Refusing Cf removes the invisible differences; the visible ones are the
//! caller's to keep consistent.

/// Whether `c` is in Unicode general category Cf (format), per Unicode 15.1.
///
/// The table is short and stable (a handful of code points are added per Unicode version), so it
/// is kept here rather than pulling in a Unicode database crate for one category.
pub fn is_format(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// Whether an ASCII byte is a control character (C0 or DEL): `char::is_control` for ASCII.
pub fn is_ascii_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

/// What a piece of text may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharPolicy {
    /// Anything (secrets such as passwords: never displayed, only hashed).
    Any,
    /// Free text (descriptions, reasons, display names): no control characters.
    Text,
    /// Names and identifiers: no control and no format (Cf) characters.
    Name,
}

/// Why text was refused by [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    /// Longer than the limit, in bytes.
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Holds a control character.
    Control,
    /// Holds a Unicode format (Cf) character.
    Format,
}

impl std::fmt::Display for TextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextError::TooLong { max } => write!(f, "is longer than {max} bytes"),
            TextError::Control => f.write_str("must not contain control characters"),
            TextError::Format => f.write_str(
                "must not contain invisible Unicode format characters (bidi controls, zero-width characters)",
            ),
        }
    }
}

impl std::error::Error for TextError {}

/// Checks `text` against a byte limit and a character policy. The length is checked first, so
/// hostile input is refused before it is scanned.
pub fn check(text: &str, max: usize, policy: CharPolicy) -> Result<(), TextError> {
    if text.len() > max {
        return Err(TextError::TooLong { max });
    }
    match policy {
        CharPolicy::Any => Ok(()),
        CharPolicy::Text => match text.chars().any(char::is_control) {
            true => Err(TextError::Control),
            false => Ok(()),
        },
        // Every ASCII code point is either a control (C0, DEL) or fine, and no Cf character is
        // ASCII: ASCII text (identifiers, tokens, names: nearly everything) is decided a byte at a
        // time instead of through the Unicode tables, which cost CheckNamespace ~50 instructions
        // per character.
        CharPolicy::Name if text.is_ascii() => match text.bytes().any(is_ascii_control) {
            true => Err(TextError::Control),
            false => Ok(()),
        },
        CharPolicy::Name => {
            for c in text.chars() {
                if c.is_control() {
                    return Err(TextError::Control);
                }
                if is_format(c) {
                    return Err(TextError::Format);
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ASCII fast path decides exactly as the character loop does.
    #[test]
    fn ascii_fast_path_agrees_with_the_unicode_tables() {
        for byte in 0u8..0x80 {
            let c = char::from(byte);
            assert_eq!(is_ascii_control(byte), c.is_control(), "{byte:#x}");
            assert!(!is_format(c), "{byte:#x}");
            let text = format!("ab{c}cd");
            let expected = if c.is_control() {
                Err(TextError::Control)
            } else {
                Ok(())
            };
            assert_eq!(check(&text, 64, CharPolicy::Name), expected, "{byte:#x}");
        }
        // Non-ASCII still goes through the tables.
        assert_eq!(
            check("a\u{0085}b", 64, CharPolicy::Name),
            Err(TextError::Control)
        );
        assert_eq!(
            check("a\u{202E}b", 64, CharPolicy::Name),
            Err(TextError::Format)
        );
        assert_eq!(check("café", 64, CharPolicy::Name), Ok(()));
    }

    #[test]
    fn policies() {
        assert_eq!(check("abc", 3, CharPolicy::Name), Ok(()));
        assert_eq!(
            check("abcd", 3, CharPolicy::Any),
            Err(TextError::TooLong { max: 3 })
        );
        assert_eq!(check("a\0b", 10, CharPolicy::Any), Ok(()));
        assert_eq!(check("a\0b", 10, CharPolicy::Text), Err(TextError::Control));
        assert_eq!(
            check("a\u{85}b", 10, CharPolicy::Text),
            Err(TextError::Control)
        );
        assert_eq!(check("a\u{202E}b", 10, CharPolicy::Text), Ok(()));
        assert_eq!(
            check("a\u{202E}b", 10, CharPolicy::Name),
            Err(TextError::Format)
        );
        assert_eq!(
            check("x\u{200B}", 10, CharPolicy::Name),
            Err(TextError::Format)
        );
        assert_eq!(
            check("\u{E0041}", 10, CharPolicy::Name),
            Err(TextError::Format)
        );
        assert_eq!(check("café.é", 10, CharPolicy::Name), Ok(()));
    }
}
