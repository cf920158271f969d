//! A real WSGI upstream: Python's own `wsgiref` server, started as a child process on a free
//! loopback port. It parses headers the way WSGI does — `X_Tessera_Username` and
//! `X-Tessera-Username` both become `HTTP_X_TESSERA_USERNAME`, their values joined with a comma —
//! which is exactly the folding an edge must not leave open, so the tests see what a Flask or
//! Django app behind the edge would see. Every request is answered with its WSGI environment's
//! `REQUEST_METHOD`, `PATH_INFO` and `HTTP_*` entries as JSON.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SERVER: &str = r#"
import json, sys
from wsgiref.simple_server import make_server, WSGIRequestHandler

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

def app(environ, start_response):
    seen = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
    seen["REQUEST_METHOD"] = environ["REQUEST_METHOD"]
    seen["PATH_INFO"] = environ["PATH_INFO"]
    body = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The running WSGI server, stopped on drop.
pub struct Wsgi {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
}

impl Drop for Wsgi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the WSGI server; panics (failing the test) when `python3` is missing or it does not
/// come up within the deadline.
pub fn start() -> Wsgi {
    let mut child = Command::new("python3")
        .args(["-u", "-c", SERVER])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 is needed for the WSGI upstream");
    let stdout = child.stdout.take().expect("piped stdout");
    // The port line arrives on a thread, so a server that never prints cannot hang the test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let line = rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .expect("the WSGI server did not report its port");
    let port: u16 = line.trim().parse().expect("a port number");
    Wsgi {
        url: format!("http://127.0.0.1:{port}"),
        child,
    }
}
