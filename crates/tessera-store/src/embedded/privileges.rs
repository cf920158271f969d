//! Dropping privileges: `initdb` and `postgres` refuse to run as root, so a root supervisor runs
//! them as an unprivileged account and hands that account the files they write.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::unistd::{geteuid, Gid, Uid, User};

use super::EmbeddedError;

/// The account PostgreSQL runs as when the supervisor itself runs as root.
#[derive(Debug, Clone)]
pub(super) struct RunAs {
    pub(super) name: String,
    pub(super) uid: Uid,
    pub(super) gid: Gid,
}

/// `None` when not root (PostgreSQL runs as the current user); otherwise the `postgres` system
/// account if there is one (it is what packaged clusters use), else `nobody`.
pub(super) fn unprivileged_account() -> Result<Option<RunAs>, EmbeddedError> {
    if !geteuid().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Ok(Some(user)) = User::from_name(name) {
            if !user.uid.is_root() {
                return Ok(Some(RunAs {
                    name: user.name,
                    uid: user.uid,
                    gid: user.gid,
                }));
            }
        }
    }
    Err(EmbeddedError::NoUnprivilegedUser)
}

/// Checks that `user` may search every directory from `/` down to `dir` (inclusive), reporting
/// the topmost one that blocks it. Plain mode bits only: ACLs are rare on such paths.
pub(super) fn check_traversable(dir: &Path, user: &RunAs) -> Result<(), EmbeddedError> {
    let groups = CString::new(user.name.as_bytes())
        .ok()
        .and_then(|name| nix::unistd::getgrouplist(&name, user.gid).ok())
        .unwrap_or_else(|| vec![user.gid]);
    let mut chain: Vec<&Path> = dir.ancestors().collect();
    chain.reverse();
    for ancestor in chain {
        let meta =
            fs::metadata(ancestor).map_err(|err| EmbeddedError::io("inspect", ancestor, err))?;
        let mode = meta.permissions().mode();
        // POSIX picks exactly one class: owner, else group, else other.
        let search_bit = if meta.uid() == user.uid.as_raw() {
            0o100
        } else if groups.iter().any(|gid| gid.as_raw() == meta.gid()) {
            0o010
        } else {
            0o001
        };
        if mode & search_bit == 0 {
            return Err(EmbeddedError::NotTraversable {
                dir: ancestor.to_path_buf(),
                user: user.name.clone(),
            });
        }
    }
    Ok(())
}

/// Gives `path` and everything below it to `user`, without following symlinks; entries that
/// already belong to the user are left alone, so a second start touches nothing.
pub(super) fn chown_tree(path: &Path, user: &RunAs) -> Result<(), EmbeddedError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(EmbeddedError::io("inspect", path, err)),
    };
    if meta.uid() != user.uid.as_raw() || meta.gid() != user.gid.as_raw() {
        std::os::unix::fs::lchown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
            .map_err(|err| EmbeddedError::io("change the owner of", path, err))?;
    }
    if meta.is_dir() {
        let entries = fs::read_dir(path).map_err(|err| EmbeddedError::io("read", path, err))?;
        for entry in entries {
            let entry = entry.map_err(|err| EmbeddedError::io("read", path, err))?;
            chown_tree(&entry.path(), user)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn someone_else() -> RunAs {
        RunAs {
            name: "tessera-test-nobody".to_owned(),
            uid: Uid::from_raw(54_321),
            gid: Gid::from_raw(54_321),
        }
    }

    #[test]
    fn closed_directory_is_reported_by_name() {
        let top = tempfile::tempdir().unwrap();
        let closed = top.path().join("closed");
        let inner = closed.join("inner");
        fs::create_dir_all(&inner).unwrap();
        fs::set_permissions(top.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o750)).unwrap();

        let err = check_traversable(&inner, &someone_else()).unwrap_err();
        match &err {
            EmbeddedError::NotTraversable { dir, .. } => assert_eq!(dir, &closed),
            other => panic!("unexpected error {other:?}"),
        }
        assert!(err.to_string().contains("chmod o+x"), "{err}");

        fs::set_permissions(&closed, fs::Permissions::from_mode(0o711)).unwrap();
        check_traversable(&inner, &someone_else()).unwrap();
    }
}
