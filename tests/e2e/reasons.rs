//! One reason table. `auth.proto` lists every `google.rpc.ErrorInfo` reason with its gRPC code;
//! the server must answer exactly those reasons with exactly those codes, and the Rust, Python and
//! Go clients must each name every one of them (a typed reason, an exception, a sentinel).

use std::{collections::BTreeMap, path::PathBuf};

fn read(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The table in `auth.proto`'s service comment: `//   REASON  GRPC_CODE  meaning`.
fn proto_table() -> BTreeMap<String, String> {
    let proto = read("proto/tessera/v1/auth.proto");
    let table: BTreeMap<String, String> = proto
        .lines()
        .filter_map(|line| line.strip_prefix("//   "))
        .filter_map(|row| {
            let mut words = row.split_whitespace();
            let reason = words.next()?;
            let code = words.next()?;
            let upper =
                |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
            (upper(reason) && upper(code)).then(|| (reason.to_owned(), code.to_owned()))
        })
        .collect();
    assert!(
        table.len() >= 10,
        "auth.proto's reason table was not found: {table:?}"
    );
    table
}

/// `Code::PermissionDenied` → `PERMISSION_DENIED`.
fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Every `"UPPER_CASE"` string literal of a source file.
fn quoted_names(source: &str) -> Vec<String> {
    source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.len() > 2 && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_server_answers_exactly_the_reasons_and_codes_of_the_table() {
    let table = proto_table();
    let server = read("crates/tessera-server/src/error.rs");
    // Rows of the error table: `ApiError::… => (Code::X, "REASON"),`.
    let mut answered = BTreeMap::new();
    for line in server.lines() {
        let Some((_, rest)) = line.split_once("=> (Code::") else {
            continue;
        };
        let Some((code, rest)) = rest.split_once(',') else {
            continue;
        };
        let reason = rest.trim().trim_start_matches('"');
        let Some((reason, _)) = reason.split_once('"') else {
            continue;
        };
        answered.insert(reason.to_owned(), snake(code.trim()));
    }
    assert_eq!(
        answered, table,
        "the server's error table (left) and auth.proto's reason table (right) differ"
    );
}

#[test]
fn every_client_names_every_reason() {
    let table = proto_table();
    for file in [
        "crates/tessera-client/src/error.rs",
        "clients/python/src/tessera_auth_client/errors.py",
        "clients/go/errors.go",
        "clients/java/src/main/java/io/github/tesseraauth/client/Reason.java",
        "clients/typescript/src/errors.ts",
    ] {
        let names = quoted_names(&read(file));
        let missing: Vec<_> = table.keys().filter(|r| !names.contains(r)).collect();
        assert!(missing.is_empty(), "{file} does not name {missing:?}");
    }
}
