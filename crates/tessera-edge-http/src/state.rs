//! The state every request handler shares. It sits below the handlers ([`crate::session`],
//! [`crate::login_page`], [`crate::verify`], [`crate::proxy`]) and the router ([`crate::app`]) on
//! top of them, and imports none of them.

use crate::gate::Gate;
use crate::policy::Policy;
use crate::upstream::Proxy;

/// Everything a request handler needs.
#[derive(Debug)]
pub struct AppState {
    /// Admission: Tessera and the routes.
    pub gate: Gate,
    /// Browser and proxy policy.
    pub policy: Policy,
    /// The upstream, when there is one.
    pub proxy: Option<Proxy>,
    /// Largest request head.
    pub max_header_bytes: usize,
}
