//! Token lifetimes written the way people say them: `30s`, `15m`, `1h`, `7d`, `2w`, `1h30m`.

use thiserror::Error;
use time::Duration;

/// The longest lifetime Tessera accepts for anything.
pub const MAX_TTL: Duration = Duration::days(366);

/// Why a TTL was refused. The message names the rule, for an `INVALID_ARGUMENT` reply.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TtlError {
    /// Nothing given.
    #[error("ttl is empty; write it like 30s, 15m, 1h or 7d")]
    Empty,
    /// Not in the grammar.
    #[error("ttl {0:?} is not a duration; write it like 30s, 15m, 1h, 7d or 1h30m (units s, m, h, d, w)")]
    Garbled(String),
    /// Zero.
    #[error("ttl must be longer than zero")]
    Zero,
    /// Longer than [`MAX_TTL`].
    #[error("ttl is longer than the maximum of 366d")]
    TooLong,
}

/// Parses a TTL: one or more `<digits><unit>` groups with units `s`, `m`, `h`, `d`, `w`, each unit
/// at most once and largest first. Surrounding whitespace is ignored; signs, fractions and bare
/// numbers are refused.
pub fn parse_ttl(text: &str) -> Result<Duration, TtlError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TtlError::Empty);
    }
    let garbled = || TtlError::Garbled(text.chars().take(40).collect());
    let mut total: i64 = 0;
    let mut last_rank = usize::MAX;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 12 {
            return Err(if digits > 12 {
                TtlError::TooLong
            } else {
                garbled()
            });
        }
        let value: i64 = rest[..digits].parse().map_err(|_| garbled())?;
        let unit = rest[digits..].chars().next().ok_or_else(garbled)?;
        let (rank, seconds) = match unit {
            'w' => (4, 604_800),
            'd' => (3, 86_400),
            'h' => (2, 3_600),
            'm' => (1, 60),
            's' => (0, 1),
            _ => return Err(garbled()),
        };
        if rank >= last_rank {
            return Err(garbled());
        }
        last_rank = rank;
        total = value
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or(TtlError::TooLong)?;
        rest = &rest[digits + 1..];
    }
    let ttl = Duration::seconds(total);
    if ttl.is_zero() {
        Err(TtlError::Zero)
    } else if ttl > MAX_TTL {
        Err(TtlError::TooLong)
    } else {
        Ok(ttl)
    }
}

/// Writes a duration in the TTL grammar, largest units first up to days (`90m` → `1h30m`,
/// `2w` → `14d`). Sub-second parts
/// are dropped; zero or negative is `0s`.
pub fn format_ttl(ttl: Duration) -> String {
    let mut seconds = ttl.whole_seconds();
    if seconds <= 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)] {
        if seconds >= size {
            out.push_str(&format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse_ttl("30s"), Ok(Duration::seconds(30)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::minutes(15)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::hours(1)));
        assert_eq!(parse_ttl(" 7d "), Ok(Duration::days(7)));
        assert_eq!(parse_ttl("2w"), Ok(Duration::weeks(2)));
        assert_eq!(parse_ttl("1h30m"), Ok(Duration::minutes(90)));
        assert_eq!(
            parse_ttl("1d2h3m4s"),
            Ok(Duration::seconds(86_400 + 7_200 + 180 + 4))
        );
        assert_eq!(parse_ttl("366d"), Ok(MAX_TTL));
    }

    #[test]
    fn refuses_zero_negative_garbled_and_absurd_values() {
        assert_eq!(parse_ttl(""), Err(TtlError::Empty));
        assert_eq!(parse_ttl("0s"), Err(TtlError::Zero));
        assert_eq!(parse_ttl("0h0m"), Err(TtlError::Zero));
        for bad in [
            "-5m", "5", "m", "15 m", "1.5h", "1x", "1m1h", "1h1h", "+1h", "1h-", "１h", "1hh",
        ] {
            assert!(
                matches!(parse_ttl(bad), Err(TtlError::Garbled(_))),
                "{bad} should be garbled"
            );
        }
        assert_eq!(parse_ttl("367d"), Err(TtlError::TooLong));
        assert_eq!(parse_ttl("99999999999999999999s"), Err(TtlError::TooLong));
        assert_eq!(parse_ttl("999999999999w"), Err(TtlError::TooLong));
    }

    #[test]
    fn formats_back_into_the_grammar() {
        for text in ["30s", "15m", "1h", "7d", "1h30m", "1d2h3m4s"] {
            assert_eq!(format_ttl(parse_ttl(text).unwrap()), text);
        }
        assert_eq!(format_ttl(Duration::minutes(90)), "1h30m");
        assert_eq!(format_ttl(Duration::weeks(2)), "14d");
        assert_eq!(format_ttl(Duration::ZERO), "0s");
    }
}
