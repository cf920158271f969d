//! The command-line flags of a program that calls Tessera with its own service token (both edges,
//! or a Rust service of yours), as one `clap` group to flatten into a command line: the same
//! names, environment variables, defaults and checks wherever they appear.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::{parse_duration, ClientBuilder, Secret, TlsFlags};

/// Where Tessera is and how this program proves who it is (`--tessera`, `--tessera-ca`,
/// `--tessera-cert` and `--tessera-key` for mutual TLS, `--service-token` or
/// `--service-token-file`, `--tessera-timeout`).
///
/// ```
/// use clap::Parser;
/// use tessera_client::ServiceArgs;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     tessera: ServiceArgs,
/// }
///
/// let cli = Cli::parse_from(["my-service", "--tessera", "http://10.0.0.1:50051", "--service-token", "tsr_svc_x"]);
/// let token = cli.tessera.service_token().unwrap();
/// let builder = cli.tessera.client(&token).unwrap();
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// gRPC address of the Tessera server: `host:port`, `http://host:port` or `https://host:port`
    /// (TLS). Several, comma-separated, are replicas: the first that answers is used and calls
    /// fail over to the next.
    #[arg(
        long,
        env = "TESSERA_ADDR",
        default_value = "http://127.0.0.1:50051",
        value_delimiter = ','
    )]
    pub tessera: Vec<String>,

    /// PEM CA certificates that sign Tessera's certificate, for `https://` addresses (default:
    /// the system's roots).
    #[arg(long, env = "TESSERA_CA")]
    pub tessera_ca: Option<PathBuf>,

    /// PEM client certificate to present to Tessera when it requires one (mutual TLS, its
    /// `--client-ca`); with --tessera-key.
    #[arg(long, env = "TESSERA_CERT", requires = "tessera_key")]
    pub tessera_cert: Option<PathBuf>,

    /// PEM private key of --tessera-cert.
    #[arg(long, env = "TESSERA_KEY", requires = "tessera_cert")]
    pub tessera_key: Option<PathBuf>,

    /// This program's own service token: it must hold `introspect` and must not hold admin
    /// rights.
    #[arg(
        long,
        env = "TESSERA_SERVICE_TOKEN",
        hide_env_values = true,
        required_unless_present = "service_token_file",
        conflicts_with = "service_token_file"
    )]
    pub service_token: Option<String>,

    /// File whose first line is the service token (instead of --service-token).
    #[arg(long, env = "TESSERA_SERVICE_TOKEN_FILE")]
    pub service_token_file: Option<PathBuf>,

    /// Limit for each call to Tessera; past it the request fails closed.
    #[arg(long, env = "TESSERA_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub tessera_timeout: Duration,
}

impl ServiceArgs {
    /// The service token, from the flag or the first line of the file: one word of visible
    /// ASCII, or an error naming the flag (never the value).
    pub fn service_token(&self) -> Result<Secret, String> {
        let token = match (&self.service_token, &self.service_token_file) {
            (Some(token), None) => Secret::new(token.trim().to_owned()),
            (None, Some(path)) => read_secret_file(path, "--service-token-file")?,
            _ => {
                return Err(
                    "exactly one of --service-token and --service-token-file is required".into(),
                )
            }
        };
        if token.is_empty() || !token.expose().bytes().all(|b| b.is_ascii_graphic()) {
            return Err("--service-token must be one word of visible ASCII characters".into());
        }
        Ok(token)
    }

    /// The client settings for these addresses, CA, client certificate and deadline, calling
    /// with `token`, checked now (a bad address, CA, certificate or key file is named by its
    /// flag).
    pub fn client(&self, token: &Secret) -> Result<ClientBuilder, String> {
        let identity = match (&self.tessera_cert, &self.tessera_key) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            (None, None) => None,
            _ => return Err("--tessera-cert and --tessera-key go together".into()),
        };
        ClientBuilder::for_service_with_identity(
            &self.tessera,
            self.tessera_ca.as_deref(),
            identity,
            token.clone(),
            self.tessera_timeout,
        )
        .map_err(|e| e.flags_message(&TlsFlags::SERVICE))
    }
}

/// The first line of a secret file (a token, a password), trimmed; an unreadable or empty file is
/// an error naming `flag` and the path, never the content.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("token");
/// std::fs::write(&path, "tsr_svc_x\n").unwrap();
/// let token = tessera_client::read_secret_file(&path, "--service-token-file").unwrap();
/// assert_eq!(token.expose(), "tsr_svc_x");
/// ```
pub fn read_secret_file(path: &Path, flag: &str) -> Result<Secret, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("{flag}: cannot read {}: {e}", path.display()))?,
    );
    let first = text.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        return Err(format!("{flag}: {} is empty", path.display()));
    }
    Ok(Secret::new(first.to_owned()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        tessera: ServiceArgs,
    }

    fn parse(args: &[&str]) -> Result<ServiceArgs, String> {
        Cli::try_parse_from(std::iter::once("prog").chain(args.iter().copied()))
            .map(|cli| cli.tessera)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_token_comes_from_exactly_one_place_and_is_one_word() {
        assert!(parse(&[]).unwrap_err().contains("--service-token"));
        let args = parse(&["--service-token", "two words"]).unwrap();
        let err = args.service_token().unwrap_err();
        assert!(
            err.contains("one word") && !err.contains("two words"),
            "{err}"
        );
        let args = parse(&["--service-token-file", "/nonexistent/token"]).unwrap();
        assert!(args
            .service_token()
            .unwrap_err()
            .contains("--service-token-file"));
        let args = parse(&["--service-token", "tsr_svc_x"]).unwrap();
        assert_eq!(args.service_token().unwrap().expose(), "tsr_svc_x");
    }

    #[test]
    fn addresses_and_ca_are_checked_at_start_and_named_by_flag() {
        let token = Secret::new("tsr_svc_x".into());
        let args = |addresses: &[&str], ca: Option<&Path>| ServiceArgs {
            tessera: addresses.iter().map(|s| s.to_string()).collect(),
            tessera_ca: ca.map(Path::to_path_buf),
            tessera_cert: None,
            tessera_key: None,
            service_token: Some("tsr_svc_x".into()),
            service_token_file: None,
            tessera_timeout: Duration::from_secs(1),
        };
        let parsed = parse(&["--service-token", "t", "--tessera", "a:1,b:2"]).unwrap();
        assert_eq!(parsed.tessera, ["a:1", "b:2"]);
        assert!(args(&["127.0.0.1:1", "https://t:1"], None)
            .client(&token)
            .is_ok());
        for bad in ["ftp://t:1", "http://t", "http://t:1/x", "t"] {
            let err = args(&[bad], None).client(&token).unwrap_err();
            assert!(err.starts_with("--tessera:"), "{bad}: {err}");
            assert!(err.contains("http://127.0.0.1:50051"), "{bad}: {err}");
        }
        let ca = tempfile::NamedTempFile::new().unwrap();
        assert!(args(&["https://t:1"], Some(ca.path()))
            .client(&token)
            .is_ok());
        let err = args(&["https://t:1", "http://u:1"], Some(ca.path()))
            .client(&token)
            .unwrap_err();
        assert!(err.contains("use https://"), "{err}");
        let missing = Path::new("/nonexistent/ca.pem");
        let err = args(&["https://t:1"], Some(missing))
            .client(&token)
            .unwrap_err();
        assert!(err.starts_with("--tessera-ca:"), "{err}");
    }

    #[test]
    fn a_client_certificate_is_checked_at_start_and_named_by_flag() {
        let token = Secret::new("tsr_svc_x".into());
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("client.crt");
        let key = dir.path().join("client.key");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        // A placeholder in the key's shape (truncated, no key material): rustls must read it as
        // a key file and then refuse it.
        let kind = "PRIVATE KEY";
        std::fs::write(
            &key,
            format!("-----BEGIN {kind}-----\nMIIB\n-----END {kind}-----\n"),
        )
        .unwrap();
        let with = |address: &str, cert: &Path, key: &Path| {
            parse(&[
                "--service-token",
                "t",
                "--tessera",
                address,
                "--tessera-cert",
                cert.to_str().unwrap(),
                "--tessera-key",
                key.to_str().unwrap(),
            ])
            .unwrap()
            .client(&token)
        };
        assert!(with("https://t:1", &cert, &key).is_ok());
        // Half a pair is refused by the parser, naming the other half.
        let half = parse(&[
            "--service-token",
            "t",
            "--tessera-cert",
            cert.to_str().unwrap(),
        ]);
        assert!(half.unwrap_err().contains("--tessera-key"));
        let err = with("http://t:1", &cert, &key).unwrap_err();
        assert!(
            err.starts_with("--tessera-cert:") && err.contains("use https://"),
            "{err}"
        );
        let err = with("https://t:1", Path::new("/nonexistent/c.crt"), &key).unwrap_err();
        assert!(err.starts_with("--tessera-cert:"), "{err}");
        // A key file that holds a certificate is named, without its content.
        let err = with("https://t:1", &cert, &cert).unwrap_err();
        assert!(
            err.starts_with("--tessera-key:") && !err.contains("MIIB"),
            "{err}"
        );
    }
}
