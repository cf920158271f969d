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

/// A CA and a client certificate it signed.
fn ca_and_client(name: &str) -> (String, CertificateDer<'static>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} CA"));
    let issuer = rcgen::Issuer::new(ca.clone(), ca_key);
    let ca_pem = ca.self_signed(issuer.key()).map(|c| c.pem()).unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut client = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    client.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let signed = client.signed_by(&client_key, &issuer).unwrap();
    (ca_pem, signed.der().clone())
}

#[test]
fn the_client_ca_reloads_without_a_restart_and_a_broken_file_keeps_the_current_one() {
    let _turn = one_load_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, old_client) = ca_and_client("old");
    let (new_ca, new_client) = ca_and_client("new");
    let mut f = files(dir.path(), &self_signed("localhost"));
    let ca_path = dir.path().join("clients.pem");
    std::fs::write(&ca_path, &old_ca).unwrap();
    f.client_ca = Some(ca_path.clone());
    let cert = ReloadingCert::load(f).unwrap();
    let _config = cert.server_config(&[b"h2"]).unwrap();
    let verifier = cert.clients.clone().expect("mutual TLS");
    let accepts = |der: &CertificateDer<'_>| {
        verifier
            .verify_client_cert(der, &[], UnixTime::now())
            .is_ok()
    };
    assert!(accepts(&old_client) && !accepts(&new_client));

    // The CA is rotated: the new CA's clients get in, the old one's no longer do.
    std::fs::write(&ca_path, &new_ca).unwrap();
    assert!(cert.reload());
    assert!(accepts(&new_client) && !accepts(&old_client));

    // A broken CA file keeps the CAs in use.
    std::fs::write(&ca_path, "not a certificate").unwrap();
    assert!(!cert.reload());
    assert!(accepts(&new_client));
}
