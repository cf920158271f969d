//! Envoy's external authorization, gRPC mode: `envoy.service.auth.v3.Authorization/Check`,
//! served on the edge's own listener (HTTP/2, cleartext or TLS) beside the HTTP endpoints, so a
//! mesh needs nothing but Envoy and Tessera's edge. (Envoy's HTTP mode is `/auth/envoy/…`, in
//! [`crate::verify`].)
//!
//! The caller is Envoy, and it authenticates: `authorization: Bearer <service token>` in the
//! call's metadata (`grpc_service.initial_metadata`), a token that must hold `introspect` (see
//! [`HttpAuthority::vet_caller`]). A caller refused is a gRPC error, never an HTTP answer. With
//! `--ext-authz-callers any` (for meshes that cannot send a token) a call without one is answered
//! too, as `/auth/verify` answers anyone; a token that is sent is still vetted.
//!
//! The request Envoy describes goes through the same [`Gate`](crate::gate::Gate) as a proxied or
//! forward-auth request: credentials from `Authorization: Bearer`, the session cookies or (on a
//! WebSocket upgrade) `access_token`; public routes; namespace rules, decided from the cache by
//! the one decision or asked of Tessera; a single-use token spent exactly once. A route's own
//! policy can come from its per-route `context_extensions` ([`ROUTE_PUBLIC`],
//! [`ROUTE_NAMESPACE_RULES`]), tried before the edge's flags.
//!
//! The answers:
//! * admitted (or public): `OkHttpResponse` whose `headers` and `headers_to_remove` turn the
//!   request into exactly what the reverse proxy would send upstream ([`upstream_headers`]):
//!   identity headers set, client copies of them removed in every spelling, the bearer removed
//!   unless `--forward-authorization`, the edge's cookies taken out of `Cookie`, and the
//!   `access_token` query parameter of a WebSocket upgrade removed;
//! * refused: `DeniedHttpResponse` with the status, `WWW-Authenticate` and JSON body the HTTP edge
//!   gives (the body also names the reason from the contract's table);
//! * undecided (Tessera unreachable or overloaded: HTTP 503 anywhere else): the gRPC error
//!   `UNAVAILABLE`, which Envoy with `failure_mode_allow: false` turns into a refusal of its own,
//!   so it fails closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use envoy_types::pb::envoy::config::core::v3::{
    header_value_option::HeaderAppendAction, HeaderValue as EnvoyHeader, HeaderValueOption,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use envoy_types::pb::envoy::service::auth::v3::authorization_server::{
    Authorization, AuthorizationServer,
};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use tonic::server::NamedService as _;
use tonic::{Code, Request, Response, Status};
use tracing::warn;

use crate::answer::Answer;
use crate::authority::{CallerRefusal, HttpAuthority};
use crate::credentials::{bearer, is_websocket_upgrade, take_query_token, Presented};
use crate::gate::{upstream_headers, Admission, RoutePolicy, Subject};
use crate::identity::{is_identity_header, strip_identity_headers};
use crate::policy::{ExtAuthzCallers, Policy};
use crate::routes::{canonical_method, NamespaceRules};
use crate::state::AppState;

/// `context_extensions` key: `"true"` makes every path of the route public.
pub const ROUTE_PUBLIC: &str = "tessera_public";
/// `context_extensions` key: the route's namespace rules, `;`-separated, each written as
/// `--namespace-rule` takes it (`[METHODS] PATTERN [ACTION]`).
pub const ROUTE_NAMESPACE_RULES: &str = "tessera_namespace_rules";

/// Distinct route policies kept parsed; a mesh has a few, one per route.
const ROUTE_CACHE_CAPACITY: usize = 1024;

/// Parsed route policies by their `context_extensions` values (public, rules).
type RoutePolicies = HashMap<(String, String), Arc<RoutePolicy>>;

/// The Check service.
#[derive(Debug, Clone)]
pub struct ExtAuthz {
    state: Arc<AppState>,
    /// The edge's policy as it applies to a request Envoy received over plain HTTP and over TLS
    /// (Envoy says which; the edge's own listener does not matter).
    plain: Arc<Policy>,
    tls: Arc<Policy>,
    routes: Arc<Mutex<RoutePolicies>>,
}

impl ExtAuthz {
    /// The service deciding with the edge's gate and policy.
    pub fn new(state: Arc<AppState>) -> Self {
        let described = |tls| {
            Arc::new(Policy {
                tls,
                // Envoy, an authenticated caller, states the scheme and the host; what the client
                // sent in X-Forwarded-* counts for nothing.
                trust_proxy: false,
                ..state.policy.clone()
            })
        };
        Self {
            plain: described(false),
            tls: described(true),
            state,
            routes: Arc::default(),
        }
    }

    /// The tonic service, for the edge's router.
    pub fn into_server(self) -> AuthorizationServer<Self> {
        AuthorizationServer::new(self)
    }

    fn authority(&self) -> &HttpAuthority {
        &self.state.gate.authority
    }

    /// The caller's token must be active and hold `introspect`.
    async fn vet(&self, metadata: &HeaderMap) -> Result<(), Status> {
        const NEEDS_TOKEN: &str = "Check needs `authorization: Bearer <service token>` in the \
            call's metadata (Envoy: grpc_service.initial_metadata)";
        let token = match bearer(metadata) {
            Ok(Some(token)) => token,
            Ok(None) if self.plain.ext_authz_callers == ExtAuthzCallers::Any => return Ok(()),
            Ok(None) | Err(_) => return Err(Status::unauthenticated(NEEDS_TOKEN)),
        };
        match self.authority().vet_caller(&token).await {
            Ok(_) => Ok(()),
            Err(CallerRefusal::Inactive) => Err(Status::unauthenticated(
                "the caller's service token is not active",
            )),
            Err(CallerRefusal::LacksIntrospect) => Err(Status::permission_denied(
                "the caller's service token lacks the introspect permission",
            )),
            Err(CallerRefusal::Undecided(_)) => Err(Status::unavailable(
                "the authentication service cannot vet the caller right now",
            )),
        }
    }

    /// The route's own policy from `context_extensions`, parsed once per distinct value. A value
    /// that does not parse is the mesh operator's mistake: the call fails (Envoy then refuses the
    /// request), and the log says what is wrong.
    fn route_policy(
        &self,
        extensions: &HashMap<String, String>,
    ) -> Result<Option<Arc<RoutePolicy>>, Status> {
        let public = extensions.get(ROUTE_PUBLIC).map_or("", String::as_str);
        let rules = extensions
            .get(ROUTE_NAMESPACE_RULES)
            .map_or("", String::as_str);
        if public.is_empty() && rules.is_empty() {
            return Ok(None);
        }
        let key = (public.to_owned(), rules.to_owned());
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(route) = routes.get(&key) {
            return Ok(Some(route.clone()));
        }
        let route = Arc::new(parse_route_policy(public, rules).map_err(|error| {
            warn!(%error, "a route's context_extensions do not parse; its requests are refused");
            Status::invalid_argument(format!("context_extensions: {error:#}"))
        })?);
        if routes.len() >= ROUTE_CACHE_CAPACITY {
            routes.clear();
        }
        routes.insert(key, route.clone());
        Ok(Some(route))
    }

    /// Decides the request Envoy describes.
    async fn decide(&self, http: &HttpRequest, route: Option<&RoutePolicy>) -> CheckResponse {
        let described = match Described::from_envoy(http) {
            Ok(described) => described,
            Err(answer) => return denied(&answer),
        };
        let policy = if http.scheme.eq_ignore_ascii_case("https") {
            &self.tls
        } else {
            &self.plain
        };
        let subject = Subject {
            method: &described.method,
            path: Some(&described.path),
            headers: described.seen(),
            uri: &described.uri,
            presented: &described.presented,
            forged_identity: described.forged,
            route,
        };
        match self.state.gate.admit(policy, &subject).await {
            Ok(admission) => allowed(policy, &described, &admission),
            Err(answer) => denied(&answer),
        }
    }
}

#[tonic::async_trait]
impl Authorization for ExtAuthz {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        // The edge's request span (its router's `observe` layer) already covers the call and
        // continues the caller's trace.
        let (metadata, _, check) = request.into_parts();
        let metadata = metadata.into_headers();
        if let Err(refused) = self.vet(&metadata).await {
            self.state.gate.metrics.envoy_check("caller_refused");
            return Err(refused);
        }
        let attributes = check.attributes.unwrap_or_default();
        let route = self.route_policy(&attributes.context_extensions)?;
        let http = attributes
            .request
            .and_then(|request| request.http)
            .ok_or_else(|| {
                Status::invalid_argument("the CheckRequest describes no HTTP request")
            })?;
        let response = self.decide(&http, route.as_deref()).await;
        self.state
            .gate
            .metrics
            .envoy_check(check_outcome(&response));
        match response.status.as_ref().map(|status| status.code) {
            Some(code) if code == Code::Unavailable as i32 => Err(Status::unavailable(
                "the authentication service cannot decide right now",
            )),
            _ => Ok(Response::new(response)),
        }
    }
}

/// Descriptors of `envoy/service/auth/v3/external_auth.proto` and what it imports, taken from
/// `envoy-types` by `scripts/envoy-descriptors.py`.
pub const DESCRIPTORS: &[u8] = include_bytes!("ext_authz/descriptors.bin");

/// The Check service and its reflection (v1 and v1alpha, for grpcurl), routed on the edge's
/// router under their gRPC paths.
pub fn routes(state: Arc<AppState>) -> axum::Router<Arc<AppState>> {
    let router = axum::Router::new().route_service(
        &format!("/{}/{{*rest}}", AuthorizationServer::<ExtAuthz>::NAME),
        grpc(ExtAuthz::new(state).into_server()),
    );
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(DESCRIPTORS)
            .with_service_name(AuthorizationServer::<ExtAuthz>::NAME)
    };
    match (reflection().build_v1(), reflection().build_v1alpha()) {
        (Ok(v1), Ok(v1alpha)) => router
            .route_service("/grpc.reflection.v1.ServerReflection/{*rest}", grpc(v1))
            .route_service(
                "/grpc.reflection.v1alpha.ServerReflection/{*rest}",
                grpc(v1alpha),
            ),
        (Err(error), _) | (_, Err(error)) => {
            warn!(%error, "the Check service's descriptors do not load; serving it without reflection");
            router
        }
    }
}

/// A tonic service as an axum route.
fn grpc<S>(
    service: S,
) -> impl tower::Service<
    http::Request<axum::body::Body>,
    Response = http::Response<tonic::body::Body>,
    Error = std::convert::Infallible,
    Future = impl Send + 'static,
> + Clone
       + Send
       + Sync
       + 'static
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    use tower::ServiceExt as _;
    service
        .map_request(|request: http::Request<axum::body::Body>| request.map(tonic::body::Body::new))
}

/// The metrics' outcome of a decided Check.
fn check_outcome(response: &CheckResponse) -> &'static str {
    match &response.http_response {
        Some(HttpResponse::OkResponse(_)) => "allowed",
        Some(HttpResponse::DeniedResponse(denied)) => denied
            .status
            .as_ref()
            .and_then(|status| u16::try_from(status.code).ok())
            .and_then(|code| http::StatusCode::from_u16(code).ok())
            .map_or("other", crate::metrics::outcome),
        _ => "503",
    }
}

/// Parses a route's policy from its `context_extensions` values.
pub fn parse_route_policy(public: &str, rules: &str) -> anyhow::Result<RoutePolicy> {
    let public = match public.trim() {
        "" | "false" => false,
        "true" => true,
        other => anyhow::bail!("{ROUTE_PUBLIC} must be \"true\" or \"false\", not {other:?}"),
    };
    let texts: Vec<String> = rules.split(';').map(str::to_owned).collect();
    let rules = NamespaceRules::parse(&texts)
        .map_err(|error| anyhow::anyhow!("{ROUTE_NAMESPACE_RULES}: {error:#}"))?;
    Ok(RoutePolicy { public, rules })
}

/// The request as Envoy describes it, read the way the edge reads its own requests.
#[derive(Debug)]
struct Described {
    method: Method,
    /// The raw path, without the query.
    path: String,
    /// The client's headers as Envoy forwards them.
    sent: HeaderMap,
    /// The same without the client's copies of identity headers, when it sent any.
    stripped: Option<HeaderMap>,
    uri: Uri,
    presented: Result<Presented, crate::credentials::CredentialError>,
    forged: bool,
    /// The WebSocket upgrade carried its token in `access_token`.
    query_token: bool,
}

impl Described {
    /// The headers the gate looks at: the client's, without its copies of identity headers.
    fn seen(&self) -> &HeaderMap {
        self.stripped.as_ref().unwrap_or(&self.sent)
    }

    fn from_envoy(http: &HttpRequest) -> Result<Self, Answer> {
        let method = Method::from_bytes(http.method.as_bytes())
            .map_err(|_| Answer::bad_request("the method is not a method"))?;
        let method = canonical_method(&method).map_err(|e| Answer::bad_request(e.to_string()))?;
        let sent = envoy_headers(http)?;
        // The client's own identity headers are rare: copy the headers only to strip them.
        let (stripped, forged) = if sent.keys().any(|name| is_identity_header(name.as_str())) {
            let mut stripped = sent.clone();
            let forged = strip_identity_headers(&mut stripped).is_some();
            (Some(stripped), forged)
        } else {
            (None, false)
        };
        let seen = stripped.as_ref().unwrap_or(&sent);
        let (path, query) = match http.path.split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query)),
            None => (http.path.clone(), None),
        };
        let mut query_token = None;
        if let (true, Some(query)) = (is_websocket_upgrade(&method, seen), query) {
            query_token = take_query_token(query)
                .map_err(|error| Answer::invalid_request(error.to_string()))?
                .0;
        }
        let uri = Uri::builder()
            .authority(http.host.as_str())
            .path_and_query(http.path.as_str())
            .build()
            .or_else(|_| Uri::builder().path_and_query(http.path.as_str()).build())
            .map_err(|_| Answer::bad_request("the request target is not a path"))?;
        Ok(Self {
            method,
            path,
            uri,
            query_token: query_token.is_some(),
            presented: Presented::read(seen, query_token),
            sent,
            stripped,
            forged,
        })
    }
}

/// The client's headers from a CheckRequest: the `headers` map, or `header_map` when Envoy sends
/// raw values (`encode_raw_headers`). Pseudo-headers (`:path`, …) are left out; the request's
/// fields say the same.
fn envoy_headers(http: &HttpRequest) -> Result<HeaderMap, Answer> {
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: &[u8]| -> Result<(), Answer> {
        if name.starts_with(':') {
            return Ok(());
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Answer::bad_request("a header name is not a header name"))?;
        let value = HeaderValue::from_bytes(value)
            .map_err(|_| Answer::bad_request(format!("header {name} has a value no header has")))?;
        headers.append(name, value);
        Ok(())
    };
    match &http.header_map {
        Some(map) => {
            for header in &map.headers {
                let value = match header.raw_value.is_empty() {
                    true => header.value.as_bytes(),
                    false => header.raw_value.as_slice(),
                };
                add(&header.key, value)?;
            }
        }
        None => {
            for (name, value) in &http.headers {
                add(name, value.as_bytes())?;
            }
        }
    }
    Ok(headers)
}

/// The OK answer: the request rewritten into what the reverse proxy would send upstream.
fn allowed(policy: &Policy, described: &Described, admission: &Admission) -> CheckResponse {
    let mut upstream = described.seen().clone();
    let identity = match admission {
        Admission::Admitted(admitted) => Some(&admitted.identity),
        Admission::Public => None,
    };
    upstream_headers(policy, &mut upstream, identity);
    let (headers, headers_to_remove) = mutations(&described.sent, &upstream);
    let mut ok = OkHttpResponse {
        headers,
        headers_to_remove,
        ..OkHttpResponse::default()
    };
    if described.query_token {
        ok.query_parameters_to_remove = vec!["access_token".to_owned()];
    }
    if let Admission::Admitted(admitted) = admission {
        if admitted.stale_elevated {
            let clear = crate::cookie::clear_cookie(crate::cookie::ELEVATED_COOKIE);
            ok.response_headers_to_add = vec![option(&http::header::SET_COOKIE, &clear, false)];
        }
    }
    CheckResponse {
        status: Some(rpc_status(Code::Ok, "")),
        http_response: Some(HttpResponse::OkResponse(ok)),
        ..CheckResponse::default()
    }
}

/// The header mutations that turn `before` into `after`: what to set (the first value of a name
/// overwrites, further ones append) and which names to remove.
fn mutations(before: &HeaderMap, after: &HeaderMap) -> (Vec<HeaderValueOption>, Vec<String>) {
    let removed = before
        .keys()
        .filter(|name| !after.contains_key(*name))
        .map(|name| name.as_str().to_owned())
        .collect();
    let mut set = Vec::new();
    for name in after.keys() {
        let values: Vec<&HeaderValue> = after.get_all(name).iter().collect();
        if before.get_all(name).iter().eq(values.iter().copied()) {
            continue;
        }
        for (at, value) in values.into_iter().enumerate() {
            set.push(option(name, value, at > 0));
        }
    }
    (set, removed)
}

fn option(name: &HeaderName, value: &HeaderValue, append: bool) -> HeaderValueOption {
    let mut header = EnvoyHeader {
        key: name.as_str().to_owned(),
        ..EnvoyHeader::default()
    };
    match value.to_str() {
        Ok(text) => header.value = text.to_owned(),
        Err(_) => header.raw_value = value.as_bytes().to_vec(),
    }
    let action = if append {
        HeaderAppendAction::AppendIfExistsOrAdd
    } else {
        HeaderAppendAction::OverwriteIfExistsOrAdd
    };
    HeaderValueOption {
        header: Some(header),
        append_action: action as i32,
        ..HeaderValueOption::default()
    }
}

/// The refusal, as the HTTP edge would answer it; an undecided answer (503) becomes the gRPC
/// status `UNAVAILABLE` for the caller to turn into an error.
fn denied(answer: &Answer) -> CheckResponse {
    if answer.status == http::StatusCode::SERVICE_UNAVAILABLE {
        return CheckResponse {
            status: Some(rpc_status(Code::Unavailable, &answer.description)),
            ..CheckResponse::default()
        };
    }
    let mut headers = HeaderMap::new();
    answer.apply_headers(&mut headers);
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut body = answer.body();
    body["reason"] = answer.reason().as_lower().into();
    let code = match answer.status {
        http::StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        _ => Code::PermissionDenied,
    };
    CheckResponse {
        status: Some(rpc_status(code, &answer.description)),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(answer.status.as_u16()),
            }),
            headers: headers
                .iter()
                .map(|(name, value)| option(name, value, false))
                .collect(),
            body: body.to_string(),
        })),
        ..CheckResponse::default()
    }
}

fn rpc_status(code: Code, message: &str) -> RpcStatus {
    RpcStatus {
        code: code as i32,
        message: message.to_owned(),
        details: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
