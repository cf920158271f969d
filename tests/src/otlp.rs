//! A small OTLP/gRPC trace receiver for tests, built on the official OTLP protobuf definitions
//! (`opentelemetry-proto`'s generated tonic server): it keeps every export request as received,
//! both decoded (to follow parent links) and as protobuf bytes (to search for planted secrets).

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        trace_service_server::{TraceService, TraceServiceServer},
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    },
    common::v1::{any_value::Value, AnyValue},
};
use prost::Message as _;
use tokio::task::JoinHandle;

/// One exported span, flattened.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    /// `service.name` of the process that exported it.
    pub service: String,
    /// Span name.
    pub name: String,
    /// Trace id, lowercase hex.
    pub trace_id: String,
    /// Span id, lowercase hex.
    pub span_id: String,
    /// Parent span id, lowercase hex ("" for a root).
    pub parent_span_id: String,
    /// Attributes, values rendered as text.
    pub attributes: BTreeMap<String, String>,
}

#[derive(Default)]
struct Received {
    requests: Vec<ExportTraceServiceRequest>,
    bytes: Vec<u8>,
}

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Received>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        let mut received = self.0.lock().unwrap_or_else(|p| p.into_inner());
        received.bytes.extend(request.encode_to_vec());
        received.requests.push(request);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A running receiver (stopped on drop).
pub struct OtlpReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    collector: Collector,
    task: JoinHandle<()>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl OtlpReceiver {
    /// Starts on a free loopback port.
    pub async fn start() -> anyhow::Result<OtlpReceiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let collector = Collector::default();
        let service = TraceServiceServer::new(collector.clone());
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await;
        });
        Ok(OtlpReceiver {
            addr,
            collector,
            task,
        })
    }

    /// The endpoint to give an exporter.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        let received = self.collector.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut spans = Vec::new();
        for request in &received.requests {
            for resource_spans in &request.resource_spans {
                let service = resource_spans
                    .resource
                    .as_ref()
                    .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                    .map(|kv| text(&kv.value))
                    .unwrap_or_default();
                for scope in &resource_spans.scope_spans {
                    for span in &scope.spans {
                        spans.push(ExportedSpan {
                            service: service.clone(),
                            name: span.name.clone(),
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent_span_id: hex(&span.parent_span_id),
                            attributes: span
                                .attributes
                                .iter()
                                .map(|kv| (kv.key.clone(), text(&kv.value)))
                                .collect(),
                        });
                    }
                }
            }
        }
        spans
    }

    /// Every export request received so far, as protobuf bytes.
    pub fn exported_bytes(&self) -> Vec<u8> {
        self.collector
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .bytes
            .clone()
    }

    /// Polls until `done` holds for the spans received (or `within` passes), returning them.
    pub async fn wait_for(
        &self,
        within: Duration,
        done: impl Fn(&[ExportedSpan]) -> bool,
    ) -> Vec<ExportedSpan> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let spans = self.spans();
            if done(&spans) || tokio::time::Instant::now() > deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The spans by span id, to follow parent links.
pub fn by_id(spans: &[ExportedSpan]) -> HashMap<&str, &ExportedSpan> {
    spans.iter().map(|s| (s.span_id.as_str(), s)).collect()
}

/// Whether `span` descends from the span with id `ancestor`, following parent links through
/// `index` ([`by_id`]).
pub fn descends(index: &HashMap<&str, &ExportedSpan>, span: &ExportedSpan, ancestor: &str) -> bool {
    let mut parent = span.parent_span_id.as_str();
    for _ in 0..32 {
        if parent == ancestor {
            return true;
        }
        match index.get(parent) {
            Some(next) => parent = next.parent_span_id.as_str(),
            None => return false,
        }
    }
    false
}
