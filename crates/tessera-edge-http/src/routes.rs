//! Which paths need no token (public routes) and which name an identifier that must lie in the
//! token's namespace (namespace rules), and the path check both rely on.
//!
//! Paths that servers read differently are refused outright (400) before any rule is applied:
//! dot segments (`..`, `%2e%2e`, `..;`), encoded slashes and backslashes, control characters and
//! invalid UTF-8. Otherwise `/public/../admin` could pass as public here and reach `/admin`
//! upstream. Public routes then match the raw path exactly (a differently encoded path is simply
//! not public), while namespace rules match the decoded path case-insensitively (a differently
//! encoded path is still checked).

use anyhow::{bail, Context};
use http::Method;
use percent_encoding::percent_decode_str;

/// Why a request path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("the path must start with /")]
    NotAbsolute,
    /// A `.` or `..` segment, plain or encoded.
    #[error("the path has a dot segment")]
    DotSegment,
    /// `%2F` or a backslash inside a segment.
    #[error("the path has an encoded slash or a backslash")]
    EncodedSeparator,
    /// A control character, plain or encoded.
    #[error("the path has a control character")]
    ControlCharacter,
    /// Percent-encoded bytes that are not UTF-8.
    #[error("the path is not UTF-8")]
    NotUtf8,
}

/// The decoded, non-empty segments of `path`, refusing forms servers disagree about.
pub fn decoded_segments(path: &str) -> Result<Vec<String>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let mut segments = Vec::new();
    for raw in path.split('/').skip(1) {
        let decoded = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| PathError::NotUtf8)?;
        if decoded.chars().any(char::is_control) {
            return Err(PathError::ControlCharacter);
        }
        if decoded.contains(['/', '\\']) {
            return Err(PathError::EncodedSeparator);
        }
        // Some servers drop `;params` from a segment before resolving dots (`..;/`).
        let bare = decoded.split(';').next().unwrap_or_default();
        if bare == "." || bare == ".." {
            return Err(PathError::DotSegment);
        }
        if !decoded.is_empty() {
            segments.push(decoded.into_owned());
        }
    }
    Ok(segments)
}

/// Why a request method is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("method {0:?} is not canonical: send it in upper case")]
pub struct MethodError(String);

/// The methods whose meaning everyone agrees on; the only ones the edge rewrites to upper case.
const STANDARD_METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];

/// The method as the edge decides and forwards it. Methods are case-sensitive on the wire, but
/// Werkzeug, Django and others route `post` as `POST`: a standard method in any case becomes its
/// upper-case form, so rules, the same-origin check and the upstream all see one spelling. Any
/// other method must already be upper case (`PROPFIND`); lower-case extension methods are refused,
/// since upstreams disagree on what they mean.
pub fn canonical_method(method: &Method) -> Result<Method, MethodError> {
    let text = method.as_str();
    if let Some(standard) = STANDARD_METHODS
        .iter()
        .find(|standard| standard.as_str().eq_ignore_ascii_case(text))
    {
        return Ok(standard.clone());
    }
    if text.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(MethodError(text.to_owned()));
    }
    Ok(method.clone())
}

/// Path prefixes that pass without a token.
#[derive(Debug, Clone, Default)]
pub struct PublicRoutes(Vec<String>);

impl PublicRoutes {
    /// Validates `--public-route` values.
    pub fn parse(routes: &[String]) -> anyhow::Result<Self> {
        let mut parsed = Vec::new();
        for route in routes {
            let route = route.trim();
            if route.is_empty() {
                continue;
            }
            if route.contains(['?', '#']) || route.chars().any(char::is_whitespace) {
                bail!("{route:?} must be a plain path prefix");
            }
            decoded_segments(route).with_context(|| format!("{route:?}"))?;
            if route == "/" {
                bail!("\"/\" would make every path public");
            }
            parsed.push(route.to_owned());
        }
        Ok(Self(parsed))
    }

    /// Whether the raw request path is public. A prefix ending in `/` matches what starts with
    /// it; any other matches itself and what lies below it (`/health` matches `/health/x`, not
    /// `/healthz`).
    pub fn matches(&self, raw_path: &str) -> bool {
        self.0.iter().any(|route| {
            if route.ends_with('/') {
                raw_path.starts_with(route.as_str())
            } else {
                raw_path == route
                    || raw_path
                        .strip_prefix(route.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    AnyOne,
    Identifier,
}

/// One namespace rule: on these methods, paths below this pattern must have their identifier
/// segment allowed by the token's namespace (and the token must hold `action`, when set).
#[derive(Debug, Clone)]
pub struct NamespaceRule {
    methods: Option<Vec<Method>>,
    pattern: Vec<Segment>,
    /// Where in `pattern` the identifier segment is.
    identifier_at: usize,
    action: String,
}

/// What a matching rule asks Tessera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceCheck {
    /// The identifier from the path, decoded.
    pub identifier: String,
    /// The permission the token must also hold; empty for none.
    pub action: String,
}

/// The namespace rules, tried in order; the first match decides.
#[derive(Debug, Clone, Default)]
pub struct NamespaceRules(Vec<NamespaceRule>);

impl NamespaceRule {
    /// Parses `[METHOD[,METHOD…]] PATTERN [ACTION]`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (methods, rest) = match words.first() {
            Some(first) if !first.starts_with('/') => {
                let methods = first
                    .split(',')
                    .map(|m| {
                        Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                            .with_context(|| format!("{m:?} is not an HTTP method"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                (Some(methods), &words[1..])
            }
            _ => (None, &words[..]),
        };
        let (pattern, action) = match rest {
            [pattern] => (*pattern, ""),
            [pattern, action] => (*pattern, *action),
            _ => bail!("{text:?} is not `[METHODS] PATTERN [ACTION]`"),
        };
        if !pattern.starts_with('/') {
            bail!("pattern {pattern:?} must start with /");
        }
        let segments: Vec<Segment> = pattern
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| match s {
                "*" => Ok(Segment::AnyOne),
                s if s.starts_with('{') && s.ends_with('}') && s.len() > 2 => {
                    Ok(Segment::Identifier)
                }
                s if s.contains(['{', '}', '*', '%']) || s == "." || s == ".." => {
                    bail!("pattern segment {s:?} is neither a literal, `*` nor `{{name}}`")
                }
                s => Ok(Segment::Literal(s.to_owned())),
            })
            .collect::<anyhow::Result<_>>()?;
        let mut identifiers = segments
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == Segment::Identifier)
            .map(|(at, _)| at);
        let (Some(identifier_at), None) = (identifiers.next(), identifiers.next()) else {
            bail!("pattern {pattern:?} must name exactly one identifier segment such as {{id}}");
        };
        if !action.is_empty() && tessera_rules::permission::validate_action(action).is_err() {
            bail!(
                "action {action:?} must be exactly one permission name (lowercase letters, digits \
                 and . _ : -, starting with a letter), never * or -name"
            );
        }
        Ok(Self {
            methods,
            pattern: segments,
            identifier_at,
            action: action.to_owned(),
        })
    }

    /// The check this rule asks for, `None` when it does not match. Literal segments are matched
    /// as loosely as any upstream might read them (see [`upstream_reading`]), so that a segment
    /// spelled to dodge the rule here is caught and refused rather than passed.
    fn check(
        &self,
        method: &Method,
        segments: &[String],
    ) -> Result<Option<NamespaceCheck>, AmbiguousSegment> {
        if let Some(methods) = &self.methods {
            // Defence in depth: the guard already made the method canonical.
            if !methods
                .iter()
                .any(|m| m.as_str().eq_ignore_ascii_case(method.as_str()))
            {
                return Ok(None);
            }
        }
        let identifier_at = self.identifier_at;
        let read = &segments[..segments.len().min(self.pattern.len())];
        if read.len() < identifier_at {
            return Ok(None);
        }
        let matches = self
            .pattern
            .iter()
            .zip(read)
            .all(|(pattern, segment)| match pattern {
                Segment::Literal(literal) => {
                    literal.eq_ignore_ascii_case(&upstream_reading(segment))
                }
                Segment::AnyOne | Segment::Identifier => true,
            });
        if !matches {
            return Ok(None);
        }
        if let Some(position) = read.iter().position(|segment| !is_plain(segment)) {
            return Err(AmbiguousSegment {
                position: position + 1,
            });
        }
        // A path that stops before the identifier (`/jobs`, `/jobs/`) names no identifier; it is
        // checked as `*`, which only a token for every identifier is allowed.
        let identifier = read
            .get(identifier_at)
            .map_or_else(|| ALL_IDENTIFIERS.to_owned(), Clone::clone);
        Ok(Some(NamespaceCheck {
            identifier,
            action: self.action.clone(),
        }))
    }
}

/// What a path that stops before a rule's identifier segment is checked as: only a token whose
/// namespace is `*` is allowed it.
pub const ALL_IDENTIFIERS: &str = "*";

/// How many percent-decodings an upstream might apply on top of the edge's one.
const EXTRA_DECODINGS: usize = 3;

/// The most any upstream might make of a decoded segment: decoded again (`%2562` → `b`), path
/// parameters dropped (`jobs;x`, as Tomcat, Jetty and Spring do) and surrounding whitespace and
/// trailing dots trimmed (`jobs.`, `jobs%20`, as IIS and Spring's matcher do).
fn upstream_reading(segment: &str) -> String {
    let mut text = segment.to_owned();
    for _ in 0..EXTRA_DECODINGS {
        let decoded = percent_decode_str(&text).decode_utf8_lossy().into_owned();
        if decoded == text {
            break;
        }
        text = decoded;
    }
    let bare = text.split(';').next().unwrap_or_default();
    bare.trim_start_matches(char::is_whitespace)
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .to_owned()
}

/// Whether every server reads the decoded segment the same way: no `;` parameter, no `%` left
/// for a second decoding, no surrounding whitespace and no trailing dot.
fn is_plain(segment: &str) -> bool {
    !segment.contains([';', '%'])
        && !segment.starts_with(char::is_whitespace)
        && !segment.ends_with(|c: char| c == '.' || c.is_whitespace())
}

/// A segment that a namespace rule reads but that servers read differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "segment {position} of the path is read by a namespace rule but has a `;` parameter, an \
     encoded `%`, surrounding whitespace or a trailing dot, which servers read differently: send \
     the segment without them"
)]
pub struct AmbiguousSegment {
    /// The segment's position in the path, from 1.
    pub position: usize,
}

impl NamespaceRules {
    /// Parses every `--namespace-rule`.
    pub fn parse(texts: &[String]) -> anyhow::Result<Self> {
        texts
            .iter()
            .filter(|t| !t.trim().is_empty())
            .map(|t| NamespaceRule::parse(t).with_context(|| format!("rule {t:?}")))
            .collect::<anyhow::Result<Vec<_>>>()
            .map(Self)
    }

    /// The check the first matching rule asks for, given the decoded path segments; a segment a
    /// matching rule reads but servers read differently is refused.
    pub fn check(
        &self,
        method: &Method,
        segments: &[String],
    ) -> Result<Option<NamespaceCheck>, AmbiguousSegment> {
        for rule in &self.0 {
            if let Some(check) = rule.check(method, segments)? {
                return Ok(Some(check));
            }
        }
        Ok(None)
    }

    /// Whether no rule is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests;
