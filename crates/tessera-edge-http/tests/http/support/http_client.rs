//! Small HTTP clients for the tests: a pooled HTTP/1.1 client, an HTTPS one-shot that trusts a
//! given certificate, and a raw socket for requests no well-behaved client would send.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest any single exchange may take before the test fails instead of hanging.
pub const EXCHANGE_DEADLINE: Duration = Duration::from_secs(20);

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text()))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value this response sets for cookie `name` (`Some("")` when it clears it).
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers.get_all("set-cookie").iter().find_map(|value| {
            let text = value.to_str().ok()?;
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (cookie, value) = pair.split_once('=')?;
            (cookie.trim() == name).then(|| value.trim().to_owned())
        })
    }

    /// The full Set-Cookie line for cookie `name`.
    pub fn set_cookie_line(&self, name: &str) -> Option<String> {
        self.headers.get_all("set-cookie").iter().find_map(|value| {
            let text = value.to_str().ok()?;
            text.starts_with(&format!("{name}="))
                .then(|| text.to_owned())
        })
    }

    /// Upstream echo: the values the upstream received for header `name`.
    pub fn echoed(&self, name: &str) -> Vec<String> {
        self.json()["headers"][name]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn client() -> &'static Client<HttpConnector, Body> {
    static CLIENT: std::sync::OnceLock<Client<HttpConnector, Body>> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| Client::builder(TokioExecutor::new()).build(HttpConnector::new()))
}

/// Sends `request` over plain HTTP and reads the whole response.
pub async fn send(request: Request<Body>) -> Reply {
    send_within(request, EXCHANGE_DEADLINE).await
}

/// [`send`] with its own deadline.
pub async fn send_within(request: Request<Body>, deadline: Duration) -> Reply {
    let exchange = async {
        let response = client().request(request).await.expect("http request");
        let (head, body) = response.into_parts();
        let body = body.collect().await.expect("response body").to_bytes();
        Reply {
            status: head.status,
            headers: head.headers,
            body,
        }
    };
    tokio::time::timeout(deadline, exchange)
        .await
        .expect("http exchange timed out")
}

/// A request with the given headers and body.
pub fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).expect("request")
}

/// `GET url` with headers.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    send(request(Method::GET, url, headers, Body::empty())).await
}

/// `GET url` with a bearer token.
pub async fn get_with_token(url: &str, token: &str) -> Reply {
    get(url, &[("authorization", &format!("Bearer {token}"))]).await
}

/// `POST url` with a JSON body and headers.
pub async fn post_json(url: &str, headers: &[(&str, &str)], body: &serde_json::Value) -> Reply {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send(request(Method::POST, url, &all, body.to_string())).await
}

/// Writes `bytes` to a fresh connection and reads until the server closes it (or the deadline);
/// returns what came back as text.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (reader, mut writer) = stream.into_split();
        // Write while reading: a server that refuses early may close before taking everything.
        let bytes = bytes.to_vec();
        tokio::spawn(async move {
            let _ = writer.write_all(&bytes).await;
            let _ = writer.flush().await;
            // Keep the write half open until the server closes; dropping it would half-close.
            tokio::time::sleep(EXCHANGE_DEADLINE).await;
        });
        let mut stream = reader;
        let mut answer = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
            if answer.len() > 1 << 20 {
                break;
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    };
    tokio::time::timeout(EXCHANGE_DEADLINE, exchange)
        .await
        .expect("raw exchange timed out")
}

/// The status code of a raw response text (0 when there is none).
pub fn raw_status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Sends `request` over HTTPS to `addr`, trusting only `certificate` (DER).
pub async fn send_tls(addr: SocketAddr, certificate: &[u8], request: Request<Body>) -> Reply {
    let exchange = async {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(
                certificate.to_vec(),
            ))
            .expect("trust test certificate");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = connector.connect(name, tcp).await.expect("tls handshake");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("http handshake");
        tokio::spawn(connection);
        let response = sender.send_request(request).await.expect("https request");
        let (head, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: head.status,
            headers: head.headers,
            body,
        }
    };
    tokio::time::timeout(EXCHANGE_DEADLINE, exchange)
        .await
        .expect("https exchange timed out")
}
