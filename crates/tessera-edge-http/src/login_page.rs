//! The plain `/login` page: a form with username, password and TOTP code that works with no
//! script at all (a script-free page also lets the Content-Security-Policy forbid every script),
//! and `/logout` for its sign-out button.
//!
//! A successful login answers `303 See Other` to `next`, which must be a path on this edge (never
//! another host: no open redirect).

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::response::{Html, IntoResponse, Response};
use http::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY,
    SET_COOKIE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Deserialize;

use crate::answer::Answer;
use crate::cookie::{clear_cookie, ELEVATED_COOKIE, SESSION_COOKIE};
use crate::credentials::Presented;
use crate::identity::Identity;
use crate::origin::{check_not_cross_origin, check_same_origin, own_origin};
use crate::session::{end_session, open_session, read_limited, require_https};
use crate::state::AppState;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `next` if it is a path on this edge, else `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next)
            if next.starts_with('/')
                && !next.starts_with("//")
                && !next.starts_with("/\\")
                && next.len() <= 2048
                && next.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            next.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// A whole page around `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Tessera</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}}\
         label{{display:block;margin:.8rem 0 .2rem}}input{{width:100%;padding:.4rem;box-sizing:border-box}}\
         button{{margin-top:1rem;padding:.5rem 1rem}}.error{{color:#a00}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>\n",
        title = escape(title),
    )
}

/// Headers every page carries: no scripts, no framing, no caching, no referrer.
pub fn apply_page_headers(headers: &mut HeaderMap) {
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // `same-origin`, not `no-referrer`: the latter makes browsers send `Origin: null` on the
    // form's own POST, which the same-origin check then cannot tell from a cross-site one.
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    apply_page_headers(response.headers_mut());
    response
}

fn form(next: &str, message: Option<&str>, username: &str) -> String {
    let message = message
        .map(|m| {
            format!(
                "<p class=\"error\" id=\"error\" role=\"alert\">{}</p>",
                escape(m)
            )
        })
        .unwrap_or_default();
    page(
        "Sign in",
        &format!(
            "{message}<form method=\"post\" action=\"/login\">\
             <input type=\"hidden\" name=\"next\" value=\"{next}\">\
             <label for=\"username\">Username</label>\
             <input id=\"username\" name=\"username\" value=\"{username}\" autocomplete=\"username\" required>\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <label for=\"totp_code\">TOTP code (if enrolled)</label>\
             <input id=\"totp_code\" name=\"totp_code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" maxlength=\"10\">\
             <button id=\"submit\" type=\"submit\">Sign in</button></form>",
            next = escape(next),
            username = escape(username),
        ),
    )
}

fn signed_in(identity: &Identity, next: &str) -> String {
    page(
        "Signed in",
        &format!(
            "<p id=\"signed-in\">Signed in as <strong id=\"username\">{user}</strong>.</p>\
             <p><a id=\"continue\" href=\"{next}\">Continue</a></p>\
             <form method=\"post\" action=\"/logout\"><button id=\"logout\" type=\"submit\">Sign out</button></form>",
            user = escape(&identity.username),
            next = escape(next),
        ),
    )
}

/// The `?next=` of the login page.
#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /login`: the form, or who you are when the session cookie is good.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Query(query): Query<NextQuery>,
    headers: HeaderMap,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if let Ok(Presented {
        session_cookie: Some(token),
        ..
    }) = Presented::read(&headers, None)
    {
        if let Ok(me) = state.gate.authority.introspect(&token, false).await {
            if me.active {
                return html(
                    StatusCode::OK,
                    signed_in(&Identity::from_introspection(&me), &next),
                );
            }
        }
    }
    let warning = require_https(&state, &headers)
        .err()
        .map(|_| "Signing in needs HTTPS; this connection is plain HTTP.");
    html(StatusCode::OK, form(&next, warning, ""))
}

/// `POST /login` (an HTML form): sets the session cookie and redirects to `next`.
pub async fn submit(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut fields = LoginForm::default();
    let mut username = String::new();
    let result = async {
        let is_form = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(Answer::bad_request("expected a form"));
        }
        let bytes = read_limited(body, state.policy.max_json_bytes).await?;
        fields = LoginForm::parse(&bytes);
        require_https(&state, &parts.headers)?;
        let own = own_origin(&state.policy, &parts.headers, &parts.uri);
        check_not_cross_origin(&state.policy, &parts.headers, own.as_ref())
            .map_err(|_| Answer::cross_origin())?;
        username = fields.username.clone();
        let client = crate::origin::client_ip(
            &state.policy,
            &parts.headers,
            parts.extensions.get::<crate::server::ClientAddr>().copied(),
        );
        open_session(
            &state,
            client,
            std::mem::take(&mut fields.username),
            std::mem::take(&mut fields.password),
            std::mem::take(&mut fields.totp_code),
        )
        .await
    }
    .await;
    let next = safe_next(fields.next.as_deref());
    match result {
        Ok((_, cookie)) => {
            let mut response = html(
                StatusCode::SEE_OTHER,
                page("Signed in", "<p>Signed in.</p>"),
            );
            let headers = response.headers_mut();
            headers.append(SET_COOKIE, cookie);
            headers.append(SET_COOKIE, clear_cookie(ELEVATED_COOKIE));
            if let Ok(location) = HeaderValue::from_str(&next) {
                headers.insert(LOCATION, location);
            }
            response
        }
        Err(answer) => {
            let message = match answer.error {
                "invalid_credentials" | "mfa_required" | "invalid_token" => {
                    "Wrong username, password or code."
                }
                "account_locked" => "Too many failed attempts. Try again later.",
                "https_required" => "Signing in needs HTTPS.",
                "cross_origin" => "This form must be sent from this site.",
                "temporarily_unavailable" => {
                    "The sign-in service is unavailable. Try again shortly."
                }
                _ => "The sign-in request was not understood.",
            };
            let mut response = html(answer.status, form(&next, Some(message), &username));
            if let Some(seconds) = answer.retry_after {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
    }
}

/// `POST /logout` (the sign-out button): revokes the session and returns to `/login`.
pub async fn logout(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let result = async {
        let presented = Presented::read(&parts.headers, None)
            .map_err(|e| Answer::invalid_request(e.to_string()))?;
        let Some(token) = presented.session_cookie else {
            return Ok(0);
        };
        let own = own_origin(&state.policy, &parts.headers, &parts.uri);
        check_same_origin(&state.policy, &parts.headers, own.as_ref())
            .map_err(|_| Answer::cross_origin())?;
        end_session(&state, &token).await
    }
    .await;
    match result {
        Ok(_) => {
            let mut response = html(
                StatusCode::SEE_OTHER,
                page("Signed out", "<p>Signed out.</p>"),
            );
            let headers = response.headers_mut();
            headers.append(SET_COOKIE, clear_cookie(SESSION_COOKIE));
            headers.append(SET_COOKIE, clear_cookie(ELEVATED_COOKIE));
            headers.insert(LOCATION, HeaderValue::from_static("/login"));
            response
        }
        Err(answer) => html(
            answer.status,
            page(
                "Sign out failed",
                &format!("<p class=\"error\">{}</p>", escape(&answer.description)),
            ),
        ),
    }
}

/// The fields of the login form.
#[derive(Default)]
struct LoginForm {
    username: String,
    password: String,
    totp_code: String,
    next: Option<String>,
}

impl LoginForm {
    fn parse(bytes: &[u8]) -> Self {
        let mut form = Self::default();
        for (name, value) in form_urlencoded::parse(bytes) {
            match name.as_ref() {
                "username" => form.username = value.into_owned(),
                "password" => form.password = value.into_owned(),
                "totp_code" => form.totp_code = value.trim().to_owned(),
                "next" => form.next = Some(value.into_owned()),
                _ => {}
            }
        }
        form
    }
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// A refusal as the client prefers it: JSON for APIs; for a browser navigating (GET asking for
/// HTML) and getting 401, the same status and challenge with a page linking to `/login`.
pub fn refusal(
    answer: Answer,
    method: &Method,
    headers: &HeaderMap,
    target: Option<&PathAndQuery>,
) -> Response {
    if answer.status != StatusCode::UNAUTHORIZED || method != Method::GET || !accepts_html(headers)
    {
        return answer.into_response();
    }
    let next = target.map_or("/", |t| t.as_str());
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let body = page(
        "Sign in required",
        &format!(
            "<p>You need to sign in to see this page.</p>\
             <p><a id=\"login-link\" href=\"/login?next={}\">Sign in</a></p>",
            escape(&next)
        ),
    );
    let mut response = (answer.status, Html(body)).into_response();
    answer.apply_headers(response.headers_mut());
    apply_page_headers(response.headers_mut());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_this_edge() {
        assert_eq!(safe_next(Some("/private?x=1")), "/private?x=1");
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "/a b",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert!(form("/\"><script>", None, "").contains("/&quot;&gt;&lt;script&gt;"));
    }

    #[test]
    fn the_form_has_the_three_fields() {
        let page = form("/", Some("Wrong username, password or code."), "<b>");
        assert!(page.contains("value=\"&lt;b&gt;\""));
        for id in [
            "id=\"username\"",
            "id=\"password\"",
            "id=\"totp_code\"",
            "id=\"error\"",
        ] {
            assert!(page.contains(id), "{id}");
        }
    }

    #[test]
    fn form_fields_parse() {
        let form =
            LoginForm::parse(b"username=al%20ice&password=p%26ss&totp_code=+123456+&next=%2Fx");
        assert_eq!(form.username, "al ice");
        assert_eq!(form.password, "p&ss");
        assert_eq!(form.totp_code, "123456");
        assert_eq!(form.next.as_deref(), Some("/x"));
    }
}
