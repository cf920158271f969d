//! Finding the machine's PostgreSQL server binaries.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::EmbeddedError;

/// Where Debian and Ubuntu install each major version's server binaries (`<root>/<N>/bin`).
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// Finds a directory holding both `initdb` and `postgres`.
///
/// Order: `explicit` (when given it is the only candidate: a wrong explicit path is an error, not
/// a reason to pick some other installation), then `pg_config --bindir`, then the highest
/// `/usr/lib/postgresql/<N>/bin`, then the directories on `PATH` that hold `initdb`. Reading
/// `PATH` is the one look at the environment here: it is how the machine says where programs are.
///
/// Blocking (it may run `pg_config`); call it from `spawn_blocking` in async code.
pub fn find_bin_dir(explicit: Option<&Path>) -> Result<PathBuf, EmbeddedError> {
    if let Some(dir) = explicit {
        return check_bin_dir(dir)
            .map(|()| dir.to_path_buf())
            .map_err(|why| EmbeddedError::BinariesNotFound {
                tried: vec![format!("{} (given explicitly): {why}", dir.display())],
            });
    }

    let mut tried = Vec::new();
    match pg_config_bindir() {
        Ok(dir) => match check_bin_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(why) => tried.push(format!("pg_config --bindir ({}): {why}", dir.display())),
        },
        Err(why) => tried.push(format!("pg_config --bindir: {why}")),
    }
    match highest_versioned_bin_dir(Path::new(DEBIAN_ROOT)) {
        Ok(dir) => return Ok(dir),
        Err(why) => tried.push(format!("{DEBIAN_ROOT}/<version>/bin: {why}")),
    }
    match bin_dir_on_path(std::env::var_os("PATH").unwrap_or_default()) {
        Ok(dir) => return Ok(dir),
        Err(why) => tried.push(format!("PATH: {why}")),
    }
    Err(EmbeddedError::BinariesNotFound { tried })
}

/// Ok when `dir` holds executable `initdb` and `postgres`; otherwise says which is missing.
fn check_bin_dir(dir: &Path) -> Result<(), String> {
    for program in ["initdb", "postgres"] {
        if !is_executable(&dir.join(program)) {
            return Err(format!("no executable {program} in {}", dir.display()));
        }
    }
    Ok(())
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn pg_config_bindir() -> Result<PathBuf, String> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => "pg_config is not installed".to_owned(),
            _ => err.to_string(),
        })?;
    if !output.status.success() {
        return Err(format!("pg_config failed ({})", output.status));
    }
    let printed = String::from_utf8(output.stdout).map_err(|_| "printed a non-utf-8 path")?;
    match printed.trim() {
        "" => Err("pg_config printed nothing".to_owned()),
        dir => Ok(PathBuf::from(dir)),
    }
}

/// The usable `<root>/<version>/bin` with the highest version (`15` > `13` > `9.6`).
fn highest_versioned_bin_dir(root: &Path) -> Result<PathBuf, String> {
    let entries =
        fs::read_dir(root).map_err(|err| format!("cannot read {}: {err}", root.display()))?;
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let version = name
                .to_str()?
                .split('.')
                .map(|part| part.parse::<u32>().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions
        .into_iter()
        .map(|(_, bin)| bin)
        .find(|bin| check_bin_dir(bin).is_ok())
        .ok_or_else(|| "no version directory holds initdb and postgres".to_owned())
}

/// The first `PATH` entry holding `initdb` with `postgres` beside it (symlinks resolved, so a
/// `/usr/local/bin/initdb` link leads to the real installation).
fn bin_dir_on_path(path_var: std::ffi::OsString) -> Result<PathBuf, String> {
    let mut found_without_postgres = Vec::new();
    for dir in std::env::split_paths(&path_var) {
        let initdb = dir.join("initdb");
        if !is_executable(&initdb) {
            continue;
        }
        let real_dir = fs::canonicalize(&initdb)
            .ok()
            .and_then(|real| real.parent().map(Path::to_path_buf))
            .unwrap_or(dir);
        match check_bin_dir(&real_dir) {
            Ok(()) => return Ok(real_dir),
            Err(_) => found_without_postgres.push(real_dir.display().to_string()),
        }
    }
    if found_without_postgres.is_empty() {
        Err("no initdb on PATH".to_owned())
    } else {
        Err(format!(
            "initdb found in {} but no postgres beside it",
            found_without_postgres.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_bin(dir: &Path, programs: &[&str]) {
        fs::create_dir_all(dir).unwrap();
        for program in programs {
            let path = dir.join(program);
            fs::write(&path, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn explicit_dir_without_initdb_names_the_dir_and_the_fix() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_bin_dir(Some(empty.path())).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, EmbeddedError::BinariesNotFound { .. }),
            "{err:?}"
        );
        assert!(
            message.contains(&empty.path().display().to_string()),
            "{message}"
        );
        assert!(message.contains("no executable initdb"), "{message}");
        assert!(message.contains("apt-get install postgresql"), "{message}");
    }

    #[test]
    fn explicit_dir_needs_postgres_too() {
        let dir = tempfile::tempdir().unwrap();
        fake_bin(dir.path(), &["initdb"]);
        let message = find_bin_dir(Some(dir.path())).unwrap_err().to_string();
        assert!(message.contains("no executable postgres"), "{message}");
    }

    #[test]
    fn highest_complete_version_wins() {
        let root = tempfile::tempdir().unwrap();
        fake_bin(&root.path().join("9.6/bin"), &["initdb", "postgres"]);
        fake_bin(&root.path().join("13/bin"), &["initdb", "postgres"]);
        fake_bin(&root.path().join("16/bin"), &["initdb"]);
        fake_bin(&root.path().join("beta/bin"), &["initdb", "postgres"]);
        let found = highest_versioned_bin_dir(root.path()).unwrap();
        assert_eq!(found, root.path().join("13/bin"));
    }

    #[test]
    fn path_search_requires_postgres_beside_initdb() {
        let only_initdb = tempfile::tempdir().unwrap();
        fake_bin(only_initdb.path(), &["initdb"]);
        let full = tempfile::tempdir().unwrap();
        fake_bin(full.path(), &["initdb", "postgres"]);

        let path_var = std::env::join_paths([only_initdb.path(), full.path()]).unwrap();
        let found = bin_dir_on_path(path_var).unwrap();
        assert_eq!(found, fs::canonicalize(full.path()).unwrap());

        let path_var = std::env::join_paths([only_initdb.path()]).unwrap();
        let why = bin_dir_on_path(path_var).unwrap_err();
        assert!(why.contains("no postgres beside it"), "{why}");
    }
}
