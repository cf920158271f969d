use std::time::Duration;

use super::*;

struct Pair {
    cert: String,
    key: String,
}

/// Loading a certificate sets the process-wide expiry gauge; tests that load one take turns, so
/// the expiry test reads the value it set (they raced under a busy CI run).
static LOADS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_load_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    LOADS.lock().unwrap_or_else(|p| p.into_inner())
}

fn self_signed(name: &str) -> Pair {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    Pair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn files(dir: &Path, pair: &Pair) -> TlsFiles {
    let files = TlsFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        client_ca: None,
        watch_interval: Duration::from_secs(10),
    };
    std::fs::write(&files.cert, &pair.cert).unwrap();
    std::fs::write(&files.key, &pair.key).unwrap();
    files
}

fn served_der(cert: &ReloadingCert) -> Vec<u8> {
    cert.current.read().unwrap().key.cert[0].as_ref().to_vec()
}

#[test]
fn a_matching_pair_loads_and_serves_the_alpn_asked_for() {
    let _turn = one_load_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let cert = ReloadingCert::load(files(dir.path(), &self_signed("localhost"))).unwrap();
    let config = cert.server_config(&[b"h2"]).unwrap();
    assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
    let none = cert.server_config(&[]).unwrap();
    assert!(none.alpn_protocols.is_empty());
}

#[test]
fn a_key_of_another_certificate_is_refused_naming_both_flags() {
    let dir = tempfile::tempdir().unwrap();
    let a = self_signed("a.example");
    let b = self_signed("b.example");
    let files = files(
        dir.path(),
        &Pair {
            cert: a.cert,
            key: b.key,
        },
    );
    let err = format!("{:#}", ReloadingCert::load(files).unwrap_err());
    assert!(
        err.contains("--tls-cert and --tls-key do not match"),
        "{err}"
    );
}

#[test]
fn missing_or_empty_files_name_the_flag_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = files(dir.path(), &self_signed("localhost"));
    f.key = dir.path().join("nope.key");
    let err = format!("{:#}", ReloadingCert::load(f.clone()).unwrap_err());
    assert!(
        err.contains("--tls-key") && err.contains("nope.key"),
        "{err}"
    );
    std::fs::write(dir.path().join("empty.crt"), "").unwrap();
    f.cert = dir.path().join("empty.crt");
    let err = format!("{:#}", ReloadingCert::load(f).unwrap_err());
    assert!(
        err.contains("--tls-cert") && err.contains("no certificate"),
        "{err}"
    );
}

#[test]
fn reload_swaps_a_good_pair_and_keeps_the_old_one_on_a_broken_pair() {
    let _turn = one_load_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let f = files(dir.path(), &self_signed("one.example"));
    let cert = ReloadingCert::load(f.clone()).unwrap();
    let first = served_der(&cert);

    let second = self_signed("two.example");
    std::fs::write(&f.cert, &second.cert).unwrap();
    std::fs::write(&f.key, &second.key).unwrap();
    assert!(cert.reload());
    let now = served_der(&cert);
    assert_ne!(now, first, "the new certificate is served");

    // A half-written rotation (new certificate, old key) keeps serving the last good pair.
    std::fs::write(&f.cert, self_signed("three.example").cert).unwrap();
    assert!(!cert.reload());
    assert_eq!(served_der(&cert), now);
}

#[test]
fn the_served_certificate_expiry_is_exported() {
    let _turn = one_load_at_a_time();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2031, 3, 30);
    let pair = Pair {
        cert: params.self_signed(&key).unwrap().pem(),
        key: key.serialize_pem(),
    };
    let dir = tempfile::tempdir().unwrap();
    ReloadingCert::load(files(dir.path(), &pair)).unwrap();
    // 2031-03-30T00:00:00Z
    assert_eq!(certificate_not_after(), Some(1_932_595_200));
}
