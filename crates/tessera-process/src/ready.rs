//! The ready file: a small JSON document saying where a process listens, written once it does.

use std::path::Path;

/// Writes `body` to `path` through a temporary name beside it, so a reader never sees half of
/// it.
pub fn write(path: &Path, body: &serde_json::Value) -> std::io::Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, body.to_string())?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_file_appears_whole_and_no_partial_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready.json");
        super::write(&path, &serde_json::json!({ "listen_addr": "127.0.0.1:1" })).unwrap();
        let read: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(read["listen_addr"], "127.0.0.1:1");
        assert!(!path.with_extension("partial").exists());
    }
}
