//! Unmodified resource servers in front of Tessera's OAuth 2.0 introspection endpoint, each
//! configured as the README's "Tessera as an OAuth 2.0 introspection server" section says:
//!
//! * **Apache httpd + mod_auth_openidc** (Debian's `libapache2-mod-auth-openidc`, installed by
//!   `install-test-deps.sh`) protecting a location with `AuthType oauth20`: stands for every
//!   Apache deployment that trusts an RFC 7662 server — 200 with the right user for an active
//!   token, 401 without one, 401 on the next request after Revoke returns, and a refusal (never
//!   a pass) while Tessera's PostgreSQL is down.
//! * **Spring Security 7** `SpringOpaqueTokenIntrospector` (`tests/spring`, Maven, JDK 17): every
//!   Spring resource server on opaque tokens — principal named by `sub`, one `SCOPE_` authority
//!   per permission, `BadOpaqueTokenException` after Revoke, an `OAuth2IntrospectionException`
//!   (never "inactive") while PostgreSQL is down.
//! * **zitadel/oidc v3** `rs.Introspect` (`tests/zitadel`, Go): Go resource servers on zitadel's
//!   package, the same three promises.
//!
//! Each runs against its own `tessera dev` (its PostgreSQL is stopped at the end) and an edge
//! serving HTTPS (mod_auth_openidc accepts only an `https://` introspection endpoint).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;
use tessera_proto::v1 as pb;

use crate::oauth::stop_postgres;
use crate::support::http_client::get;
use crate::support::{start_private_tessera, Edge};

/// The README's block of `language` after `heading`.
pub fn readme_block(heading: &str, language: &str) -> String {
    let path = tessera_harness::workspace_root().join("README.md");
    let text = std::fs::read_to_string(path).expect("README.md");
    let from = text
        .find(heading)
        .unwrap_or_else(|| panic!("{heading} not in README"));
    let rest = &text[from..];
    let fence = format!("```{language}\n");
    let start = rest.find(&fence).expect("the block") + fence.len();
    let end = rest[start..].find("\n```").expect("the block's end");
    rest[start..start + end].to_owned()
}

/// The README's section every counterpart is configured from.
pub const SECTION: &str = "### Tessera as an OAuth 2.0 introspection server";

/// A self-signed certificate for `localhost` and `127.0.0.1`, written as `cert.pem`/`key.pem`.
pub fn write_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("cert.pem");
    std::fs::write(&key_path, key.serialize_pem()).expect("key.pem");
    (cert_path, key_path)
}

/// A running Apache httpd of its own (foreground, its own config, logs and runtime dir).
struct Httpd {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Httpd {
    /// SIGTERM, which makes httpd stop its worker children before it exits (SIGKILL would leave
    /// them behind); SIGKILL only if it does not exit in time.
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn apache_binary() -> Option<PathBuf> {
    ["/usr/sbin/apache2", "/usr/sbin/httpd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

const MODULES: &str = "/usr/lib/apache2/modules";

impl Httpd {
    /// Starts httpd with the README's block (its `Define` lines replaced by `defines`) below a
    /// server part of the test's own (listener, modules, logs, the test CA).
    async fn start(readme: &str, defines: &[(&str, &str)], ca: &Path) -> Httpd {
        let binary = apache_binary().expect("apache2 (run install-test-deps.sh)");
        let dir = tempfile::tempdir().expect("tempdir");
        let port = tessera_harness::cluster::free_port().expect("port");
        let root = dir.path();
        // The children run as www-data when started as root: they read the pages and the CA.
        for path in [
            root.to_path_buf(),
            root.join("htdocs"),
            root.join("htdocs/api"),
        ] {
            std::fs::create_dir_all(&path).expect("dir");
            set_mode(&path, 0o755);
        }
        std::fs::write(root.join("htdocs/api/index.html"), "protected\n").expect("page");
        let ca_copy = root.join("ca.pem");
        std::fs::copy(ca, &ca_copy).expect("ca");
        set_mode(&ca_copy, 0o644);
        let user = if nix::unistd::Uid::effective().is_root() {
            "User www-data\nGroup www-data\n"
        } else {
            ""
        };
        let mut config = format!(
            "ServerRoot {root}\nServerName localhost\nListen 127.0.0.1:{port}\n\
             DefaultRuntimeDir {root}\nPidFile {root}/httpd.pid\nErrorLog {root}/error.log\n\
             LogLevel warn auth_openidc:info\nDocumentRoot {root}/htdocs\nDirectoryIndex index.html\n{user}",
            root = root.display()
        );
        for module in [
            "mpm_event",
            "authz_core",
            "authz_user",
            "authn_core",
            "dir",
            "headers",
            "rewrite",
            "auth_openidc",
        ] {
            config.push_str(&format!(
                "LoadModule {module}_module {MODULES}/mod_{module}.so\n"
            ));
        }
        // The test CA is no system CA: curl inside mod_auth_openidc is told to trust it.
        config.push_str(&format!("OIDCCABundlePath {}\n", ca_copy.display()));
        for (name, value) in defines {
            config.push_str(&format!("Define {name} {value}\n"));
        }
        for line in readme
            .lines()
            .filter(|line| !line.trim_start().starts_with("Define "))
        {
            config.push_str(line);
            config.push('\n');
        }
        // What the tests read back: the user Apache admitted, as a response header.
        config.push_str(
            "<Location /api>\n  RewriteEngine On\n  RewriteRule ^ - [E=ADMITTED:%{REMOTE_USER}]\n  \
             Header always set X-Admitted-User \"%{ADMITTED}e\"\n</Location>\n",
        );
        let config_path = root.join("httpd.conf");
        std::fs::write(&config_path, &config).expect("httpd.conf");
        let child = Command::new(binary)
            .args(["-f", &config_path.display().to_string(), "-DFOREGROUND"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start apache2");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut httpd = Httpd { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if let Ok(Some(status)) = httpd.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = httpd.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                panic!(
                    "apache2 exited ({status}): {stderr}{}\n{config}",
                    httpd.error_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "apache2 never listened: {}",
                httpd.error_log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        httpd
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    async fn get(&self, token: Option<&str>) -> (StatusCode, String) {
        let url = format!("http://{}/api/", self.addr);
        let bearer = token.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        let reply = get(&url, &headers).await;
        let user = reply
            .header("x-admitted-user")
            .unwrap_or_default()
            .to_owned();
        (reply.status, user)
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Apache httpd + mod_auth_openidc, configured with the README's block, as a resource server:
/// active token → 200 as the right user; none → 401; revoked → 401 on the next request after
/// Revoke returns; PostgreSQL stopped → refused, and Apache logs Tessera's 503 as a failed call
/// (mod_auth_openidc answers every failed introspection with 401, so what a test can hold it to is
/// that it never admits, and that it saw an error rather than `active: false`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apache_mod_auth_openidc_admits_active_tokens_and_refuses_revoked_ones() {
    let private = start_private_tessera(&[]).expect("private tessera");
    let service = private.ready.service_token.clone();
    let certs = tempfile::tempdir().expect("tempdir");
    let (cert, key) = write_certificate(certs.path());
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let edge = Edge::start_with(
        &private.uri(),
        &service,
        &["--tls-cert", &cert_arg, "--tls-key", &key_arg],
    )
    .await
    .expect("edge");
    let tessera_url = format!("https://localhost:{}", edge.addr.port());
    let apache = Httpd::start(
        &readme_block(SECTION, "apache"),
        &[
            ("TESSERA", &tessera_url),
            ("TESSERA_SERVICE_TOKEN", &service),
        ],
        &cert,
    )
    .await;

    let admin = private.ready.admin_token.clone();
    let issue = |description: &'static str| {
        let admin = admin.clone();
        let private = &private;
        async move {
            private
                .issue_as(
                    &admin,
                    pb::IssueTokenRequest {
                        ttl: "1h".into(),
                        description: description.into(),
                        ..Default::default()
                    },
                )
                .await
                .token
        }
    };
    let token = issue("apache").await;
    let (status, user) = apache.get(Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{}", apache.error_log());
    assert_eq!(
        user, private.ready.admin_username,
        "the user Apache admitted"
    );

    let (status, _) = apache.get(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = apache
        .get(Some(
            "tsr_api_0000000000000000000000000000000000000000000000000",
        ))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    private.revoke(&token).await;
    let (status, _) = apache.get(Some(&token)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked token passed Apache"
    );

    let fresh = issue("apache, database down").await;
    stop_postgres(&private);
    let (status, _) = apache.get(Some(&fresh)).await;
    assert_ne!(
        status,
        StatusCode::OK,
        "Apache admitted a token Tessera could not vouch for"
    );
    let log = apache.error_log();
    // Tessera's 503 carries RFC 6749's `temporarily_unavailable`, which Apache logs as an error
    // of the introspection call (not as an inactive token).
    assert!(
        log.contains("temporarily_unavailable"),
        "Apache should log Tessera's 503:\n{log}"
    );
}

/// Builds the Spring check (`tests/spring`, Maven) and returns the `java` classpath.
fn spring_classpath() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spring/build.sh");
    let out = Command::new("bash")
        .arg(script)
        .output()
        .expect("run tests/spring/build.sh");
    assert!(
        out.status.success(),
        "building the Spring check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("classpath")
        .trim()
        .to_owned()
}

/// What Spring's introspector concludes about each of `tokens`, one line each.
fn spring_judges(classpath: &str, uri: &str, service: &str, tokens: &[&str]) -> Vec<String> {
    let mut java = Command::new("java");
    java.args(["-cp", classpath, "tessera.spring.Introspect", uri])
        .args(tokens)
        .env("TESSERA_SERVICE_TOKEN", service);
    verdict_lines(java, "java")
}

/// The lines a client program printed, one verdict per token; the program must succeed.
fn verdict_lines(mut command: Command, what: &str) -> Vec<String> {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Spring Security 7's `SpringOpaqueTokenIntrospector`, configured as the README's block (HTTP
/// Basic, the service token as client secret): stands for every Spring resource server on opaque
/// tokens — an active token becomes a principal named by `sub` with one `SCOPE_` authority per
/// permission; revoked is a `BadOpaqueTokenException` on the next check after Revoke returns;
/// PostgreSQL stopped is an `OAuth2IntrospectionException` (the 503), never "inactive".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_security_introspector_sees_subject_scopes_revocation_and_outage() {
    let readme = readme_block(SECTION, "java");
    assert!(
        readme.contains(".clientSecret(System.getenv(\"TESSERA_SERVICE_TOKEN\"))"),
        "the check runs the README's Spring configuration: keep them in step"
    );
    let classpath = spring_classpath();
    let private = start_private_tessera(&[]).expect("private tessera");
    let service = private.ready.service_token.clone();
    let edge = Edge::start_with(&private.uri(), &service, &[])
        .await
        .expect("edge");
    let uri = edge.at("/oauth2/introspect");
    let admin = private.ready.admin_token.clone();
    let scoped = private
        .issue_as(
            &admin,
            pb::IssueTokenRequest {
                ttl: "1h".into(),
                permissions: vec!["read".into(), "write".into()],
                ..Default::default()
            },
        )
        .await
        .token;
    let subject = crate::oauth::introspect(&edge, &service, &scoped)
        .await
        .json()["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let judged = spring_judges(&classpath, &uri, &service, &[&scoped, "tsr_api_unknown"]);
    assert_eq!(
        judged,
        [
            format!("active {subject} SCOPE_read,SCOPE_write"),
            "inactive".to_owned()
        ]
    );

    private.revoke(&scoped).await;
    assert_eq!(
        spring_judges(&classpath, &uri, &service, &[&scoped]),
        ["inactive"]
    );

    let fresh = private.child_of(&admin).await;
    stop_postgres(&private);
    let outage = spring_judges(&classpath, &uri, &service, &[&fresh]);
    assert!(
        outage[0].starts_with("error ") && outage[0].contains("503"),
        "Spring must see a server error, not an inactive token: {outage:?}"
    );
}

/// zitadel/oidc v3's `rs.Introspect` (Go, `tests/zitadel`), HTTP Basic with the service token as
/// client secret: stands for Go resource servers on zitadel's package — active → the right `sub`
/// and scopes; revoked → inactive on the next check after Revoke returns; PostgreSQL stopped →
/// an error carrying the 503, never inactive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zitadel_oidc_resource_server_sees_subject_scopes_revocation_and_outage() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zitadel");
    let bin_dir = tempfile::tempdir().expect("tempdir");
    let binary = bin_dir.path().join("zitadel-introspect");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(&source)
        .output()
        .expect("run go build");
    assert!(
        built.status.success(),
        "go build failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let private = start_private_tessera(&[]).expect("private tessera");
    let service = private.ready.service_token.clone();
    let edge = Edge::start_with(&private.uri(), &service, &[])
        .await
        .expect("edge");
    let judge = |tokens: &[&str]| {
        let mut zitadel = Command::new(&binary);
        zitadel
            .arg(&edge.url)
            .args(tokens)
            .env("TESSERA_SERVICE_TOKEN", &service);
        verdict_lines(zitadel, "zitadel-introspect")
    };
    let admin = private.ready.admin_token.clone();
    let issue = |permissions: Vec<String>| {
        let admin = admin.clone();
        let request = pb::IssueTokenRequest {
            ttl: "1h".into(),
            permissions,
            ..Default::default()
        };
        let private = &private;
        async move { private.issue_as(&admin, request).await.token }
    };
    let scoped = issue(vec!["read".into(), "write".into()]).await;
    let subject = crate::oauth::introspect(&edge, &service, &scoped)
        .await
        .json()["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    assert_eq!(
        judge(&[&scoped, "tsr_api_unknown"]),
        [
            format!("active {subject} read,write"),
            "inactive".to_owned()
        ]
    );
    private.revoke(&scoped).await;
    assert_eq!(judge(&[&scoped]), ["inactive"]);

    let fresh = issue(Vec::new()).await;
    stop_postgres(&private);
    let outage = judge(&[&fresh]);
    // zitadel reads the 503's RFC 6749 error body: `temporarily_unavailable`.
    assert!(
        outage[0].starts_with("error ") && outage[0].contains("temporarily_unavailable"),
        "zitadel must see a server error, not an inactive token: {outage:?}"
    );
}
