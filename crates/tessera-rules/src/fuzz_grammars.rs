//! Property-based fuzzing of the grammars every caller's text goes through: the token grammar
//! (with its checksum), the TTL grammar and the namespace / identifier check. Each property runs
//! on arbitrary text as well as on text shaped like the grammar, so both the refusal paths and
//! the acceptance paths are explored.
//!
//! `cargo test` runs a short pass (proptest's default, 256 cases per property); a long run is
//! `PROPTEST_CASES=100000 cargo test -p tessera-core --release --lib fuzz_grammars`.
//!
//! It uses only the crate's public API, as an integration test would, but lives in the unit-test
//! binary: one test binary less to link.

use crate::namespace::{validate_identifier, Namespace, MAX_LEN};
use crate::token::{check_format, TokenKind, TokenSecret, PREFIX, TOKEN_LEN};
use crate::ttl::{format_ttl, parse_ttl, MAX_TTL};
use proptest::prelude::*;
use time::Duration;

/// Arbitrary text, weighted towards the characters the grammars care about.
fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,80}",
        "[0-9smhdwSMHDW +\\-.]{0,24}",
        "tsr_[a-z]{3}_[0-9A-Za-z]{0,60}",
        "[a-z.:/*_\\- \t\u{200b}\u{202e}\u{0}]{0,40}",
    ]
}

fn kind() -> impl Strategy<Value = TokenKind> {
    prop::sample::select(TokenKind::ALL.to_vec())
}

proptest! {
    /// The token check never panics, and whatever it accepts has the published shape:
    /// `tsr_<kind>_` and 49 base62 characters.
    #[test]
    fn token_check_accepts_only_the_published_shape(text in texty()) {
        if let Ok(kind) = check_format(&text) {
            prop_assert_eq!(text.len(), TOKEN_LEN);
            prop_assert!(text.starts_with(PREFIX));
            prop_assert_eq!(&text[PREFIX.len()..PREFIX.len() + 3], kind.prefix());
            prop_assert_eq!(&text[PREFIX.len() + 3..PREFIX.len() + 4], "_");
            prop_assert!(text[PREFIX.len() + 4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }

    /// Every minted token passes the check as its own kind, and any one-character change to it
    /// (a typo, or a scanner's near miss) is caught without a database read.
    #[test]
    fn minted_tokens_pass_and_every_typo_is_caught(
        kind in kind(),
        position in 0..TOKEN_LEN,
        replacement in prop::char::range('!', '~'),
    ) {
        let token = TokenSecret::generate(kind);
        let text = token.expose();
        prop_assert_eq!(check_format(text), Ok(kind));
        let mut typo: Vec<char> = text.chars().collect();
        // A replacement equal to the original is moved to the next character, so every case
        // is a real typo (and none is thrown away).
        typo[position] = if typo[position] == replacement {
            if replacement == '~' { '!' } else { char::from(replacement as u8 + 1) }
        } else {
            replacement
        };
        let typo: String = typo.into_iter().collect();
        prop_assert!(check_format(&typo).is_err(), "{} accepted", typo);
    }

    /// A token with text around it, or cut short, is refused.
    #[test]
    fn tokens_with_extra_or_missing_text_are_refused(
        kind in kind(),
        before in "[ -~]{0,3}",
        after in "[ -~]{0,3}",
        cut in 0usize..4,
    ) {
        let token = TokenSecret::generate(kind);
        let text = token.expose();
        let changed = format!("{before}{}{after}", &text[..text.len() - cut]);
        // Cutting a character and appending the same one gives the token back.
        if changed != text {
            prop_assert!(check_format(&changed).is_err(), "{} accepted", changed);
        }
    }

    /// The TTL parser never panics; what it accepts lies in (0, MAX_TTL] and formats back to
    /// text that parses to the same duration.
    #[test]
    fn ttl_accepts_only_bounded_durations_that_round_trip(text in texty()) {
        if let Ok(ttl) = parse_ttl(&text) {
            prop_assert!(ttl > Duration::ZERO && ttl <= MAX_TTL, "{:?} gave {:?}", text, ttl);
            prop_assert_eq!(parse_ttl(&format_ttl(ttl)), Ok(ttl));
        }
    }

    /// Every whole-second duration up to the maximum is written in the grammar and read back.
    #[test]
    fn every_duration_round_trips_through_its_text(seconds in 1i64..=MAX_TTL.whole_seconds()) {
        let ttl = Duration::seconds(seconds);
        prop_assert_eq!(parse_ttl(&format_ttl(ttl)), Ok(ttl));
    }

    /// Text built from the grammar (units largest first, each once) parses to the sum of its
    /// groups, or is refused as zero or too long; never misread.
    #[test]
    fn grammatical_ttls_parse_to_their_sum(
        groups in prop::collection::vec(0u64..100_000, 5),
        used in 1u8..32,
        padding in "[ \t]{0,2}",
    ) {
        // Bit i of `used` says whether the i-th unit (w, d, h, m, s) appears; at least one does.
        let used: Vec<bool> = (0..5).map(|bit| used & (1 << bit) != 0).collect();
        let units = [('w', 604_800i64), ('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];
        let mut text = padding.clone();
        let mut total = 0i64;
        for ((value, use_it), (unit, size)) in groups.iter().zip(&used).zip(units) {
            if *use_it {
                text.push_str(&format!("{value}{unit}"));
                total += i64::try_from(*value).unwrap() * size;
            }
        }
        text.push_str(&padding);
        let parsed = parse_ttl(&text);
        if total == 0 || Duration::seconds(total) > MAX_TTL {
            prop_assert!(parsed.is_err());
        } else {
            prop_assert_eq!(parsed, Ok(Duration::seconds(total)));
        }
    }

    /// The namespace parser never panics; an accepted namespace is canonical (its text is the
    /// input, and reading it again gives the same namespace), bounded, and free of whitespace and
    /// control characters.
    #[test]
    fn namespaces_accept_only_canonical_bounded_text(text in texty()) {
        if let Ok(namespace) = Namespace::parse(&text) {
            prop_assert_eq!(namespace.as_str(), text.as_str());
            prop_assert_eq!(Namespace::parse(namespace.as_str()), Ok(namespace.clone()));
            prop_assert!(text.len() <= MAX_LEN);
            prop_assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
        }
    }

    /// The identifier check never panics and accepts only non-empty, bounded text without
    /// whitespace or control characters.
    #[test]
    fn identifiers_accept_only_bounded_clean_text(text in texty()) {
        if validate_identifier(&text).is_ok() {
            prop_assert!(!text.is_empty() && text.len() <= MAX_LEN);
            prop_assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
        }
    }

    /// Narrowing is safe: when one namespace contains another, every identifier the inner one
    /// allows, the outer one allows too (a child token can never reach beyond its parent).
    #[test]
    fn containment_implies_allowance(
        outer in "[a-z]{0,3}[.:/]?[a-z]{0,3}[.:/]?|\\*",
        inner in "[a-z]{0,3}[.:/]?[a-z]{0,3}[.:/]?[a-z]{0,3}|\\*",
        identifier in "[a-z]{0,4}[.:/]?[a-z]{0,4}[.:/]?[a-z]{0,4}",
    ) {
        let (Ok(outer), Ok(inner)) = (Namespace::parse(&outer), Namespace::parse(&inner)) else {
            return Ok(());
        };
        if outer.contains(&inner) && inner.allows(&identifier) {
            prop_assert!(outer.allows(&identifier), "{} contains {} but not {}", outer, inner, identifier);
        }
        prop_assert!(outer.contains(&outer));
    }
}
