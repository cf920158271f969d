use super::*;

fn ztick(line: &str) -> Result<Vec<String>, LineFault> {
    Dialect::Ztick.tokenize(line.as_bytes())
}

fn words(tokens: &[&str]) -> Result<Vec<String>, LineFault> {
    Ok(tokens.iter().map(|t| (*t).to_owned()).collect())
}

#[test]
fn ztick_splits_on_spaces_and_unquotes() {
    assert_eq!(
        ztick("  1   SET deploy.a  1700000000  "),
        words(&["1", "SET", "deploy.a", "1700000000"])
    );
    assert_eq!(
        ztick(r#"b1 "SET" backup.q 1"#),
        words(&["b1", "SET", "backup.q", "1"])
    );
    assert_eq!(
        ztick(r#"2 SET deploy.a "2030-03-30 02:00:00""#),
        words(&["2", "SET", "deploy.a", "2030-03-30 02:00:00"])
    );
    assert_eq!(
        ztick(r#"3 "a \"b\" \\c" """#),
        words(&["3", r#"a "b" \c"#, ""])
    );
    // Outside quotes a backslash is an ordinary character, as in ztick.
    assert_eq!(ztick(r"4 a\b"), words(&["4", r"a\b"]));
    assert_eq!(ztick(""), words(&[]));
    assert_eq!(ztick("   "), words(&[]));
}

#[test]
fn ambiguous_lines_are_refused() {
    assert_eq!(ztick("b2\tX SET backup.q 1"), Err(LineFault::Control(9)));
    assert_eq!(ztick("1 GET deploy.a\r"), Err(LineFault::Control(13)));
    assert_eq!(ztick("1\u{a0}X GET a"), Err(LineFault::UnicodeSpace(0xa0)));
    assert_eq!(
        ztick("1\u{3000}X GET a"),
        Err(LineFault::UnicodeSpace(0x3000))
    );
    assert_eq!(ztick("1\u{200b} GET a"), Err(LineFault::Format(0x200b)));
    assert_eq!(ztick("1 GET \u{202e}a"), Err(LineFault::Format(0x202e)));
    assert_eq!(ztick(r#""b4 GET deploy.a"#), Err(LineFault::UnclosedQuote));
    assert_eq!(ztick(r#"1 GET "a\"#), Err(LineFault::UnclosedQuote));
    assert_eq!(ztick(r#"1 GET a"b""#), Err(LineFault::QuoteInsideWord));
    assert_eq!(ztick(r#"1 GET "a"b"#), Err(LineFault::QuoteInsideWord));
    assert_eq!(ztick(r#"1 GET "a""b""#), Err(LineFault::QuoteInsideWord));
    assert_eq!(
        Dialect::Ztick.tokenize(b"1 GET \xff"),
        Err(LineFault::NotUtf8)
    );
}

#[test]
fn canonical_spelling_round_trips() {
    let tokens = ["e1", "SET", "deploy.a b", "", r#"q"\"#, "plain"];
    let line = Dialect::Ztick.serialize(&tokens);
    assert_eq!(line, br#"e1 SET "deploy.a b" "" "q\"\\" plain"#.to_vec());
    assert_eq!(Dialect::Ztick.tokenize(&line), words(&tokens));
}

#[test]
fn the_generic_dialect_has_no_quoting() {
    assert_eq!(
        Dialect::Generic.tokenize(b" 1  SET a  b "),
        words(&["1", "SET", "a", "b"])
    );
    assert_eq!(
        Dialect::Generic.tokenize(br#"1 "SET" a"#),
        Err(LineFault::Quoting)
    );
    assert_eq!(
        Dialect::Generic.tokenize(br"1 a\b"),
        Err(LineFault::Quoting)
    );
    assert_eq!(
        Dialect::Generic.tokenize(b"1\tSET"),
        Err(LineFault::Control(9))
    );
    assert_eq!(Dialect::Generic.serialize(&["1", "SET", "a"]), b"1 SET a");
}
