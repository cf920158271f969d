//! A tiny in-memory job scheduler that speaks the default grammar, for tests and demos (the edge's
//! integration tests and `tessera-line-demo`, which `tessera dev` can put behind the edge). It
//! stores jobs and rules and answers; it schedules nothing.
//!
//! `<id> SET <job> <value…>`, `<id> GET <job>`, `<id> REMOVE <job>`, `<id> QUERY [prefix]`,
//! `<id> RULE SET <rule> <pattern> <action…>`, `<id> REMOVERULE <rule>`, `<id> LISTRULES`,
//! `<id> STAT`. Lists answer one `<id> <item> …` line per item, then `<id> OK`. Unknown commands
//! get no reply at all. With an AUTH secret configured, the first line must be `AUTH <secret>`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::codec::LineReader;
use crate::BoxedIo;

/// Lines remembered for inspection.
const RECEIVED_KEPT: usize = 10_000;

/// Jobs, rules and what the scheduler has been sent; survives restarts of [`serve`].
#[derive(Debug, Default)]
pub struct SchedulerState {
    jobs: Mutex<BTreeMap<String, String>>,
    rules: Mutex<BTreeMap<String, String>>,
    received: Mutex<VecDeque<String>>,
    connections: AtomicUsize,
}

impl SchedulerState {
    /// The most recent command lines received (AUTH lines excluded), oldest first.
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

    /// The reply lines for one command line (none for unknown commands).
    pub fn respond(&self, line: &str) -> Vec<String> {
        {
            let mut received = self.received.lock().unwrap_or_else(|p| p.into_inner());
            if received.len() == RECEIVED_KEPT {
                received.pop_front();
            }
            received.push_back(line.to_owned());
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let [id, command, args @ ..] = words.as_slice() else {
            return Vec::new();
        };
        let ok = |body: &str| {
            vec![if body.is_empty() {
                format!("{id} OK")
            } else {
                format!("{id} OK {body}")
            }]
        };
        let error = |body: &str| vec![format!("{id} ERROR {body}")];
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        match (command.to_ascii_uppercase().as_str(), args) {
            ("SET", [job, value @ ..]) if !value.is_empty() => {
                jobs.insert((*job).to_owned(), value.join(" "));
                ok("")
            }
            ("SET", _) => error("usage SET <job> <value>"),
            ("GET", [job]) => match jobs.get(*job) {
                Some(value) => ok(value),
                None => error("not_found"),
            },
            ("REMOVE", [job]) => match jobs.remove(*job) {
                Some(_) => ok(""),
                None => error("not_found"),
            },
            ("QUERY", [] | [_]) => {
                let prefix = args.first().copied().unwrap_or("");
                list(
                    id,
                    jobs.range(prefix.to_owned()..)
                        .take_while(|(k, _)| k.starts_with(prefix)),
                )
            }
            ("RULE", [sub, rule, pattern, action @ ..])
                if sub.eq_ignore_ascii_case("SET") && !action.is_empty() =>
            {
                rules.insert(
                    (*rule).to_owned(),
                    format!("{pattern} {}", action.join(" ")),
                );
                ok("")
            }
            ("RULE", _) => error("usage RULE SET <rule> <pattern> <action>"),
            ("REMOVERULE", [rule]) => match rules.remove(*rule) {
                Some(_) => ok(""),
                None => error("not_found"),
            },
            ("LISTRULES", []) => list(id, rules.iter()),
            ("STAT", []) => {
                let mut lines = vec![
                    format!("{id} jobs {}", jobs.len()),
                    format!("{id} rules {}", rules.len()),
                    format!("{id} connections {}", self.connections()),
                ];
                lines.push(format!("{id} OK"));
                lines
            }
            ("GET" | "REMOVE" | "QUERY" | "REMOVERULE" | "LISTRULES" | "STAT", _) => error("usage"),
            _ => Vec::new(),
        }
    }
}

fn list<'a>(id: &str, items: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<String> {
    let mut lines: Vec<String> = items.map(|(k, v)| format!("{id} {k} {v}")).collect();
    lines.push(format!("{id} OK"));
    lines
}

/// How the demo scheduler accepts connections.
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

async fn serve_connection(
    io: BoxedIo,
    state: &SchedulerState,
    auth: Option<&str>,
) -> std::io::Result<()> {
    let (read, write) = tokio::io::split(io);
    let mut lines = LineReader::new(read, 64 * 1024);
    let mut out = BufWriter::new(write);
    if let Some(secret) = auth {
        let Ok(Some(first)) = lines.read_line().await else {
            return Ok(());
        };
        let expected = format!("AUTH {secret}");
        if first.as_slice() != expected.as_bytes() {
            out.write_all(b"ERROR auth_failed\n").await?;
            return out.flush().await;
        }
        out.write_all(b"OK\n").await?;
        out.flush().await?;
    }
    while let Ok(Some(line)) = lines.read_line().await {
        let line = String::from_utf8_lossy(&line);
        for reply in state.respond(&line) {
            out.write_all(reply.as_bytes()).await?;
            out.write_all(b"\n").await?;
        }
        out.flush().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduler_grammar() {
        let s = SchedulerState::default();
        assert_eq!(s.respond("1 SET deploy.a run nightly"), vec!["1 OK"]);
        assert_eq!(s.respond("2 SET backup.b run"), vec!["2 OK"]);
        assert_eq!(s.respond("3 GET deploy.a"), vec!["3 OK run nightly"]);
        assert_eq!(s.respond("4 GET deploy.zz"), vec!["4 ERROR not_found"]);
        assert_eq!(
            s.respond("5 QUERY deploy."),
            vec!["5 deploy.a run nightly", "5 OK"]
        );
        assert_eq!(
            s.respond("6 QUERY"),
            vec!["6 backup.b run", "6 deploy.a run nightly", "6 OK"]
        );
        assert_eq!(s.respond("7 RULE SET r1 deploy.* hourly"), vec!["7 OK"]);
        assert_eq!(
            s.respond("8 LISTRULES"),
            vec!["8 r1 deploy.* hourly", "8 OK"]
        );
        assert_eq!(s.respond("9 REMOVERULE r1"), vec!["9 OK"]);
        assert_eq!(s.respond("10 REMOVE deploy.a"), vec!["10 OK"]);
        assert_eq!(
            s.respond("11 STAT"),
            vec!["11 jobs 1", "11 rules 0", "11 connections 0", "11 OK"]
        );
        assert!(
            s.respond("12 FROB x").is_empty(),
            "unknown commands get no reply"
        );
        assert!(s.respond("13").is_empty());
        assert_eq!(s.received().len(), 13);
    }
}
