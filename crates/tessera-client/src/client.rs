//! The client: addresses, TLS, the caller's bearer token, deadlines, retries and fail-over.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::Code;
use tracing::debug;

use crate::address::ServerAddress;
use crate::connector::{ConnectFailures, CountingConnector};
use crate::diagnose::{diagnose, TlsMaterial};
use crate::error::{Error, Reason};
use crate::identity::{read_identity, IdentitySource};
use crate::secret::Secret;
use crate::transport::{TlsFlags, TransportProblem};

/// How long a call may take in all, retries included, unless set otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);
/// How long a TCP connection attempt may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// When to repeat a call that met `UNAVAILABLE`.
///
/// ```
/// use std::time::Duration;
/// use tessera_client::RetryPolicy;
///
/// let patient = RetryPolicy {
///     attempts: 5,
///     first_backoff: Duration::from_millis(50),
///     max_backoff: Duration::from_secs(1),
/// };
/// assert_eq!(RetryPolicy::never().attempts, 1);
/// # let _ = patient;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (at least one per configured address when fail-over applies).
    pub attempts: u32,
    /// Pause after the first round of addresses has failed; doubles each round.
    pub first_backoff: Duration,
    /// Longest pause.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// No repetition at all.
    pub fn never() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Whether a call may be sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Repeating changes nothing (reads, idempotent changes).
    Safe,
    /// Repeating could spend a use, lock an account or mint a second token: only when the
    /// request certainly never left.
    Unsafe,
}

/// Where the CA certificates for `https://` come from.
#[derive(Debug, Clone)]
enum CaSource {
    File(PathBuf),
    Pem(Vec<u8>),
}

/// The settings, read and checked.
struct Checked {
    addresses: Vec<ServerAddress>,
    ca: Option<Vec<u8>>,
    identity: Option<Identity>,
    material: Arc<TlsMaterial>,
}

/// How long the look at a server after an unexplained failure may take.
const DIAGNOSIS_LIMIT: Duration = Duration::from_secs(3);

/// Settings for a [`Client`].
///
/// ```no_run
/// use std::time::Duration;
/// use tessera_client::{Client, Secret};
///
/// # async fn example() -> Result<(), tessera_client::Error> {
/// let client = Client::builder()
///     .address("https://tessera.internal:50051")
///     .ca_file("/etc/tessera/ca.pem")
///     .tls_server_name("tessera.internal")
///     .token(Secret::new(std::env::var("TESSERA_SERVICE_TOKEN").unwrap_or_default()))
///     .deadline(Duration::from_secs(2))
///     .build()?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    addresses: Vec<String>,
    ca: Option<CaSource>,
    identity: Option<IdentitySource>,
    server_name: Option<String>,
    token: Option<Secret>,
    deadline: Duration,
    connect_timeout: Duration,
    keepalive: Duration,
    retry: RetryPolicy,
    diagnose: bool,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            addresses: Vec::new(),
            ca: None,
            identity: None,
            server_name: None,
            token: None,
            deadline: DEFAULT_DEADLINE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            keepalive: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            diagnose: false,
        }
    }
}

impl ClientBuilder {
    /// Adds an address (`host:port`, `http://host:port` or `https://host:port`). With several,
    /// the client uses the first that works and fails over to the next.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.addresses.push(address.into());
        self
    }

    /// Adds several addresses, in order of preference.
    pub fn addresses<I, S>(mut self, addresses: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.addresses.extend(addresses.into_iter().map(Into::into));
        self
    }

    /// Trusts the PEM CA certificates in `path` for `https://` addresses (default: the system's
    /// roots).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = Some(CaSource::File(path.into()));
        self
    }

    /// Trusts these PEM CA certificates for `https://` addresses.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(CaSource::Pem(pem.into()));
        self
    }

    /// Presents this PEM client certificate (with its chain) and key to `https://` servers that
    /// ask for one (mutual TLS).
    pub fn identity_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.identity = Some(IdentitySource::Files {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Presents this PEM client certificate and key (mutual TLS).
    pub fn identity_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.identity = Some(IdentitySource::Pem {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// The name the servers' certificates must carry (default: each address's host).
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The caller's token, sent as `authorization: Bearer …` on every call.
    pub fn token(mut self, token: Secret) -> Self {
        self.token = Some(token);
        self
    }

    /// How long a call may take in all, retries included (default 5 s).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// How long one TCP connection attempt may take (default 3 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// When to repeat calls that met `UNAVAILABLE`.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// After a failure the transport did not explain (the connection just closed), look at the
    /// server once to say why in [`Error::transport_problem`]: a server that requires a client
    /// certificate, or a TLS port dialled with `http://`. For tools a person runs (the CLI); off
    /// by default, since it costs a connection after each such failure.
    pub fn diagnose_failures(mut self, yes: bool) -> Self {
        self.diagnose = yes;
        self
    }

    /// A client that connects on first use (no I/O here). Must run inside a Tokio runtime.
    pub fn build(self) -> Result<Client, Error> {
        let targets = self.targets()?;
        self.client(targets)
    }

    /// A client that has connected to at least one of its addresses (the first that answers
    /// becomes the preferred one); `UNAVAILABLE` when none does.
    pub async fn connect(self) -> Result<Client, Error> {
        let mut targets = self.targets()?;
        let mut preferred = None;
        let mut failures = Vec::new();
        let mut problem = None;
        for (index, target) in targets.iter_mut().enumerate() {
            let connector = CountingConnector::new(self.connect_timeout, target.failures.clone());
            match target.endpoint.connect_with_connector(connector).await {
                Ok(channel) => {
                    target.channel = channel;
                    preferred.get_or_insert(index);
                }
                Err(e) => {
                    problem = problem.or_else(|| TransportProblem::from_error(&e));
                    failures.push(format!("{}: {}", target.address, error_chain(&e)));
                }
            }
        }
        let Some(preferred) = preferred else {
            if problem.is_none() && self.diagnose {
                if let Some(target) = targets.first() {
                    problem = diagnose(&target.address, &target.material, DIAGNOSIS_LIMIT).await;
                }
            }
            return Err(Error::local(
                Reason::Unavailable,
                "address",
                format!("cannot reach tessera at {}", failures.join("; ")),
            )
            .with_transport(problem));
        };
        let client = self.client(targets)?;
        client.shared.preferred.store(preferred, Ordering::Release);
        Ok(client)
    }

    fn client(&self, targets: Vec<ReplicaTarget>) -> Result<Client, Error> {
        let bearer = self.token.as_ref().map(bearer).transpose()?;
        Ok(Client {
            shared: Arc::new(ReplicaSet {
                targets,
                preferred: AtomicUsize::new(0),
                retry: self.retry,
                diagnose: self.diagnose,
            }),
            bearer,
            deadline: self.deadline,
        })
    }

    /// The settings of a service that calls with its own token (an edge, a protected service):
    /// these addresses (empty entries skipped), the CA file when given, a deadline per call,
    /// checked at once. The error's [`Error::field`] is `address` or `ca`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tessera_client::{ClientBuilder, Secret};
    ///
    /// let addresses = ["http://10.0.0.1:50051".to_owned(), "http://10.0.0.2:50051".to_owned()];
    /// let builder =
    ///     ClientBuilder::for_service(&addresses, None, Secret::new("tsr_svc_…".into()), Duration::from_secs(5));
    /// assert!(builder.is_ok());
    /// ```
    pub fn for_service(
        addresses: &[String],
        ca: Option<&std::path::Path>,
        token: Secret,
        deadline: Duration,
    ) -> Result<ClientBuilder, Error> {
        let mut builder = ClientBuilder::default()
            .addresses(addresses.iter().filter(|a| !a.trim().is_empty()).cloned())
            .token(token)
            .deadline(deadline);
        if let Some(ca) = ca {
            builder = builder.ca_file(ca);
        }
        builder.check()?;
        Ok(builder)
    }

    /// [`ClientBuilder::for_service`] presenting a client certificate and key (mutual TLS),
    /// both or neither. The error's [`Error::field`] is `address`, `ca`, `cert` or `key`.
    pub fn for_service_with_identity(
        addresses: &[String],
        ca: Option<&std::path::Path>,
        identity: Option<(&std::path::Path, &std::path::Path)>,
        token: Secret,
        deadline: Duration,
    ) -> Result<ClientBuilder, Error> {
        let mut builder = ClientBuilder::default()
            .addresses(addresses.iter().filter(|a| !a.trim().is_empty()).cloned())
            .token(token)
            .deadline(deadline);
        if let Some(ca) = ca {
            builder = builder.ca_file(ca);
        }
        if let Some((cert, key)) = identity {
            builder = builder.identity_files(cert, key);
        }
        builder.check()?;
        Ok(builder)
    }

    /// Checks the settings as [`ClientBuilder::build`] would (addresses, the CA file, a CA only
    /// with `https://`), without connecting and outside any runtime: for start-up validation.
    ///
    /// ```
    /// use tessera_client::Client;
    ///
    /// let error = Client::builder().address("ftp://tessera:21").check().unwrap_err();
    /// assert_eq!(error.field(), Some("address"));
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        self.checked().map(|_| ())
    }

    fn targets(&self) -> Result<Vec<ReplicaTarget>, Error> {
        let checked = self.checked()?;
        checked
            .addresses
            .iter()
            .map(|address| {
                self.target(
                    address.clone(),
                    checked.ca.as_deref(),
                    checked.identity.clone(),
                    checked.material.clone(),
                )
            })
            .collect()
    }

    fn checked(&self) -> Result<Checked, Error> {
        if self.addresses.is_empty() {
            return Err(Error::local(
                Reason::InvalidArgument,
                "address",
                "no tessera address given",
            ));
        }
        let addresses = self
            .addresses
            .iter()
            .map(|text| {
                ServerAddress::parse(text)
                    .map_err(|e| Error::local(Reason::InvalidArgument, "address", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ca = match &self.ca {
            None => None,
            Some(CaSource::Pem(pem)) => Some(pem.clone()),
            Some(CaSource::File(path)) => Some(std::fs::read(path).map_err(|e| {
                Error::local(
                    Reason::InvalidArgument,
                    "ca",
                    format!("cannot read the CA file {}: {e}", path.display()),
                )
            })?),
        };
        if ca.is_some() {
            if let Some(plain) = addresses.iter().find(|a| !a.tls) {
                return Err(Error::local(
                    Reason::InvalidArgument,
                    "ca",
                    format!("a CA is set but {plain} is plaintext: use https://"),
                ));
            }
        }
        let read = self.identity.as_ref().map(read_identity).transpose()?;
        let material = Arc::new(TlsMaterial {
            ca: ca.clone(),
            identity: read
                .as_ref()
                .map(|(_, cert, key)| (cert.clone(), key.clone())),
            server_name: self.server_name.clone(),
        });
        let identity = read.map(|(identity, _, _)| identity);
        if identity.is_some() {
            if let Some(plain) = addresses.iter().find(|a| !a.tls) {
                return Err(Error::local(
                    Reason::InvalidArgument,
                    "cert",
                    format!("a client certificate is set but {plain} is plaintext: use https://"),
                ));
            }
        }
        Ok(Checked {
            addresses,
            ca,
            identity,
            material,
        })
    }

    fn target(
        &self,
        address: ServerAddress,
        ca: Option<&[u8]>,
        identity: Option<Identity>,
        material: Arc<TlsMaterial>,
    ) -> Result<ReplicaTarget, Error> {
        let uri = address.uri();
        let invalid = |e: tonic::transport::Error| {
            Error::local(
                Reason::InvalidArgument,
                "address",
                format!("{uri}: {}", error_chain(&e)),
            )
        };
        let mut endpoint = Endpoint::from_shared(uri.clone())
            .map_err(invalid)?
            // The connector has the TCP limit; this one also covers the TLS handshake.
            .connect_timeout(self.connect_timeout + Duration::from_secs(2))
            .tcp_nodelay(true)
            // Streams (the revocation feed) notice a dead peer without a per-call limit.
            .http2_keep_alive_interval(self.keepalive)
            .keep_alive_timeout(self.keepalive)
            .keep_alive_while_idle(true);
        if address.tls {
            let mut tls = match ca {
                Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
                None => ClientTlsConfig::new().with_native_roots(),
            };
            if let Some(identity) = identity {
                tls = tls.identity(identity);
            }
            tls = tls.domain_name(
                self.server_name
                    .clone()
                    .unwrap_or_else(|| address.host().to_owned()),
            );
            endpoint = endpoint.tls_config(tls).map_err(invalid)?;
        }
        let failures = Arc::new(ConnectFailures::default());
        let channel = endpoint.connect_with_connector_lazy(CountingConnector::new(
            self.connect_timeout,
            failures.clone(),
        ));
        Ok(ReplicaTarget {
            address,
            endpoint,
            channel,
            failures,
            material,
        })
    }
}

/// An error with its causes, for messages (tonic's top-level text is often just "transport
/// error").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // io::Error shows its inner error and also hands it out as its source: said once.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn bearer(token: &Secret) -> Result<MetadataValue<Ascii>, Error> {
    let mut value: MetadataValue<Ascii> =
        format!("Bearer {}", token.expose()).parse().map_err(|_| {
            Error::local(
                Reason::InvalidArgument,
                "token",
                "the token has characters a header cannot carry",
            )
        })?;
    value.set_sensitive(true);
    Ok(value)
}

struct ReplicaTarget {
    address: ServerAddress,
    endpoint: Endpoint,
    channel: Channel,
    failures: Arc<ConnectFailures>,
    material: Arc<TlsMaterial>,
}

struct ReplicaSet {
    targets: Vec<ReplicaTarget>,
    /// The address calls go to first; moves on when it fails.
    preferred: AtomicUsize,
    retry: RetryPolicy,
    /// Whether to look at the server after a failure the transport did not explain.
    diagnose: bool,
}

/// A Tessera client: cheap to clone (clones share connections), safe to use from many tasks.
///
/// ```no_run
/// use tessera_client::Client;
///
/// # async fn example() -> Result<(), tessera_client::Error> {
/// let client = Client::connect(["http://127.0.0.1:50051"]).await?;
/// let keys = client.jwks().await?;
/// println!("{} signing keys", keys.keys.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    shared: Arc<ReplicaSet>,
    bearer: Option<MetadataValue<Ascii>>,
    deadline: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addresses", &self.addresses())
            .field("token", &self.bearer.as_ref().map(|_| "****"))
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Client {
    /// Settings for a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Connects to the first of `addresses` that answers, with the default settings and no
    /// token (see [`Client::with_token`]).
    pub async fn connect<I, S>(addresses: I) -> Result<Client, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Client::builder().addresses(addresses).connect().await
    }

    /// The same connections, calling as `token`.
    ///
    /// ```no_run
    /// # async fn example(client: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// let as_user = client.with_token("tsr_ses_…")?;
    /// # let _ = as_user; Ok(()) }
    /// ```
    pub fn with_token(&self, token: &str) -> Result<Client, Error> {
        Ok(Client {
            bearer: Some(bearer(&Secret::new(token.to_owned()))?),
            ..self.clone()
        })
    }

    /// The same connections, calling with no token (for `Login`).
    pub fn without_token(&self) -> Client {
        Client {
            bearer: None,
            ..self.clone()
        }
    }

    /// The same connections with another deadline per call.
    pub fn with_deadline(&self, deadline: Duration) -> Client {
        Client {
            deadline,
            ..self.clone()
        }
    }

    /// The configured addresses, canonical, in order.
    pub fn addresses(&self) -> Vec<String> {
        self.shared
            .targets
            .iter()
            .map(|t| t.address.to_string())
            .collect()
    }

    /// The address calls go to first right now.
    pub fn current_address(&self) -> String {
        self.shared.targets[self.preferred()].address.to_string()
    }

    fn preferred(&self) -> usize {
        self.shared.preferred.load(Ordering::Acquire) % self.shared.targets.len()
    }

    /// Moves the preferred address on to the next one (a stream that went silent there).
    pub(crate) fn prefer_next(&self) {
        let index = self.preferred();
        let _ = self.shared.preferred.compare_exchange(
            index,
            (index + 1) % self.shared.targets.len(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Looks at the preferred address once to say why connections to it fail, when the transport
    /// did not say: a server that requires a client certificate, a TLS port dialled with
    /// `http://`, an untrusted certificate. One connection, at most 3 s; for after a failure.
    pub async fn diagnose(&self) -> Option<TransportProblem> {
        let target = &self.shared.targets[self.preferred()];
        diagnose(&target.address, &target.material, DIAGNOSIS_LIMIT).await
    }

    /// A failed call told for the operator of a service: the error, and when the connection is
    /// at fault, what happened and which of `flags` to change (looking at the server once when
    /// the transport did not say).
    pub async fn explain_failure(&self, error: &Error, flags: &TlsFlags) -> String {
        let problem = match error.transport_problem() {
            Some(problem) => Some(problem),
            None if error.is_unavailable() => self.diagnose().await,
            None => None,
        };
        match problem {
            Some(problem) => format!("{problem}: {}", problem.advice(flags)),
            None => error.to_string(),
        }
    }

    /// Every outgoing request passes through here: the caller's bearer token and the deadline
    /// (`grpc-timeout`). Trace propagation belongs here too.
    fn prepare<T>(&self, request: &mut tonic::Request<T>, deadline: Option<Duration>) {
        if let Some(bearer) = &self.bearer {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
        }
        if let Some(deadline) = deadline {
            request.set_timeout(deadline);
        }
        #[cfg(feature = "telemetry")]
        tessera_telemetry::inject(request.metadata_mut());
    }

    /// One unary call with retries and fail-over per [`RetryPolicy`] and `repeat`, within the
    /// client's deadline; a connection failure the transport did not explain is looked into
    /// when the client was asked to ([`ClientBuilder::diagnose_failures`]).
    pub(crate) async fn unary<M, R, F, Fut>(
        &self,
        repeat: Repeat,
        message: M,
        call: F,
    ) -> Result<R, Error>
    where
        M: Clone,
        F: Fn(Channel, tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        match self.unary_attempts(repeat, message, call).await {
            Err(error)
                if self.shared.diagnose
                    && error.transport_problem().is_none()
                    && matches!(
                        error.code(),
                        Code::Unavailable | Code::Cancelled | Code::Unknown | Code::Internal
                    ) =>
            {
                let target = &self.shared.targets[self.preferred()];
                let problem = diagnose(&target.address, &target.material, DIAGNOSIS_LIMIT).await;
                Err(error.with_transport(problem))
            }
            answer => answer,
        }
    }

    async fn unary_attempts<M, R, F, Fut>(
        &self,
        repeat: Repeat,
        message: M,
        call: F,
    ) -> Result<R, Error>
    where
        M: Clone,
        F: Fn(Channel, tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let started = Instant::now();
        let targets = &self.shared.targets;
        let attempts = self.shared.retry.attempts.max(1);
        let mut backoff = self.shared.retry.first_backoff;
        let mut attempt = 0u32;
        loop {
            let index = self.preferred();
            let target = &targets[index];
            let remaining = self.deadline.saturating_sub(started.elapsed());
            let mut request = tonic::Request::new(message.clone());
            self.prepare(&mut request, Some(remaining));
            let failures_before = target.failures.count();
            let status = match tokio::time::timeout(
                remaining,
                call(target.channel.clone(), request),
            )
            .await
            {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) => as_unavailable_if_lost(status),
                Err(_) => tonic::Status::deadline_exceeded("tessera did not answer in time"),
            };
            if status.code() != Code::Unavailable {
                return Err(Error::from_status(&status));
            }
            // The connection could not be made: the request never left this process.
            let never_sent = target.failures.count() > failures_before;
            if targets.len() > 1 {
                let next = (index + 1) % targets.len();
                if self
                    .shared
                    .preferred
                    .compare_exchange(index, next, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    debug!(from = %target.address, to = %targets[next].address, "tessera unavailable, failing over");
                }
            }
            attempt += 1;
            let may_repeat = repeat == Repeat::Safe || never_sent;
            if !may_repeat || attempt >= attempts.max(targets.len() as u32) {
                return Err(Error::from_status(&status));
            }
            if (attempt as usize).is_multiple_of(targets.len()) {
                let left = self.deadline.saturating_sub(started.elapsed());
                if left <= backoff {
                    return Err(Error::from_status(&status));
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(self.shared.retry.max_backoff);
            }
            if self.deadline <= started.elapsed() {
                return Err(Error::from_status(&status));
            }
        }
    }

    /// Opens a server stream on the preferred address (no deadline: streams live long); fails
    /// over like a safe call.
    pub(crate) async fn open_stream<M, R, F, Fut>(&self, message: M, call: F) -> Result<R, Error>
    where
        M: Clone,
        F: Fn(Channel, tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let targets = &self.shared.targets;
        let mut last = None;
        for _ in 0..targets.len() {
            let index = self.preferred();
            let mut request = tonic::Request::new(message.clone());
            self.prepare(&mut request, None);
            match tokio::time::timeout(self.deadline, call(targets[index].channel.clone(), request))
                .await
            {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) => {
                    let status = as_unavailable_if_lost(status);
                    if status.code() != Code::Unavailable {
                        return Err(Error::from_status(&status));
                    }
                    last = Some(status);
                }
                Err(_) => last = Some(tonic::Status::deadline_exceeded("no answer in time")),
            }
            let _ = self.shared.preferred.compare_exchange(
                index,
                (index + 1) % targets.len(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        Err(Error::from_status(&last.unwrap_or_else(|| {
            tonic::Status::unavailable("no address")
        })))
    }
}

/// A call whose connection broke under it (the replica died or reset the connection) comes back
/// from tonic as INTERNAL or UNKNOWN "transport error", with the transport's error as its source.
/// It is the replica that is unavailable, not the call that is wrong: answer UNAVAILABLE, so a call
/// safe to repeat fails over (an unsafe one is still not repeated: it may have been sent).
fn as_unavailable_if_lost(status: tonic::Status) -> tonic::Status {
    if matches!(status.code(), Code::Internal | Code::Unknown) && lost_connection(&status) {
        let mut lost =
            tonic::Status::unavailable("the connection to tessera was lost during the call");
        // Kept, so the error can still say why (a TLS alert, a reset).
        if let Some(source) = std::error::Error::source(&status) {
            lost.set_source(std::sync::Arc::new(SourceText(error_chain(source))));
        }
        lost
    } else {
        status
    }
}

/// A cause kept as its text (tonic's sources cannot be cloned out of a status).
#[derive(Debug)]
struct SourceText(String);

impl std::fmt::Display for SourceText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SourceText {}

fn lost_connection(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::transport::Error>() || error.is::<hyper_util::client::legacy::Error>()
        {
            return true;
        }
        source = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn a_cause_already_said_is_not_said_again() {
        let error = Layer(
            "tcp connect error: Connection refused (os error 111)",
            Some(Box::new(Layer(
                "Connection refused (os error 111)",
                Some(Box::new(Layer("deeper", None))),
            ))),
        );
        assert_eq!(
            error_chain(&error),
            "tcp connect error: Connection refused (os error 111): deeper"
        );
    }
}
