//! The grammar of what an OAuth 2.0 caller sends: the form (RFC 7662 §2.1, RFC 7009 §2.1) and
//! the client credential (RFC 6749 §2.3.1: HTTP Basic with form-urlencoded halves,
//! `client_secret_post`, or `Authorization: Bearer`). Whatever is ambiguous — a repeated member,
//! two authentication methods, two `Authorization` headers — is refused rather than guessed at.

use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::HeaderMap;

use tessera_proto::bounds;

use super::OauthRefusal;
use crate::token::{check_token_syntax, Token};

/// How the caller presented its credential, which decides the challenge of a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic` (`client_secret_basic`).
    Basic,
    /// `Authorization: Bearer`.
    Bearer,
    /// `client_secret` in the form (`client_secret_post`).
    Post,
}

/// The caller's credential: a Tessera token and how it came.
#[derive(Debug, Clone)]
pub struct ClientCredential {
    /// The caller's token (the client secret).
    pub token: Token,
    /// How it was presented.
    pub auth: ClientAuth,
}

/// The form members these endpoints read (RFC 7662 §2.1, RFC 7009 §2.1, RFC 6749 §2.3.1);
/// others are ignored, as RFC 6749 §3.2 asks.
#[derive(Debug, Default)]
pub struct EndpointForm {
    /// The token asked about.
    pub token: Option<String>,
    /// `client_secret` of `client_secret_post`.
    pub client_secret: Option<String>,
}

/// Parses an `application/x-www-form-urlencoded` body. A member given twice is refused (RFC 6749
/// §3.2), and so is a token or secret over the contract's token bound.
pub fn parse_form(body: &[u8]) -> Result<EndpointForm, OauthRefusal> {
    let mut form = EndpointForm::default();
    for (name, value) in form_urlencoded::parse(body) {
        let slot = match name.as_ref() {
            "token" => &mut form.token,
            "client_secret" => &mut form.client_secret,
            _ => continue,
        };
        if slot.is_some() {
            return Err(OauthRefusal::InvalidRequest("a form member is repeated"));
        }
        if value.len() > bounds::TOKEN {
            return Err(OauthRefusal::InvalidRequest(
                "a token or client_secret is over the token length bound",
            ));
        }
        *slot = Some(value.into_owned());
    }
    Ok(form)
}

/// Decodes one `client_secret_basic` half: form-urlencoded, then base64 (RFC 6749 §2.3.1).
fn form_decoded(text: &str) -> Option<String> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

/// The secret of an `Authorization: Basic` value; the client_id is ignored.
fn basic_secret(encoded: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (_client_id, secret) = text.split_once(':')?;
    form_decoded(secret)
}

/// The caller's credential, from `Authorization` or the form; `None` when none was presented.
/// Two methods at once, or two `Authorization` headers, are refused (RFC 6749 §2.3).
pub fn client_credential(
    headers: &HeaderMap,
    form: &EndpointForm,
) -> Result<Option<ClientCredential>, OauthRefusal> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let header = values.next();
    if values.next().is_some() {
        return Err(OauthRefusal::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    let presented = match (header, &form.client_secret) {
        (Some(_), Some(_)) => {
            return Err(OauthRefusal::InvalidRequest(
                "more than one client authentication method",
            ))
        }
        (None, None) => return Ok(None),
        (None, Some(secret)) => (ClientAuth::Post, Some(secret.clone())),
        (Some(value), None) => {
            let text = value.to_str().unwrap_or_default();
            let (scheme, rest) = text.trim().split_once(' ').unwrap_or((text, ""));
            if scheme.eq_ignore_ascii_case("basic") {
                (ClientAuth::Basic, basic_secret(rest))
            } else if scheme.eq_ignore_ascii_case("bearer") {
                (ClientAuth::Bearer, Some(rest.trim().to_owned()))
            } else {
                return Err(OauthRefusal::InvalidClient(
                    None,
                    "client authentication must be Basic, Bearer or client_secret",
                ));
            }
        }
    };
    match presented {
        (auth, Some(secret)) if check_token_syntax(&secret).is_ok() => Ok(Some(ClientCredential {
            token: Token::new(secret),
            auth,
        })),
        (auth, _) => Err(OauthRefusal::InvalidClient(
            Some(auth),
            "the client credential is malformed",
        )),
    }
}
