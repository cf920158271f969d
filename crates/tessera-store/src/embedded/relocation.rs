//! Where the cluster goes when the requested data dir is out of the unprivileged user's reach.
//!
//! Run as root from a checkout in `/root` (mode 0700) or any `mktemp -d` folder, `postgres`
//! cannot even reach the data dir. Rather than stop, the cluster moves to a per-data-dir folder
//! under [`RELOCATION_ROOT`] (traversable, on disk, not cleaned at boot like `/tmp`), named after
//! the requested path so every run of the same checkout finds the same cluster again. The
//! requested dir keeps a [`POINTER_FILE`] naming the real place, for people and scripts.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::privileges::{self, RunAs};
use super::EmbeddedError;

/// Parent of every relocated cluster.
pub const RELOCATION_ROOT: &str = "/var/lib/tessera/embedded";
/// Written into the requested data dir: the path of the cluster that serves it.
pub const POINTER_FILE: &str = "cluster-location";

/// The per-data-dir folder under [`RELOCATION_ROOT`] for `requested` (canonical), created 0700
/// for `user` if missing, with the requested dir pointing at it.
pub(super) fn relocate(
    requested: &Path,
    blocked_at: &Path,
    user: &RunAs,
) -> Result<PathBuf, EmbeddedError> {
    let root = Path::new(RELOCATION_ROOT);
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(root)
        .map_err(|err| EmbeddedError::io("create", root, err))?;
    privileges::check_traversable(root, user)?;

    let dir = root.join(folder_name(requested));
    match DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => privileges::chown_tree(&dir, user)?,
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(EmbeddedError::io("create", &dir, err)),
    }
    // Best effort: both only help a person find the way between the two places.
    let _ = fs::write(requested.join(POINTER_FILE), format!("{}\n", dir.display()));
    let _ = fs::write(dir.join("origin"), format!("{}\n", requested.display()));
    warn!(
        data_dir = %requested.display(),
        blocked_at = %blocked_at.display(),
        user = %user.name,
        cluster = %dir.display(),
        "postgresql's user cannot reach the data dir; the cluster lives in its own folder instead (kept across runs)"
    );
    Ok(dir)
}

/// `<last component>-<hash of the whole path>`: readable, and distinct per checkout.
fn folder_name(requested: &Path) -> String {
    let label: String = requested
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!(
        "{}-{:016x}",
        label.trim_start_matches('.'),
        fnv1a(requested.as_os_str().as_encoded_bytes())
    )
}

/// FNV-1a, 64 bits: stable across Rust releases (unlike `DefaultHasher`), so a toolchain update
/// never loses the way to an existing cluster.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_stable_readable_and_distinct() {
        let a = folder_name(Path::new("/root/tessera/.tessera"));
        assert_eq!(a, folder_name(Path::new("/root/tessera/.tessera")));
        assert!(a.starts_with("tessera-"), "{a}");
        assert_ne!(a, folder_name(Path::new("/root/other/.tessera")));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let odd = folder_name(Path::new("/tmp/a b,c\"d"));
        assert!(!odd.contains([' ', ',', '"']), "{odd}");
    }
}
