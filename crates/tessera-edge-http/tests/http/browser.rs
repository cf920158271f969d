//! A real browser: headless Chromium, driven through chromedriver's W3C WebDriver HTTP API, signs
//! in on `/login` with a password and a TOTP code over HTTPS, reaches a protected page, signs out,
//! and is refused after; then signs in over plain HTTP on an edge started with
//! `--insecure-dev-http`. `scripts/install-tools.sh` (or `install-test-deps.sh`) installs both from
//! Debian's packages; when one is missing the test fails saying so.
//!
//! Set `TESSERA_SCREENSHOT_DIR` to keep a PNG of each step.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::http_client::{request, send_tls, send_within};
use crate::support::{closed_port, eventually, tessera, totp, upstream, Edge, PASSWORD};
use axum::body::Body;
use base64::Engine;
use http::{Method, StatusCode};
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver and one browser session; both end on drop.
struct Browser {
    driver: Child,
    port: u16,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium; killing chromedriver alone would orphan it.
        if !self.session.is_empty() {
            delete_session(self.port, &self.session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE /session/{id}` without a runtime (drop cannot await).
fn delete_session(port: u16, session: &str) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
}

fn find(binary: &str) -> String {
    for dir in ["/usr/bin", "/usr/lib/chromium", "/usr/local/bin"] {
        let path = Path::new(dir).join(binary);
        if path.exists() {
            return path.display().to_string();
        }
    }
    panic!(
        "{binary} is not installed: run scripts/install-tools.sh \
         (or crates/tessera-edge-http/install-test-deps.sh)"
    );
}

async fn call(method: Method, url: &str, body: Option<Value>, deadline: Duration) -> Value {
    let body = body
        .map(|b| Body::from(b.to_string()))
        .unwrap_or_else(Body::empty);
    let reply = send_within(
        request(method, url, &[("content-type", "application/json")], body),
        deadline,
    )
    .await;
    let value = reply.json();
    assert!(
        reply.status.is_success(),
        "webdriver {url}: {} {value}",
        reply.status
    );
    value["value"].clone()
}

impl Browser {
    async fn start() -> Browser {
        let port = closed_port();
        let profile = tempfile::tempdir().expect("profile dir");
        let driver = Command::new(find("chromedriver"))
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                profile.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            port,
            base,
            session: String::new(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = browser.driver.try_wait() {
                panic!("chromedriver exited with {status}");
            }
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let user_data = browser._profile.path().join("chromium");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": find("chromium"),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--no-default-browser-check", "--window-size=1000,800",
                    format!("--user-data-dir={}", user_data.display()),
                ]
            }
        }}});
        let created = call(
            Method::POST,
            &format!("{}/session", browser.base),
            Some(capabilities),
            Duration::from_secs(90),
        )
        .await;
        browser.session = created["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        browser
            .post(
                "/timeouts",
                json!({"pageLoad": 20_000, "script": 10_000, "implicit": 0}),
            )
            .await;
        browser
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        call(
            Method::POST,
            &self.url(path),
            Some(body),
            Duration::from_secs(30),
        )
        .await
    }

    async fn get(&self, path: &str) -> Value {
        call(Method::GET, &self.url(path), None, Duration::from_secs(30)).await
    }

    async fn go(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    async fn current_url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn source(&self) -> String {
        self.get("/source")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.post(&format!("/element/{element}/clear"), json!({}))
            .await;
        self.post(
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.post(&format!("/element/{element}/click"), json!({}))
            .await;
    }

    async fn cookie(&self, name: &str) -> Option<Value> {
        let cookies = self.get("/cookie").await;
        cookies
            .as_array()?
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
    }

    async fn screenshot(&self, step: &str) {
        let Some(dir) = std::env::var_os("TESSERA_SCREENSHOT_DIR") else {
            return;
        };
        let png = self.get("/screenshot").await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("png");
        std::fs::write(Path::new(&dir).join(format!("{step}.png")), bytes)
            .expect("write screenshot");
    }

    async fn wait_for_text(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let source = self.source().await;
            if source.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "page never showed {text:?}: {source}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_with_totp_reaches_a_protected_page_and_is_refused_after_signing_out() {
    let tessera = tessera();
    let secret = tessera.add_totp_user("carol");
    let upstream = upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
    let cert_path = dir.path().join("cert.pem").display().to_string();
    let key_path = dir.path().join("key.pem").display().to_string();
    let edge = Edge::start(&[
        "--upstream",
        &upstream.url(),
        "--tls-cert",
        &cert_path,
        "--tls-key",
        &key_path,
    ])
    .await;
    let base = format!("https://localhost:{}", edge.addr.port());

    let browser = Browser::start().await;
    // Signed out, the protected page is refused and links to the login page.
    browser.go(&format!("{base}/private")).await;
    browser.wait_for_text("Sign in required").await;
    browser.screenshot("1-refused").await;
    browser.click("#login-link").await;
    eventually(Duration::from_secs(20), "the login page", || async {
        browser.current_url().await.contains("/login?next=")
    })
    .await;

    // A wrong code is refused on the page.
    browser.type_into("#username", "carol").await;
    browser.type_into("#password", PASSWORD).await;
    browser.type_into("#totp_code", "000000").await;
    browser.click("#submit").await;
    browser
        .wait_for_text("Wrong username, password or code")
        .await;
    browser.screenshot("2-wrong-code").await;

    // The right one signs in and lands on the protected page (the form kept the username).
    let kept = browser.element("#username").await;
    let kept = browser
        .get(&format!("/element/{kept}/property/value"))
        .await;
    assert_eq!(kept, "carol");
    browser.type_into("#password", PASSWORD).await;
    browser
        .type_into("#totp_code", &totp::code_now(&secret))
        .await;
    browser.screenshot("3-form").await;
    browser.click("#submit").await;
    browser.wait_for_text("Hello, carol").await;
    assert!(browser.current_url().await.ends_with("/private"));
    browser.screenshot("4-protected").await;
    let cookie = browser
        .cookie("__Host-tessera_session")
        .await
        .expect("session cookie");
    assert_eq!(cookie["httpOnly"], true);
    assert_eq!(cookie["secure"], true);
    assert_eq!(cookie["sameSite"], "Strict");
    let session = cookie["value"].as_str().unwrap().to_owned();

    // Sign out from the login page.
    browser.go(&format!("{base}/login")).await;
    browser.wait_for_text("Signed in as").await;
    browser.screenshot("5-signed-in").await;
    browser.click("#logout").await;
    browser.wait_for_text("name=\"password\"").await;
    assert!(
        browser.cookie("__Host-tessera_session").await.is_none(),
        "cookie cleared"
    );

    // Refused after, and the session itself is revoked, not just forgotten by the browser.
    browser.go(&format!("{base}/private")).await;
    browser.wait_for_text("Sign in required").await;
    browser.screenshot("6-refused-again").await;
    assert!(!browser.source().await.contains("Hello, carol"));
    let auth = format!("Bearer {session}");
    let direct = send_tls(
        edge.addr,
        cert.der(),
        request(
            Method::GET,
            "/private",
            &[("host", "localhost"), ("authorization", &auth)],
            Body::empty(),
        ),
    )
    .await;
    assert_eq!(direct.status, StatusCode::UNAUTHORIZED);

    // Development over plain HTTP (`--insecure-dev-http`, as the README's scripts/dev.sh recipe
    // runs it): the browser keeps the `__Host-` Secure cookie on http://127.0.0.1.
    let plain = Edge::start(&["--upstream", &upstream.url(), "--insecure-dev-http"]).await;
    let base = format!("http://127.0.0.1:{}", plain.addr.port());
    browser.go(&format!("{base}/login?next=/private")).await;
    browser.type_into("#username", "bob").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#submit").await;
    browser.wait_for_text("Hello, bob").await;
    browser.screenshot("7-plain-http-dev").await;
    assert!(browser.current_url().await.ends_with("/private"));
}
