//! RFC 7662 over HTTP: `POST /oauth2/introspect` of the hot token (the caller's service token as
//! `Authorization: Bearer`, decision cache on, as deployed) against the same edge's ping, both
//! driven by the HTTP/1.1 keep-alive generator of [`super::edge`], rounds interleaved. The ratio is
//! what an RFC 7662 introspection costs a resource server on top of the edge's bare HTTP path.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::edge::{edge_binary, http_call, Edge, HttpConnection};
use super::{list, median, per_second, ratio_row, Bench};
use crate::{
    load::closed_loop,
    report::{rate, GoalVerdict, Row},
};

impl Bench {
    /// `POST /oauth2/introspect` against `/api/v1/public/ping`, same generator, same edge.
    pub(super) async fn oauth(&mut self) -> anyhow::Result<()> {
        let smoke = self.options.smoke;
        let binary = match tokio::task::block_in_place(|| edge_binary(smoke)) {
            Ok(binary) => binary,
            Err(err) => {
                self.rows.push(Row {
                    scenario: "OAuth introspection rows".into(),
                    baseline: String::new(),
                    target: String::new(),
                    result: format!("not run: {err:#}"),
                    goal: String::new(),
                    verdict: GoalVerdict::Info,
                });
                return Ok(());
            }
        };
        let edge = Edge::start(&binary, &self.a.url(), &self.caller_token, &[]).await?;
        let n = self.options.concurrency;
        let mut connections = Vec::with_capacity(n);
        for _ in 0..n {
            connections.push(Mutex::new(HttpConnection::open(edge.addr).await?));
        }
        let connections = Arc::new(connections);
        let ping = Arc::new(
            format!(
                "GET /api/v1/public/ping HTTP/1.1\r\nHost: {}\r\n\r\n",
                edge.addr
            )
            .into_bytes(),
        );
        let form = format!("token={}", self.hot);
        let introspect = Arc::new(
            format!(
                "POST /oauth2/introspect HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
                edge.addr,
                self.caller_token,
                form.len()
            )
            .into_bytes(),
        );
        let (phase, warmup) = (self.options.phase, self.options.warmup);
        let warm = closed_loop(n, warmup, http_call(&connections, &introspect)).await;
        self.checked("POST /oauth2/introspect", &warm)?;
        let (mut pings, mut introspections, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..self.options.rounds {
            let p = closed_loop(n, phase, http_call(&connections, &ping)).await;
            self.checked("edge ping", &p)?;
            let i = closed_loop(n, phase, http_call(&connections, &introspect)).await;
            self.checked("POST /oauth2/introspect", &i)?;
            pings.push(p.throughput());
            introspections.push(i.throughput());
            ratios.push(i.throughput() / p.throughput());
        }
        drop(edge);
        self.rows.push(ratio_row(
            &format!("RFC 7662 POST /oauth2/introspect / edge ping (same HTTP/1.1 generator, {n} connections, decision cache on)"),
            format!("ping {}", rate(median(&pings))),
            rate(median(&introspections)),
            median(&ratios),
            Some(0.5),
            None,
        ));
        self.details.push(format!(
            "OAuth introspection per round (requests/s): ping [{}]; POST /oauth2/introspect [{}]",
            list(&pings, per_second),
            list(&introspections, per_second),
        ));
        Ok(())
    }
}
