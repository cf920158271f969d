//! The settings every layer of the edge reads and none of them owns: how the edge treats browsers
//! and proxies ([`Policy`]), the proxy in front of `/auth/verify` ([`FrontProxy`]) and the
//! [`Origin`] value the same-origin check compares. This module imports no other module of the
//! crate: [`crate::config`] builds a [`Policy`], the handlers read it.

/// `scheme://host[:port]`, lowercase, default port dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    /// Parses `scheme://host[:port]` (what browsers send in `Origin`).
    pub fn parse(text: &str) -> Option<Self> {
        let (scheme, host) = text.trim().split_once("://")?;
        Self::from_parts(scheme, host)
    }

    /// Builds the origin from a scheme and a `host[:port]`, as a request gives them.
    pub(crate) fn from_parts(scheme: &str, host: &str) -> Option<Self> {
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let host = host.to_ascii_lowercase();
        if host.is_empty()
            || host.contains(['/', '?', '#', '@', ' ', ','])
            || host.chars().any(char::is_control)
        {
            return None;
        }
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        let host = host.strip_suffix(default_port).unwrap_or(&host);
        Some(Self(format!("{scheme}://{host}")))
    }

    /// The origin text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How the edge treats browsers and proxies.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Honour `X-Forwarded-*` from the proxy in front.
    pub trust_proxy: bool,
    /// The edge terminates TLS itself.
    pub tls: bool,
    /// Allow session login over plain HTTP.
    pub insecure_dev_http: bool,
    /// Extra origins allowed for cookie-authenticated state changes.
    pub allowed_origins: Vec<Origin>,
    /// Keep `Authorization: Bearer` on proxied requests.
    pub forward_authorization: bool,
    /// Largest JSON or form body of the edge's own endpoints.
    pub max_json_bytes: usize,
    /// Whose headers describe the request on `/auth/verify`.
    pub front_proxy: FrontProxy,
    /// Who may call Envoy's `Check`.
    pub ext_authz_callers: ExtAuthzCallers,
    /// The origin clients reach the edge at (`--public-url`), the OAuth issuer; `None` takes
    /// each request's own origin.
    pub public_url: Option<Origin>,
}

/// Who may call Envoy's `Check` (see [`crate::ext_authz`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ExtAuthzCallers {
    /// Only a caller whose service token holds `introspect`.
    #[default]
    Token,
    /// Also a caller without a token (a token that is sent is still checked).
    Any,
}

/// The proxy in front of `/auth/verify`, which decides whose headers describe the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FrontProxy {
    /// Not said: read either family, refuse (400) when both are present and disagree.
    #[default]
    Auto,
    /// nginx `auth_request`: `X-Original-Method` / `X-Original-URI` only.
    Nginx,
    /// Caddy `forward_auth`: `X-Forwarded-Method` / `X-Forwarded-Uri` only.
    Caddy,
    /// Traefik `ForwardAuth`: `X-Forwarded-Method` / `X-Forwarded-Uri` only.
    Traefik,
}
