//! Real nginx (`auth_request`) and real Caddy (`forward_auth`) in front of the edge's
//! `/auth/verify`, each started as a child process with a generated config on free loopback ports.
//! The configurations are the README's nginx and Caddy blocks, read from README.md, with only the
//! addresses replaced. `scripts/install-tools.sh` (or `install-test-deps.sh`) installs both from
//! Debian's packages; when one is missing its test fails saying so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::http_client::{get, get_with_token, Reply};
use crate::support::{closed_port, tessera, upstream, Edge};
use http::StatusCode;
use tempfile::TempDir;

/// A proxy process, stopped on drop.
struct Proxy {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Proxy {
    /// SIGTERM first, so nginx's master takes its workers down with it; SIGKILL if it lingers.
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(binary: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
        let path = Path::new(dir).join(binary);
        if path.exists() {
            return path;
        }
    }
    panic!(
        "{binary} is not installed: run scripts/install-tools.sh \
         (or crates/tessera-edge-http/install-test-deps.sh)"
    );
}

impl Proxy {
    fn start(mut command: Command, port: u16, log: PathBuf) -> Proxy {
        let output = std::fs::File::create(&log).expect("log");
        let child = command
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("log"))
            .stderr(output)
            .spawn()
            .expect("start proxy");
        let mut proxy = Proxy { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("proxy exited with {status}: {}", proxy.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "proxy did not listen: {}",
                proxy.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

const IDENTITY: [&str; 6] = [
    "X-Tessera-Subject",
    "X-Tessera-Username",
    "X-Tessera-Roles",
    "X-Tessera-Namespace",
    "X-Tessera-Token-Id",
    "X-Tessera-Elevated",
];

/// The fenced ```` ```language ```` block of the crate's README: the configuration the README
/// shows is the configuration these tests run.
fn readme_block(language: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let fence = format!("```{language}\n");
    let start = readme
        .find(&fence)
        .unwrap_or_else(|| panic!("{} has no ```{language} block", path.display()))
        + fence.len();
    let end = start + readme[start..].find("```").expect("closing fence");
    let block = readme[start..end].to_owned();
    for name in IDENTITY {
        assert!(
            block.contains(name),
            "the README's {language} block does not handle {name}"
        );
    }
    block
}

/// `text` with its one occurrence of `from` replaced by `to`.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the README block must contain {from:?} exactly once:\n{text}"
    );
    text.replace(from, to)
}

/// The lines of the README's nginx block that clear client-sent copies of the other proxy family.
const NGINX_CLEARING: [&str; 2] = [
    "        proxy_set_header X-Forwarded-Method \"\";\n",
    "        proxy_set_header X-Forwarded-Uri \"\";\n",
];

/// The README's nginx `server` block on `port`, asking the edge and proxying to the upstream,
/// inside a main context that keeps every file nginx writes in `dir`. Without `clearing`, the
/// lines that clear client-sent `X-Forwarded-Method/-Uri` are left out, as in a config that
/// follows nginx's own `auth_request` examples.
fn nginx_config(dir: &Path, port: u16, edge: u16, upstream: u16, clearing: bool) -> String {
    let mut server = readme_block("nginx");
    if !clearing {
        for line in NGINX_CLEARING {
            server = substitute(&server, line, "");
        }
    }
    let server = substitute(&server, "listen 80;", &format!("listen 127.0.0.1:{port};"));
    let server = substitute(&server, "127.0.0.1:8080", &format!("127.0.0.1:{edge}"));
    let server = substitute(&server, "127.0.0.1:9000", &format!("127.0.0.1:{upstream}"));
    let user = if nix::unistd::geteuid().is_root() {
        "user root;"
    } else {
        ""
    };
    let d = dir.display();
    format!(
        r#"{user}
worker_processes 1;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
{server}
}}
"#
    )
}

/// The README's Caddy site on `port` (plain HTTP), behind global options that keep Caddy's state
/// in `dir` and its admin endpoint off.
fn caddy_config(dir: &Path, port: u16, edge: u16, upstream: u16) -> String {
    let site = readme_block("caddyfile");
    let site = substitute(
        &site,
        "example.com {",
        &format!("http://127.0.0.1:{port} {{"),
    );
    let site = substitute(&site, "127.0.0.1:8080", &format!("127.0.0.1:{edge}"));
    let site = substitute(&site, "127.0.0.1:9000", &format!("127.0.0.1:{upstream}"));
    format!(
        r#"{{
  admin off
  auto_https off
  storage file_system {d}/data
}}
{site}"#,
        d = dir.display(),
    )
}

/// Good token allowed with identity headers (spoofed ones gone); bad, revoked, used-up and
/// missing refused; each request one use of a limited-use token; a malformed credential refused
/// with `malformed` (nginx turns the edge's 400 into 500, Caddy passes it on).
async fn check_front(proxy: &Proxy, name: &str, malformed: StatusCode) {
    let tessera = tessera();
    let frank = tessera.login("frank", crate::support::PASSWORD).await;
    let good = tessera.child_of(&frank).await;
    let auth = format!("Bearer {good}");
    let reply: Reply = get(
        &proxy.url("/app/page?q=1"),
        &[
            ("authorization", &auth),
            ("x-tessera-username", "root"),
            ("x-tessera-roles", "admin"),
        ],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{name}: {} {}",
        reply.text(),
        proxy.log_text()
    );
    assert_eq!(reply.json()["path"], "/app/page", "{name}");
    assert_eq!(reply.echoed("x-tessera-username"), vec!["frank"], "{name}");
    assert_eq!(
        reply.echoed("x-tessera-roles"),
        vec!["user"],
        "{name}: roles come from tessera"
    );
    assert_eq!(reply.echoed("x-tessera-token-id").len(), 1, "{name}");
    assert_eq!(
        reply.echoed("authorization"),
        Vec::<String>::new(),
        "{name}: the bearer reached the upstream"
    );

    for bad in ["tsr_api_definitelynotatoken", "garbage"] {
        let refused = get_with_token(&proxy.url("/app/page"), bad).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "{name} let {bad} through: {}",
            refused.text()
        );
    }
    let revoked = tessera.token().await;
    tessera.revoke(&revoked).await;
    assert_eq!(
        get_with_token(&proxy.url("/app/page"), &revoked)
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "{name}"
    );
    let missing = get(&proxy.url("/app/page"), &[("x-tessera-username", "root")]).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED, "{name}");
    assert!(
        missing
            .header("www-authenticate")
            .unwrap_or_default()
            .contains("Bearer"),
        "{name} should pass the challenge on"
    );
    let public = get(
        &proxy.url("/api/v1/public/status"),
        &[("x-tessera-username", "root"), ("x-tessera-roles", "admin")],
    )
    .await;
    assert_eq!(
        public.status,
        StatusCode::OK,
        "{name}: public route through the proxy"
    );
    // No identity on a public route: the headers are absent (nginx) or empty (Caddy).
    for header in IDENTITY {
        let values = public.echoed(&header.to_ascii_lowercase());
        assert!(
            values.iter().all(String::is_empty),
            "{name}: {header} reached the upstream on a public route: {}",
            public.text()
        );
    }

    // The proxy asks once per request: a two-use token passes twice, then is used up.
    let twice = tessera
        .issue(tessera_proto::v1::IssueTokenRequest {
            ttl: "1h".into(),
            max_uses: 2,
            ..Default::default()
        })
        .await;
    let statuses = [
        get_with_token(&proxy.url("/app/1"), &twice).await.status,
        get_with_token(&proxy.url("/app/2"), &twice).await.status,
        get_with_token(&proxy.url("/app/3"), &twice).await.status,
    ];
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::OK, StatusCode::UNAUTHORIZED],
        "{name}"
    );

    let bare = get(&proxy.url("/app/page"), &[("authorization", "Bearer")]).await;
    assert_eq!(bare.status, malformed, "{name}: `Bearer` with no token");
}

/// A client adds the other proxy family's description, naming a public route: it must turn
/// neither a 401 into a 200 nor a namespace 403 into a 200 (issue 12, H4).
async fn check_spoofed_description(proxy: &Proxy, name: &str, spoof: &str) {
    let tessera = tessera();
    let lie = [(spoof, "/api/v1/public/x")];
    let anonymous = get(&proxy.url("/app/page"), &lie).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{name}: {spoof} turned a 401 into {}",
        anonymous.status
    );
    let deploy = tessera
        .issue(tessera_proto::v1::IssueTokenRequest {
            ttl: "1h".into(),
            namespace: "deploy.".into(),
            ..Default::default()
        })
        .await;
    let auth = format!("Bearer {deploy}");
    let inside = get(&proxy.url("/jobs/deploy.a"), &[("authorization", &auth)]).await;
    assert_eq!(inside.status, StatusCode::OK, "{name}: {}", inside.text());
    let outside = get(
        &proxy.url("/jobs/backup.a"),
        &[("authorization", &auth), lie[0]],
    )
    .await;
    assert_eq!(
        outside.status,
        StatusCode::FORBIDDEN,
        "{name}: {spoof} turned a namespace 403 into {}",
        outside.status
    );
}

const EDGE_ARGS: [&str; 4] = [
    "--public-route",
    "/api/v1/public/",
    "--namespace-rule",
    "/jobs/{id}",
];

fn start_nginx(edge: &Edge, upstream: &upstream::Upstream, clearing: bool) -> (Proxy, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let config = dir.path().join("nginx.conf");
    std::fs::write(
        &config,
        nginx_config(
            dir.path(),
            port,
            edge.addr.port(),
            upstream.addr.port(),
            clearing,
        ),
    )
    .unwrap();
    let mut command = Command::new(find("nginx"));
    command
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(&config)
        .args(["-g", "daemon off;"]);
    let nginx = Proxy::start(command, port, dir.path().join("nginx.out"));
    (nginx, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_in_front_of_the_edge() {
    let upstream = upstream::start().await;
    let edge = Edge::start(&[&EDGE_ARGS[..], &["--front-proxy", "nginx"]].concat()).await;
    let (nginx, _dir) = start_nginx(&edge, &upstream, true);
    check_front(&nginx, "nginx", StatusCode::INTERNAL_SERVER_ERROR).await;
    check_spoofed_description(&nginx, "nginx", "x-forwarded-uri").await;
}

/// Defence in depth: an nginx config that forgets to clear the client's `X-Forwarded-Uri` is still
/// safe, because an edge told `--front-proxy nginx` never reads it; and an edge told nothing
/// refuses the disagreeing pair (nginx turns that 400 into 500: still closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_without_clearing_client_copies_is_still_not_fooled() {
    let upstream = upstream::start().await;
    let edge = Edge::start(&[&EDGE_ARGS[..], &["--front-proxy", "nginx"]].concat()).await;
    let (nginx, _dir) = start_nginx(&edge, &upstream, false);
    check_spoofed_description(&nginx, "nginx, not clearing", "x-forwarded-uri").await;

    let auto = Edge::start(&EDGE_ARGS).await;
    let (nginx, _dir) = start_nginx(&auto, &upstream, false);
    let spoofed = get(
        &nginx.url("/app/page"),
        &[("x-forwarded-uri", "/api/v1/public/x")],
    )
    .await;
    assert_eq!(spoofed.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth_in_front_of_the_edge() {
    let upstream = upstream::start().await;
    let edge = Edge::start(&[&EDGE_ARGS[..], &["--front-proxy", "caddy"]].concat()).await;
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let config = dir.path().join("Caddyfile");
    std::fs::write(
        &config,
        caddy_config(dir.path(), port, edge.addr.port(), upstream.addr.port()),
    )
    .unwrap();
    let mut command = Command::new(find("caddy"));
    command
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&config)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("xdg-data"))
        .env("XDG_CONFIG_HOME", dir.path().join("xdg-config"));
    let caddy = Proxy::start(command, port, dir.path().join("caddy.out"));
    check_front(&caddy, "caddy", StatusCode::BAD_REQUEST).await;
    // Caddy passes `X_Tessera_*` spellings on to the edge and upstream alike (`request_header`
    // removes only the `-` spelling): the edge refuses them on every route.
    let frank = tessera().login("frank", crate::support::PASSWORD).await;
    let auth = format!("Bearer {frank}");
    for (path, headers) in [
        ("/app/page", vec![("authorization", auth.as_str())]),
        ("/api/v1/public/status", vec![]),
    ] {
        let mut headers = headers;
        headers.push(("X_Tessera_Username", "root"));
        let reply = get(&caddy.url(path), &headers).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "caddy {path}: {}",
            reply.text()
        );
    }
    check_spoofed_description(&caddy, "caddy", "x-original-uri").await;
}
