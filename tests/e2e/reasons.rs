//! One reason table. `auth.proto` lists every `google.rpc.ErrorInfo` reason with its gRPC code for
//! every language; the contract crate (`tessera_proto::Reason`) is the same table for Rust, and
//! the server, the Rust client and both edges use that one enum (the edges' unit tests walk
//! `Reason::ALL` through their answers). Here: the proto and the contract hold the same reasons
//! with the same codes (so a reason added to the proto alone fails), the server can raise every
//! one, and every other SDK names every one (a typed reason, an exception, a sentinel).

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
fn the_contract_holds_exactly_the_reasons_and_codes_of_the_proto() {
    let table = proto_table();
    let contract: BTreeMap<String, String> = tessera_proto::Reason::ALL
        .iter()
        .map(|reason| {
            let code = snake(&format!("{:?}", reason.code()));
            (reason.as_str().to_owned(), code)
        })
        .collect();
    assert_eq!(
        contract, table,
        "the contract's reason table (left, tessera_proto::Reason) and auth.proto's (right) differ"
    );
}

#[test]
fn the_server_raises_every_reason_of_the_contract() {
    let server = read("crates/tessera-server/src/error.rs");
    let missing: Vec<_> = tessera_proto::Reason::ALL
        .iter()
        .filter(|reason| !server.contains(&format!("=> Reason::{reason:?}")))
        .collect();
    assert!(
        missing.is_empty(),
        "no ApiError of crates/tessera-server/src/error.rs maps to {missing:?}"
    );
}

#[test]
fn every_client_names_every_reason() {
    let table = proto_table();
    for file in [
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
