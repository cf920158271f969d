//! The HTTP edge: puts Tessera in front of any web service, as a reverse proxy (`--upstream`) or
//! as the forward-auth endpoint (`/auth/verify`) that nginx `auth_request`, Caddy `forward_auth`
//! and Traefik `ForwardAuth` call, with cookie sessions and a login page for browsers.
//!
//! This crate owns HTTP: credential extraction, the RFC 6750 answers, the session endpoints, the
//! proxy and the listener. It asks Tessera about every request over gRPC through the generated
//! client in `tessera-proto` and must not import the store, the server or anything that touches
//! PostgreSQL: an edge knows the wire contract only.
//!
//! Request flow: [`app`] strips client-supplied identity headers, then either serves one of the
//! edge's own endpoints ([`session`], [`login_page`], [`verify`]) or admits the request through
//! [`gate`] and hands it to [`proxy`]. Every Tessera failure becomes an HTTP answer in one table,
//! [`answer`]. An active unlimited-use token's Introspect answer may come from the
//! [`decision_cache`], which follows Tessera's revocation feed and is bypassed while it cannot.

pub mod answer;
pub mod app;
pub mod authority;
pub mod config;
pub mod cookie;
pub mod credentials;
pub mod decision_cache;
pub mod demo;
pub mod ext_authz;
pub mod gate;
pub mod identity;
pub mod login_page;
pub mod metrics;
pub mod oauth;
pub mod origin;
pub mod policy;
pub mod proxy;
pub mod routes;
pub mod server;
pub mod session;
pub mod state;
pub mod token;
pub mod upstream;
pub mod verify;
