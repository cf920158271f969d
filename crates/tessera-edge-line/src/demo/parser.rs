//! A model of ztick's line parser (`src/infrastructure/protocol/parser.zig`), byte for byte.
//!
//! It reads from a buffer that may hold several lines, or part of one, as ztick's connection loop
//! does: leading spaces are skipped; a token is either a quoted string (`"`, in which `\` takes the
//! next byte literally, and which may run across newlines) or a run of bytes up to a space, a
//! newline or a `"`; tokens are separated by spaces only. The first token is the request id; a
//! line with a request id and nothing else, or an empty line, is invalid (ztick skips it up to the
//! first newline in the buffer, without a reply). Nothing else is special: TAB, CR, NBSP and
//! control bytes are ordinary token bytes.

/// Why no command could be parsed from the front of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// More bytes are needed (no newline yet, or a quote still open).
    Incomplete,
    /// The line is skipped: ztick drops everything up to the first newline in the buffer.
    Invalid,
}

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The first token.
    pub request_id: Vec<u8>,
    /// The other tokens: the command word(s) and arguments.
    pub args: Vec<Vec<u8>>,
    /// Bytes of the buffer this command used, its newline included.
    pub consumed: usize,
}

/// Parses the command at the front of `input`.
pub fn parse(input: &[u8]) -> Result<Parsed, ParseError> {
    let mut pos = skip_spaces(input, 0);
    match input.get(pos) {
        None => return Err(ParseError::Incomplete),
        Some(b'\n') => return Err(ParseError::Invalid),
        Some(_) => {}
    }
    let request_id = token(input, &mut pos)?;
    pos = skip_spaces(input, pos);
    match input.get(pos) {
        None => return Err(ParseError::Incomplete),
        Some(b'\n') => return Err(ParseError::Invalid),
        Some(_) => {}
    }
    let mut args = Vec::new();
    while pos < input.len() && input[pos] != b'\n' {
        args.push(token(input, &mut pos)?);
        pos = skip_spaces(input, pos);
    }
    if pos == input.len() {
        return Err(ParseError::Incomplete);
    }
    Ok(Parsed {
        request_id,
        args,
        consumed: pos + 1,
    })
}

fn skip_spaces(input: &[u8], mut pos: usize) -> usize {
    while input.get(pos) == Some(&b' ') {
        pos += 1;
    }
    pos
}

fn token(input: &[u8], pos: &mut usize) -> Result<Vec<u8>, ParseError> {
    if input.get(*pos) == Some(&b'"') {
        *pos += 1;
        let mut value = Vec::new();
        loop {
            match input.get(*pos) {
                None => return Err(ParseError::Incomplete),
                Some(b'"') => {
                    *pos += 1;
                    return Ok(value);
                }
                Some(b'\\') => {
                    let escaped = *input.get(*pos + 1).ok_or(ParseError::Incomplete)?;
                    value.push(escaped);
                    *pos += 2;
                }
                Some(&byte) => {
                    value.push(byte);
                    *pos += 1;
                }
            }
        }
    }
    let start = *pos;
    while let Some(&byte) = input.get(*pos) {
        if matches!(byte, b' ' | b'\n' | b'"') {
            break;
        }
        *pos += 1;
    }
    Ok(input[start..*pos].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>, usize) {
        let parsed = parse(input).expect("parses");
        (parsed.request_id, parsed.args, parsed.consumed)
    }

    #[test]
    fn ztick_test_vectors() {
        // The cases ztick's own parser tests pin down.
        let (id, args, _) = tokens(b"    Id   VERSION toto   32t\\ata titi 111   \n");
        assert_eq!(id, b"Id");
        assert_eq!(
            args,
            [&b"VERSION"[..], b"toto", b"32t\\ata", b"titi", b"111"]
        );
        let (id, args, _) = tokens(b"\"123\" \"UNSET\"\n");
        assert_eq!((id, args), (b"123".to_vec(), vec![b"UNSET".to_vec()]));
        let (id, args, _) = tokens(b" \"\\\"\" \"\\\"\"   \n");
        assert_eq!((id, args), (b"\"".to_vec(), vec![b"\"".to_vec()]));
        let (id, args, consumed) =
            tokens(b"  XYZ    UNSET  \"\n\"  \"I can\\\" con$tain\\\\every.thing\\\"\"  \n\n\nHEY");
        assert_eq!(id, b"XYZ");
        assert_eq!(
            args,
            [&b"UNSET"[..], b"\n", b"I can\" con$tain\\every.thing\""]
        );
        assert_eq!(
            &b"  XYZ    UNSET  \"\n\"  \"I can\\\" con$tain\\\\every.thing\\\"\"  \n\n\nHEY"
                [consumed..],
            b"\n\nHEY"
        );
        assert_eq!(parse(b"\n"), Err(ParseError::Invalid));
        assert_eq!(parse(b"A\n"), Err(ParseError::Invalid));
        assert_eq!(parse(b"VER"), Err(ParseError::Incomplete));
        assert_eq!(parse(b" \"\\"), Err(ParseError::Incomplete));
    }

    #[test]
    fn what_only_ztick_reads_that_way() {
        // Quotes split words, TAB and CR are word bytes, and a quote runs across lines.
        let (id, args, _) = tokens(b"b1 \"SET\" x\n");
        assert_eq!((id, args[0].clone()), (b"b1".to_vec(), b"SET".to_vec()));
        let (id, args, _) = tokens(b"a\"b\" c\n");
        assert_eq!(
            (id, args),
            (b"a".to_vec(), vec![b"b".to_vec(), b"c".to_vec()])
        );
        let (id, _, _) = tokens(b"b2\tX SET backup.q 1\n");
        assert_eq!(id, b"b2\tX");
        let (_, args, _) = tokens(b"1 GET deploy.a\r\n");
        assert_eq!(args[1], b"deploy.a\r");
        let (id, args, _) = tokens(b"\"b4 GET deploy.a\nb5 GET deploy.b\" SET backup.q 1\n");
        assert_eq!(id, b"b4 GET deploy.a\nb5 GET deploy.b");
        assert_eq!(args[0], b"SET");
    }
}
