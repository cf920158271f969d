//! The process's tracing subscriber: a log layer (text or JSON, on stderr) and, when an OTLP
//! endpoint is configured, an OpenTelemetry layer exporting spans in batches over gRPC.

use anyhow::{bail, Context as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::Dispatch;
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt as _, LevelFilter, Targets};
use tracing_subscriber::layer::Filter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::Layer as _;

/// Trace export flags, shared by the three binaries (flattened into each one's command line).
/// The names and variables are OpenTelemetry's standard ones; the exporter also honours
/// `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` and their `_TRACES_` forms.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TraceArgs {
    /// Export traces over OTLP/gRPC to this collector, e.g. http://127.0.0.1:4317; trace export is off when unset
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// The traces-only endpoint variable of the OpenTelemetry specification; wins over the general one
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        value_name = "URL",
        hide = true
    )]
    pub otlp_traces_endpoint: Option<String>,
    /// Service name on exported spans [default: the binary's name]
    #[arg(long, env = "OTEL_SERVICE_NAME", value_name = "NAME")]
    pub otel_service_name: Option<String>,
    /// Which traces to record: parentbased_always_on, parentbased_traceidratio, parentbased_always_off, always_on, always_off, traceidratio
    #[arg(long, env = "OTEL_TRACES_SAMPLER", value_name = "SAMPLER")]
    pub otel_traces_sampler: Option<String>,
    /// The sampler's argument: the fraction of traces kept (0 to 1) by the traceidratio samplers [default: 1]
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", value_name = "RATIO")]
    pub otel_traces_sampler_arg: Option<String>,
}

/// Validated trace export settings.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// Where spans go (an `http://` or `https://` OTLP/gRPC endpoint).
    pub endpoint: String,
    /// `service.name` on every span.
    pub service_name: String,
    /// Which traces are kept.
    pub sampler: SamplerSetting,
}

/// A sampler as the OpenTelemetry specification names them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerSetting {
    /// Keep every trace.
    AlwaysOn,
    /// Keep none.
    AlwaysOff,
    /// Keep this fraction of traces, by trace id.
    Ratio(f64),
    /// Follow the caller's decision when there is one, else the inner rule.
    ParentBased(ParentlessRule),
}

/// What a parent-based sampler does for a trace that starts here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParentlessRule {
    /// Keep it.
    AlwaysOn,
    /// Drop it.
    AlwaysOff,
    /// Keep this fraction.
    Ratio(f64),
}

impl SamplerSetting {
    /// Parses `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    pub fn parse(name: Option<&str>, arg: Option<&str>) -> anyhow::Result<SamplerSetting> {
        let ratio = || -> anyhow::Result<f64> {
            let Some(arg) = arg else { return Ok(1.0) };
            match arg.trim().parse::<f64>() {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
                _ => bail!("--otel-traces-sampler-arg (OTEL_TRACES_SAMPLER_ARG): {arg:?} is not a fraction between 0 and 1"),
            }
        };
        Ok(match name.unwrap_or("parentbased_always_on").trim() {
            "always_on" => SamplerSetting::AlwaysOn,
            "always_off" => SamplerSetting::AlwaysOff,
            "traceidratio" => SamplerSetting::Ratio(ratio()?),
            "parentbased_always_on" => SamplerSetting::ParentBased(ParentlessRule::AlwaysOn),
            "parentbased_always_off" => SamplerSetting::ParentBased(ParentlessRule::AlwaysOff),
            "parentbased_traceidratio" => SamplerSetting::ParentBased(ParentlessRule::Ratio(ratio()?)),
            other => bail!(
                "--otel-traces-sampler (OTEL_TRACES_SAMPLER): {other:?} is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio"
            ),
        })
    }

    fn sampler(self) -> Sampler {
        match self {
            SamplerSetting::AlwaysOn => Sampler::AlwaysOn,
            SamplerSetting::AlwaysOff => Sampler::AlwaysOff,
            SamplerSetting::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
            SamplerSetting::ParentBased(rule) => Sampler::ParentBased(Box::new(match rule {
                ParentlessRule::AlwaysOn => Sampler::AlwaysOn,
                ParentlessRule::AlwaysOff => Sampler::AlwaysOff,
                ParentlessRule::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
            })),
        }
    }
}

impl TraceArgs {
    /// The export settings, or `None` when no endpoint is configured (export off).
    pub fn settings(&self, default_service_name: &str) -> anyhow::Result<Option<TraceSettings>> {
        let endpoint = self
            .otlp_traces_endpoint
            .as_deref()
            .or(self.otlp_endpoint.as_deref())
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let Some(endpoint) = endpoint else {
            return Ok(None);
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            bail!("--otlp-endpoint (OTEL_EXPORTER_OTLP_ENDPOINT): {endpoint:?} must start with http:// or https://");
        }
        Ok(Some(TraceSettings {
            endpoint: endpoint.to_owned(),
            service_name: self
                .otel_service_name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| default_service_name.to_owned()),
            sampler: SamplerSetting::parse(
                self.otel_traces_sampler.as_deref(),
                self.otel_traces_sampler_arg.as_deref(),
            )?,
        }))
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (fields; the span context too when the log filter asks for DEBUG), for log shippers.
    Json,
}

/// The logging flags of a service beside Tessera (both edges): `--log` and the trace export
/// ([`TraceArgs`]), as one `clap` group to flatten into its command line.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log filter, e.g. `info` or `tessera_edge_http=debug`.
    #[arg(long, env = "TESSERA_LOG", default_value = "info")]
    pub log: String,

    #[command(flatten)]
    pub traces: TraceArgs,
}

impl LogArgs {
    /// Text logs with this filter (colours when `ansi`), and trace export named `service_name`
    /// unless `OTEL_SERVICE_NAME` says otherwise, when configured: what [`run_program`] takes.
    pub fn settings(
        &self,
        service_name: &str,
        ansi: bool,
    ) -> anyhow::Result<(LogSettings, Option<TraceSettings>)> {
        let filter = EnvFilter::try_new(&self.log)
            .map_err(|e| anyhow::anyhow!("--log (TESSERA_LOG) {:?}: {e}", self.log))?;
        let log = LogSettings {
            filter,
            format: LogFormat::Text,
            ansi,
        };
        Ok((log, self.traces.settings(service_name)?))
    }
}

/// The log layer's settings.
#[derive(Debug)]
pub struct LogSettings {
    /// Which events are written (`EnvFilter` syntax).
    pub filter: EnvFilter,
    /// Text or JSON.
    pub format: LogFormat,
    /// Colours (only for a person at a terminal).
    pub ansi: bool,
}

/// The installed telemetry; [`Telemetry::shutdown`] flushes spans still waiting for export.
#[must_use = "dropping the guard without shutdown() loses the last batch of spans"]
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports what is buffered and stops the exporter.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            // The flush blocks on the export; keep it off the async workers.
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(error) = provider.shutdown() {
                    eprintln!("trace export shutdown: {error}");
                }
            })
            .await;
        }
    }
}

/// Which spans reach the exporter: Tessera's own at INFO and above; libraries' chatter (sqlx's
/// per-statement events, hyper, h2) stays out.
fn export_filter() -> Targets {
    Targets::new()
        .with_default(tracing::Level::INFO)
        .with_target("sqlx", tracing::Level::WARN)
        .with_target("h2", tracing::Level::WARN)
        .with_target("hyper", tracing::Level::WARN)
        .with_target("hyper_util", tracing::Level::WARN)
        .with_target("tower", tracing::Level::WARN)
        .with_target("opentelemetry", tracing::Level::WARN)
        .with_target("opentelemetry_sdk", tracing::Level::WARN)
        .with_target("opentelemetry_otlp", tracing::Level::WARN)
}

/// What the log layer sees, from its `--log` filter: events only, unless the filter asks for
/// DEBUG or finer somewhere. A span the log layer sees costs every request the formatting of its
/// fields, in case an event inside it is written: a tenth of a replica's CPU per uncached
/// Introspect (`grpc.server` and `db`; BENCHMARKS.md, issue 33), for the few events written at
/// INFO and above within a request. Where the spans go, to a trace collector, they are kept
/// (the export layer has its own filter); an operator who turns on DEBUG to follow requests gets
/// each event's spans in the log as well.
pub fn log_filter<S>(filter: EnvFilter) -> Box<dyn Filter<S> + Send + Sync + 'static>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let follows_requests = filter
        .max_level_hint()
        .is_none_or(|most| most >= LevelFilter::DEBUG);
    if follows_requests {
        Box::new(filter)
    } else {
        Box::new(filter.and(filter_fn(|metadata| metadata.is_event())))
    }
}

/// Builds the subscriber without installing it (the bench runs a traced and an untraced server in
/// one process). Must run inside a Tokio runtime when `traces` is set: the gRPC exporter's
/// connection lives on it.
pub fn build(
    log: LogSettings,
    traces: Option<&TraceSettings>,
) -> anyhow::Result<(Dispatch, Telemetry)> {
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(log.ansi);
    let fmt = match log.format {
        LogFormat::Text => fmt.with_filter(log_filter(log.filter)).boxed(),
        LogFormat::Json => fmt.json().with_filter(log_filter(log.filter)).boxed(),
    };
    let registry = tracing_subscriber::registry().with(fmt);
    let Some(traces) = traces else {
        return Ok((Dispatch::new(registry), Telemetry::default()));
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(traces.endpoint.clone())
        .build()
        .context("--otlp-endpoint: cannot build the OTLP exporter")?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(traces.sampler.sampler())
        .with_resource(
            Resource::builder_empty()
                .with_service_name(traces.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("tessera");
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_filter(export_filter());
    Ok((
        Dispatch::new(registry.with(otel)),
        Telemetry {
            provider: Some(provider),
        },
    ))
}

/// A binary's `main` around `program`: installs the logs (and trace export, when `setup` asks
/// for it), runs the program, flushes the export, and turns a failure (of the set-up or of the
/// program) into `name: error` on stderr and a failing exit code. The server and both edges start
/// this way.
pub async fn run_program(
    name: &str,
    setup: anyhow::Result<(LogSettings, Option<TraceSettings>)>,
    program: impl std::future::Future<Output = anyhow::Result<()>>,
) -> std::process::ExitCode {
    let fail = |error: anyhow::Error| {
        eprintln!("{name}: {error:#}");
        std::process::ExitCode::FAILURE
    };
    let telemetry = match setup.and_then(|(log, traces)| init(log, traces.as_ref())) {
        Ok(telemetry) => telemetry,
        Err(error) => return fail(error),
    };
    let result = program.await;
    telemetry.shutdown().await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => fail(error),
    }
}

/// Builds the subscriber and installs it for the whole process. With trace export on, says so in
/// the log and, inside a Tokio runtime, checks once that the collector is reachable: an
/// endpoint pointing at nothing otherwise drops every span without a word.
pub fn init(log: LogSettings, traces: Option<&TraceSettings>) -> anyhow::Result<Telemetry> {
    let (dispatch, telemetry) = build(log, traces)?;
    tracing::dispatcher::set_global_default(dispatch)
        .map_err(|_| anyhow::anyhow!("a tracing subscriber is already installed"))?;
    if let Some(traces) = traces {
        tracing::info!(endpoint = %traces.endpoint, service_name = %traces.service_name,
            sampler = ?traces.sampler, "exporting traces over OTLP/gRPC");
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(check_collector(traces.endpoint.clone()));
        }
    }
    Ok(telemetry)
}

/// How long the start-up check of the collector may take.
const COLLECTOR_CHECK: std::time::Duration = std::time::Duration::from_secs(3);

/// Warns when nothing accepts a TCP connection at the OTLP endpoint.
async fn check_collector(endpoint: String) {
    let Some(authority) = collector_authority(&endpoint) else {
        return;
    };
    let connected =
        tokio::time::timeout(COLLECTOR_CHECK, tokio::net::TcpStream::connect(&authority)).await;
    let problem = match connected {
        Ok(Ok(_)) => return,
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer within {COLLECTOR_CHECK:?}"),
    };
    tracing::warn!(%endpoint, %problem,
        "the OTLP endpoint is not reachable: spans are dropped until a collector listens there");
}

/// `host:port` of an `http(s)://host[:port][/path]` endpoint (OTLP/gRPC's port 4317 by default).
fn collector_authority(endpoint: &str) -> Option<String> {
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))?;
    let authority = rest.split('/').next().filter(|a| !a.is_empty())?;
    let has_port = match authority.strip_prefix('[') {
        Some(inner) => inner
            .split_once(']')
            .is_some_and(|(_, rest)| rest.starts_with(':')),
        None => authority.contains(':'),
    };
    Some(if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:4317")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collector_is_dialled_at_the_endpoints_host_and_port() {
        assert_eq!(
            collector_authority("http://127.0.0.1:4317").as_deref(),
            Some("127.0.0.1:4317")
        );
        assert_eq!(
            collector_authority("https://otel.example:443/v1").as_deref(),
            Some("otel.example:443")
        );
        assert_eq!(
            collector_authority("http://collector").as_deref(),
            Some("collector:4317")
        );
        assert_eq!(
            collector_authority("http://[::1]:4317").as_deref(),
            Some("[::1]:4317")
        );
        assert_eq!(
            collector_authority("http://[::1]").as_deref(),
            Some("[::1]:4317")
        );
        assert_eq!(collector_authority("collector:4317"), None);
    }

    #[test]
    fn samplers_parse_as_the_specification_names_them() {
        assert_eq!(
            SamplerSetting::parse(None, None).unwrap(),
            SamplerSetting::ParentBased(ParentlessRule::AlwaysOn)
        );
        assert_eq!(
            SamplerSetting::parse(Some("parentbased_traceidratio"), Some("0.01")).unwrap(),
            SamplerSetting::ParentBased(ParentlessRule::Ratio(0.01))
        );
        assert_eq!(
            SamplerSetting::parse(Some("traceidratio"), None).unwrap(),
            SamplerSetting::Ratio(1.0)
        );
        let error = SamplerSetting::parse(Some("traceidratio"), Some("1.5")).unwrap_err();
        assert!(
            error.to_string().contains("OTEL_TRACES_SAMPLER_ARG"),
            "{error}"
        );
        let error = SamplerSetting::parse(Some("sometimes"), None).unwrap_err();
        assert!(error.to_string().contains("OTEL_TRACES_SAMPLER"), "{error}");
    }

    /// The log lines written while an event is logged inside a request-like span, with `--log`.
    fn logged_inside_a_span(log: &str) -> String {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .with_filter(log_filter(EnvFilter::new(log)));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("grpc.server", rpc.method = "Introspect");
            span.in_scope(|| tracing::warn!(keys = 3, "batched token read failed"));
        });
        let bytes = lines.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn logs_carry_spans_only_when_the_filter_asks_for_debug() {
        let info = logged_inside_a_span("info");
        assert!(info.contains("batched token read failed keys=3"), "{info}");
        assert!(!info.contains("Introspect"), "{info}");
        for debug in ["debug", "info,tessera_server=debug", "trace"] {
            let lines = logged_inside_a_span(debug);
            assert!(
                lines.contains("grpc.server{rpc.method=\"Introspect\"}"),
                "{debug}: {lines}"
            );
            assert!(
                lines.contains("batched token read failed"),
                "{debug}: {lines}"
            );
        }
        assert_eq!(logged_inside_a_span("error"), "");
    }

    #[test]
    fn export_is_off_without_an_endpoint_and_refuses_a_bare_host() {
        assert!(TraceArgs::default().settings("x").unwrap().is_none());
        let args = TraceArgs {
            otlp_endpoint: Some("collector:4317".into()),
            ..TraceArgs::default()
        };
        assert!(args.settings("x").is_err());
        let args = TraceArgs {
            otlp_endpoint: Some("http://127.0.0.1:4317".into()),
            otlp_traces_endpoint: Some("http://127.0.0.1:4999".into()),
            ..TraceArgs::default()
        };
        let settings = args.settings("tessera").unwrap().unwrap();
        assert_eq!(settings.endpoint, "http://127.0.0.1:4999");
        assert_eq!(settings.service_name, "tessera");
    }
}
