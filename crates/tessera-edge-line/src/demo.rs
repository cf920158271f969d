//! A faithful model of ztick (`awf-project/ztick`), the job scheduler the edge is built to front:
//! its parser ([`parser`]), its command builder ([`commands`]), its replies and its connection
//! loop. The edge's tests run against it, so it must disagree with the edge wherever ztick would;
//! it is not a second copy of the edge's grammar. `tessera-line-demo` serves it over TCP.
//!
//! Modelled from ztick's source: a fixed 4096-byte read buffer per connection (a line that does
//! not fit closes the connection); lines that do not parse are skipped without a reply; commands it
//! cannot build get `<id> ERROR` for `QUERY`, `REMOVE`, `REMOVERULE` and `RULE SET` and silence
//! otherwise (wrong case, missing arguments, unknown words); one command is answered at a time, in
//! order; single replies are `<id> OK[ body]` or `<id> ERROR`; lists are one `<id> <line>` per
//! body line, then `<id> OK` (or just `<id> ERROR`). With a secret configured, the first command
//! must be `AUTH <secret>` within 5 seconds (`OK`, else `ERROR` and the connection closes).
//!
//! Not modelled: scheduling and runners (nothing executes), persistence, ztick's own namespaces
//! (the one secret sees everything, like a `*` token), TLS on the model's side.

pub mod commands;
pub mod parser;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::BoxedIo;
use commands::Instruction;
use parser::{ParseError, Parsed};

/// Lines remembered for inspection.
const RECEIVED_KEPT: usize = 10_000;

/// ztick's per-connection read buffer.
pub const BUFFER: usize = 4096;

/// ztick closes a connection that has not authenticated within this time.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Rule {
    pattern: Vec<u8>,
    runner: Vec<Vec<u8>>,
}

/// Jobs, rules and what the scheduler has been sent; survives restarts of [`serve`].
#[derive(Debug, Default)]
pub struct SchedulerState {
    jobs: Mutex<BTreeMap<Vec<u8>, i64>>,
    rules: Mutex<BTreeMap<Vec<u8>, Rule>>,
    received: Mutex<VecDeque<String>>,
    connections: AtomicUsize,
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&b' ')
}

impl SchedulerState {
    /// The most recent command lines received (AUTH lines excluded), oldest first, as sent.
    pub fn received(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Connections open right now.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    fn remember(&self, raw: &[u8]) {
        let mut received = self.received.lock().unwrap_or_else(|p| p.into_inner());
        if received.len() == RECEIVED_KEPT {
            received.pop_front();
        }
        received.push_back(String::from_utf8_lossy(raw).into_owned());
    }

    /// Parses one line (a newline is added) as ztick would and returns its reply lines; none
    /// where ztick is silent. For tests that plant data behind the edge's back.
    pub fn respond(&self, line: &str) -> Vec<String> {
        let mut input = line.as_bytes().to_vec();
        input.push(b'\n');
        match parser::parse(&input) {
            Ok(parsed) => {
                self.remember(line.as_bytes());
                self.answer(&parsed)
                    .iter()
                    .map(|reply| String::from_utf8_lossy(reply).into_owned())
                    .collect()
            }
            Err(_) => Vec::new(),
        }
    }

    /// ztick's reply lines (without newlines) to one parsed command; empty where it is silent.
    pub fn answer(&self, parsed: &Parsed) -> Vec<Vec<u8>> {
        let id = parsed.request_id.as_slice();
        let Some(instruction) = commands::build(&parsed.args) else {
            return if commands::errors_when_unbuilt(&parsed.args) {
                vec![join(&[id, b"ERROR"])]
            } else {
                Vec::new()
            };
        };
        let status = |ok: bool| vec![join(&[id, if ok { b"OK" } else { b"ERROR" }])];
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let body: Vec<u8> = match instruction {
            Instruction::Set { job, execution } => {
                jobs.insert(job, execution);
                return status(true);
            }
            Instruction::Get { job } => {
                return match jobs.get(&job) {
                    Some(ns) => vec![join(&[id, b"OK planned", ns.to_string().as_bytes()])],
                    None => status(false),
                };
            }
            Instruction::RuleSet {
                rule,
                pattern,
                runner,
            } => {
                rules.insert(rule, Rule { pattern, runner });
                return status(true);
            }
            Instruction::Remove { job } => return status(jobs.remove(&job).is_some()),
            Instruction::RemoveRule { rule } => return status(rules.remove(&rule).is_some()),
            Instruction::Query { pattern } => jobs
                .iter()
                .filter(|(job, _)| job.starts_with(&pattern))
                .flat_map(|(job, ns)| {
                    let mut line = join(&[job, b"planned", ns.to_string().as_bytes()]);
                    line.push(b'\n');
                    line
                })
                .collect(),
            Instruction::ListRules => rules
                .iter()
                .flat_map(|(rule, Rule { pattern, runner })| {
                    let mut parts: Vec<&[u8]> = vec![rule, pattern];
                    parts.extend(runner.iter().map(Vec::as_slice));
                    let mut line = join(&parts);
                    line.push(b'\n');
                    line
                })
                .collect(),
            Instruction::Stat => format!(
                "connections {}\njobs_total {}\nrules_total {}\npersistence memory\n",
                self.connections(),
                jobs.len(),
                rules.len()
            )
            .into_bytes(),
        };
        // ztick splits the body on newlines and skips empty ones, whatever the items hold.
        let mut lines: Vec<Vec<u8>> = body
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| join(&[id, line]))
            .collect();
        lines.push(join(&[id, b"OK"]));
        lines
    }
}

/// How the model accepts connections.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// When set, every connection must open with `AUTH <secret>`.
    pub auth: Option<String>,
    /// When set, connections speak TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serves until `shutdown` turns true, then closes the listener and every connection before
/// returning.
pub async fn serve(
    listener: TcpListener,
    state: Arc<SchedulerState>,
    options: DemoOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let mut connections = JoinSet::new();
    let stop_signal = shutdown.clone();
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                let auth = options.auth.clone();
                let acceptor = acceptor.clone();
                let mut stop = stop_signal.clone();
                connections.spawn(async move {
                    let io: BoxedIo = match acceptor {
                        None => Box::new(stream),
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(stream) => Box::new(stream),
                            Err(_) => return,
                        },
                    };
                    state.connections.fetch_add(1, Ordering::Relaxed);
                    tokio::select! {
                        _ = stop.wait_for(|stop| *stop) => {}
                        _ = serve_connection(io, &state, auth.as_deref()) => {}
                    }
                    state.connections.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// ztick's connection loop: a fixed buffer, every complete command parsed and answered in turn.
async fn serve_connection(
    mut io: BoxedIo,
    state: &SchedulerState,
    auth: Option<&str>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; BUFFER];
    let mut filled = 0;
    let mut authenticated = auth.is_none();
    let auth_deadline = tokio::time::Instant::now() + AUTH_TIMEOUT;
    loop {
        // A full buffer without a complete command: ztick's read of zero bytes ends the connection.
        if filled == buf.len() {
            return Ok(());
        }
        let read = if authenticated {
            io.read(&mut buf[filled..]).await?
        } else {
            match tokio::time::timeout_at(auth_deadline, io.read(&mut buf[filled..])).await {
                Ok(read) => read?,
                Err(_) => return Ok(()),
            }
        };
        if read == 0 {
            return Ok(());
        }
        filled += read;
        let mut consumed = 0;
        let mut out = Vec::new();
        loop {
            let data = &buf[consumed..filled];
            let parsed = match parser::parse(data) {
                Ok(parsed) => parsed,
                Err(ParseError::Incomplete) => break,
                Err(ParseError::Invalid) => match data.iter().position(|&b| b == b'\n') {
                    Some(newline) => {
                        consumed += newline + 1;
                        continue;
                    }
                    None => break,
                },
            };
            let raw = &data[..parsed.consumed - 1];
            consumed += parsed.consumed;
            if !authenticated {
                let secret = auth.unwrap_or_default().as_bytes();
                if parsed.request_id == b"AUTH" && parsed.args[0] == secret {
                    authenticated = true;
                    out.extend_from_slice(b"OK\n");
                    continue;
                }
                out.extend_from_slice(b"ERROR\n");
                io.write_all(&out).await?;
                return io.flush().await;
            }
            state.remember(raw);
            for reply in state.answer(&parsed) {
                out.extend_from_slice(&reply);
                out.push(b'\n');
            }
        }
        if !out.is_empty() {
            io.write_all(&out).await?;
            io.flush().await?;
        }
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ztick_replies() {
        let s = SchedulerState::default();
        assert_eq!(
            s.respond("1 SET deploy.a 1700000000000000000"),
            vec!["1 OK"]
        );
        assert_eq!(
            s.respond("2 SET backup.b 2030-03-30 02:00:00"),
            vec!["2 OK"]
        );
        assert_eq!(
            s.respond("3 GET deploy.a"),
            vec!["3 OK planned 1700000000000000000"]
        );
        assert_eq!(s.respond("4 GET deploy.zz"), vec!["4 ERROR"]);
        assert_eq!(
            s.respond("5 QUERY deploy."),
            vec!["5 deploy.a planned 1700000000000000000", "5 OK"]
        );
        assert_eq!(s.respond("6 QUERY").len(), 3);
        assert_eq!(
            s.respond("7 RULE SET r1 deploy. shell \"/bin/echo hi\""),
            vec!["7 OK"]
        );
        assert_eq!(
            s.respond("8 LISTRULES"),
            vec!["8 r1 deploy. shell /bin/echo hi", "8 OK"]
        );
        assert_eq!(s.respond("9 REMOVERULE r1"), vec!["9 OK"]);
        assert_eq!(s.respond("10 REMOVE deploy.a"), vec!["10 OK"]);
        assert_eq!(
            s.respond("11 STAT").last().map(String::as_str),
            Some("11 OK")
        );
        // Silence where ztick is silent; ERROR where it answers one.
        assert!(s.respond("12 FROB x").is_empty());
        assert!(s.respond("13 get deploy.a").is_empty());
        assert!(s.respond("14 SET deploy.a").is_empty());
        assert_eq!(s.respond("15 REMOVE"), vec!["15 ERROR"]);
        assert_eq!(s.respond("16 RULE SET x"), vec!["16 ERROR"]);
        assert!(s.respond("17").is_empty(), "a request id alone is skipped");
    }

    #[test]
    fn a_job_named_ok_is_an_item_line() {
        let s = SchedulerState::default();
        s.respond("1 SET OK 5");
        assert_eq!(s.respond("A QUERY"), vec!["A OK planned 5", "A OK"]);
    }
}
