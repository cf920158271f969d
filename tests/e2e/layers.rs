//! Imports point one way: every workspace crate has a layer, and a crate's normal dependencies on
//! other workspace crates all lie in lower layers (so there is no circle, and nothing reaches up:
//! no client or edge imports the server, the store or the crypto crate; no rule imports I/O).
//! Read from `cargo metadata`, the build's own account; a new crate fails here until it is given
//! a layer in `LAYERS` and in `docs/architecture.md`.

use std::collections::BTreeMap;

/// Each crate's layer; a crate may depend only on crates of lower layers.
const LAYERS: &[(&str, u8)] = &[
    ("tessera-proto", 0),
    ("tessera-process", 0),
    ("tessera-telemetry", 0),
    ("tessera-rules", 1),
    ("tessera-core", 2),
    ("tessera-client", 2),
    ("tessera-store", 3),
    ("tessera-edge-http", 3),
    ("tessera-edge-line", 3),
    ("tessera-server", 4),
    ("tessera-cli", 5),
    ("tessera-bench", 6),
    ("tessera-harness", 7),
];

#[test]
fn every_crate_imports_only_from_lower_layers() {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();
    let mut seen = 0;
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("name");
        seen += 1;
        let Some(&layer) = layers.get(name) else {
            wrong.push(format!("{name} has no layer"));
            continue;
        };
        for dependency in package["dependencies"].as_array().expect("dependencies") {
            let target = dependency["name"].as_str().expect("dependency name");
            let normal = dependency["kind"].is_null();
            match layers.get(target) {
                Some(&below) if normal && below >= layer => {
                    wrong.push(format!(
                        "{name} (layer {layer}) imports {target} (layer {below})"
                    ));
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        seen,
        LAYERS.len(),
        "a crate was added or removed: {wrong:?}"
    );
    assert!(
        wrong.is_empty(),
        "imports that do not point down:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_client_and_the_edges_pull_in_no_crypto_crate() {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
        ])
        .args([
            "tessera-client",
            "-p",
            "tessera-edge-http",
            "-p",
            "tessera-edge-line",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    // The light crates are there (so the tree was read at all).
    for light in ["tessera-rules ", "tessera-proto ", "sha2 "] {
        assert!(
            tree.lines().any(|line| line.starts_with(light)),
            "{light}is missing"
        );
    }
    for heavy in [
        "tessera-core ",
        "argon2 ",
        "chacha20poly1305 ",
        "jsonwebtoken ",
        "totp-rs ",
    ] {
        assert!(
            !tree.lines().any(|line| line.starts_with(heavy)),
            "{heavy}is in the tree"
        );
    }
}
