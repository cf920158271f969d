//! Real nginx (`auth_request`) and real Caddy (`forward_auth`) in front of the edge's
//! `/auth/verify`, each started as a child process with a generated config on free loopback ports.
//! `install-test-deps.sh` installs both from Debian's packages.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;
use support::http_client::{get, get_with_token, Reply};
use support::{closed_port, tessera, upstream, Edge};

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
    panic!("{binary} is not installed: run crates/tessera-edge-http/install-test-deps.sh");
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

fn nginx_config(dir: &Path, port: u16, edge: u16, upstream: u16) -> String {
    let user = if nix::unistd::geteuid().is_root() {
        "user root;"
    } else {
        ""
    };
    let d = dir.display();
    let captures: String = IDENTITY
        .iter()
        .map(|name| {
            let var = name.to_ascii_lowercase().replace('-', "_");
            format!(
                "      auth_request_set ${var} $upstream_http_{var};\n      proxy_set_header {name} ${var};\n"
            )
        })
        .collect();
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
  server {{
    listen 127.0.0.1:{port};
    location = /_tessera_verify {{
      internal;
      proxy_pass http://127.0.0.1:{edge}/auth/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-Method $request_method;
      proxy_set_header X-Forwarded-Uri $request_uri;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }}
    location / {{
      auth_request /_tessera_verify;
{captures}      proxy_pass http://127.0.0.1:{upstream};
    }}
  }}
}}
"#
    )
}

fn caddy_config(dir: &Path, port: u16, edge: u16, upstream: u16) -> String {
    // `route` keeps the order as written: strip client-supplied identity headers, then ask the
    // edge, then proxy. (Outside a route, Caddy's own directive order would run request_header
    // after forward_auth and delete the identity it copied.)
    let strip: String = IDENTITY
        .iter()
        .map(|name| format!("    request_header -{name}\n"))
        .collect();
    format!(
        r#"{{
  admin off
  auto_https off
  storage file_system {d}/data
}}
http://127.0.0.1:{port} {{
  route {{
{strip}    forward_auth 127.0.0.1:{edge} {{
      uri /auth/verify
      copy_headers {copy}
    }}
    reverse_proxy 127.0.0.1:{upstream}
  }}
}}
"#,
        d = dir.display(),
        copy = IDENTITY.join(" "),
    )
}

/// Good token allowed with identity headers (spoofed ones gone); bad and missing refused.
async fn check_front(proxy: &Proxy, name: &str) {
    let tessera = tessera();
    let frank = tessera.login("frank", support::PASSWORD).await;
    let good = tessera
        .issue_as(
            &frank,
            tessera_proto::v1::IssueTokenRequest {
                ttl: "1h".into(),
                ..Default::default()
            },
        )
        .await
        .token;
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
    let public = get(&proxy.url("/api/v1/public/status"), &[]).await;
    assert_eq!(
        public.status,
        StatusCode::OK,
        "{name}: public route through the proxy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_in_front_of_the_edge() {
    let upstream = upstream::start().await;
    let edge = Edge::start(&["--public-route", "/api/v1/public/"]).await;
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let config = dir.path().join("nginx.conf");
    std::fs::write(
        &config,
        nginx_config(dir.path(), port, edge.addr.port(), upstream.addr.port()),
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
    check_front(&nginx, "nginx").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth_in_front_of_the_edge() {
    let upstream = upstream::start().await;
    let edge = Edge::start(&["--public-route", "/api/v1/public/"]).await;
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
    check_front(&caddy, "caddy").await;
}
