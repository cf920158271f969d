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

/// Where the cluster of `requested` (a canonical data dir) lives if it was relocated, whether or
/// not it was: the pointer file may be gone (`rm -rf .tessera`) while the cluster stays.
pub fn relocated_cluster(requested: &Path) -> PathBuf {
    Path::new(RELOCATION_ROOT).join(folder_name(requested))
}

/// Removes everything a data dir's dev instance keeps — the data dir itself and, when there is
/// one, its relocated cluster (found by name, pointer file or not) — so the next start is a first
/// run. Refuses while a PostgreSQL still runs on either. Returns what it removed.
pub fn reset(requested: &Path) -> Result<Vec<PathBuf>, EmbeddedError> {
    reset_with(requested, &relocated_cluster(requested))
}

pub(super) fn reset_with(
    requested: &Path,
    relocated: &Path,
) -> Result<Vec<PathBuf>, EmbeddedError> {
    let pointed = fs::read_to_string(requested.join(POINTER_FILE))
        .ok()
        .map(|text| PathBuf::from(text.trim()));
    let mut places = vec![requested.to_path_buf(), relocated.to_path_buf()];
    // Only a pointer into the relocation root is followed: the file is plain text anyone with
    // write access to the data dir could have changed.
    if let Some(pointed) = pointed.filter(|p| p.starts_with(RELOCATION_ROOT) && p != relocated) {
        places.push(pointed);
    }
    for place in &places {
        let pid_file = place.join("pgdata/postmaster.pid");
        if let Some(pid) = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<i32>().ok())
        {
            if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() {
                return Err(EmbeddedError::io(
                    "reset",
                    place,
                    std::io::Error::other(format!(
                        "a PostgreSQL (pid {pid}) still runs on it: stop tessera dev first"
                    )),
                ));
            }
        }
    }
    let mut removed = Vec::new();
    for place in places {
        match fs::remove_dir_all(&place) {
            Ok(()) => removed.push(place),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(EmbeddedError::io("remove", &place, err)),
        }
    }
    Ok(removed)
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
    fn reset_removes_the_data_dir_and_its_relocated_cluster_even_without_the_pointer() {
        let scratch = tempfile::tempdir().unwrap();
        let requested = scratch.path().join(".tessera");
        let relocated = scratch.path().join("relocated");
        for dir in [&requested, &relocated] {
            fs::create_dir_all(dir.join("pgdata")).unwrap();
        }
        fs::write(requested.join("dev-admin.json"), "{}").unwrap();
        // What `rm -rf .tessera` leaves: the relocated cluster alone.
        fs::remove_dir_all(&requested).unwrap();
        assert_eq!(
            reset_with(&requested, &relocated).unwrap(),
            vec![relocated.clone()]
        );
        assert!(!relocated.exists());
        // A cluster a live PostgreSQL runs on (this process stands in for it) is left alone.
        fs::create_dir_all(requested.join("pgdata")).unwrap();
        fs::write(
            requested.join("pgdata/postmaster.pid"),
            format!("{}\n", std::process::id()),
        )
        .unwrap();
        assert!(reset_with(&requested, &relocated).is_err());
        assert!(requested.exists());
        assert_eq!(
            relocated_cluster(Path::new("/root/t/.tessera")),
            Path::new(RELOCATION_ROOT).join(folder_name(Path::new("/root/t/.tessera")))
        );
    }

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
