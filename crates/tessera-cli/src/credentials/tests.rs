use std::os::unix::fs::{symlink, PermissionsExt};

use super::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn with_session(path: &Path) -> Credentials {
    let mut credentials = Credentials {
        path: path.to_owned(),
        ..Credentials::default()
    };
    credentials.servers.insert(
        "http://127.0.0.1:50051".into(),
        StoredSession {
            username: "alice".into(),
            role: "user".into(),
            token: "tsr_session_secret".into(),
            token_id: "id".into(),
            expires_at: 0,
            elevated: None,
            tls: StoredTls::default(),
        },
    );
    credentials
}

#[test]
fn a_leftover_temp_file_cannot_lend_the_credentials_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let tmp = dir.path().join("credentials.tmp");
    std::fs::write(&tmp, "left by an interrupted write").unwrap();
    set_mode(&tmp, 0o644);
    with_session(&path).save().unwrap();
    assert_eq!(mode(&path), 0o600);
    assert!(!tmp.exists());
    let loaded = Credentials::load(Some(&path)).unwrap();
    assert_eq!(loaded.servers.len(), 1);
    assert!(!format!("{loaded:?}").contains("tsr_session_secret"));
}

#[test]
fn a_symlinked_temp_file_is_refused_and_its_target_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let target = dir.path().join("somewhere-else");
    std::fs::write(&target, "untouched").unwrap();
    set_mode(&target, 0o644);
    symlink(&target, dir.path().join("credentials.tmp")).unwrap();
    let err = with_session(&path).save().unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("symbolic link"), "{message}");
    assert!(!message.contains("tsr_session_secret"), "{message}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    assert!(!path.exists());
}

#[test]
fn a_symlinked_credentials_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    with_session(&real).save().unwrap();
    let link = dir.path().join("credentials.json");
    symlink(&real, &link).unwrap();
    let err = Credentials::load(Some(&link)).unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("symbolic link"), "{message}");
    assert!(Credentials::load(Some(&real)).is_ok());
}

#[test]
fn a_credentials_file_others_may_read_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    with_session(&path).save().unwrap();
    for open in [0o640, 0o604, 0o620, 0o644] {
        set_mode(&path, open);
        let err = Credentials::load(Some(&path)).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("chmod 600"), "{open:o}: {message}");
        assert!(!message.contains("tsr_session_secret"), "{message}");
    }
    set_mode(&path, 0o600);
    assert_eq!(Credentials::load(Some(&path)).unwrap().servers.len(), 1);
    assert!(Credentials::load(Some(&dir.path().join("missing.json")))
        .unwrap()
        .servers
        .is_empty());
}

#[test]
fn a_session_keeps_how_it_reached_its_server_and_older_files_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let mut credentials = with_session(&path);
    let tls = StoredTls {
        ca: Some("/etc/tessera/ca.pem".into()),
        tls_server_name: Some("tessera".into()),
        cert: Some("/etc/tessera/client.crt".into()),
        key: Some("/etc/tessera/client.key".into()),
    };
    credentials
        .servers
        .get_mut("http://127.0.0.1:50051")
        .unwrap()
        .tls = tls.clone();
    credentials.save().unwrap();
    let address = ServerAddress::parse("http://127.0.0.1:50051").unwrap();
    let loaded = Credentials::load(Some(&path)).unwrap();
    assert_eq!(loaded.session(&address).unwrap().tls, tls);
    // A file written before sessions kept TLS settings has none.
    std::fs::write(
        &path,
        r#"{"servers":{"http://127.0.0.1:50051":{"username":"a","token":"t","token_id":"i"}}}"#,
    )
    .unwrap();
    set_mode(&path, 0o600);
    let old = Credentials::load(Some(&path)).unwrap();
    assert_eq!(old.session(&address).unwrap().tls, StoredTls::default());
}
