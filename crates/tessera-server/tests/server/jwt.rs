//! JWTs over real gRPC against a real PostgreSQL: signatures that verify with GetJwks' keys alone,
//! key rotation with the real `tessera keys rotate`, revocation, use limits, expiry, and the
//! forgeries a verifier must refuse (alg none, HS256 keyed with the public key, tampered claims,
//! foreign keys).

use std::{process::Command, time::Duration};

use crate::common::*;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tessera_core::clock::Clock as _;
use tessera_proto::v1 as pb;
use tessera_rules::role::Role;
use tessera_server::settings::AuthSettings;
use tessera_store::testing::TestDatabase;
use tonic::Code;

fn jwt_request(
    ttl: &str,
    max_uses: u32,
    namespace: &str,
    permissions: &[&str],
) -> pb::IssueTokenRequest {
    pb::IssueTokenRequest {
        ttl: ttl.into(),
        max_uses,
        namespace: namespace.into(),
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
        format: pb::TokenFormat::Jwt as i32,
        ..Default::default()
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode(segment: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("json")
}

fn parts(token: &str) -> [&str; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has three parts");
    [parts[0], parts[1], parts[2]]
}

fn kid_of(token: &str) -> String {
    decode(parts(token)[0])["kid"]
        .as_str()
        .expect("kid")
        .to_owned()
}

async fn jwks(server: &TestServer) -> pb::GetJwksResponse {
    // No credential: the key set is public.
    server
        .client()
        .get_jwks(pb::GetJwksRequest {})
        .await
        .expect("GetJwks")
        .into_inner()
}

/// Verifies `token` with the key its `kid` names in `jwks`, using only ed25519-dalek and the JWKS
/// JSON document (as an outside verifier would), and returns its claims.
fn verify_with_jwks(token: &str, jwks: &pb::GetJwksResponse) -> Value {
    let document: Value = serde_json::from_str(&jwks.jwks_json).expect("jwks json");
    let [header, payload, signature] = parts(token);
    let header = decode(header);
    assert_eq!(header["alg"], "EdDSA");
    let key = document["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is in the JWKS");
    assert_eq!(
        (&key["kty"], &key["crv"], &key["use"], &key["alg"]),
        (
            &json!("OKP"),
            &json!("Ed25519"),
            &json!("sig"),
            &json!("EdDSA")
        )
    );
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(key["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .unwrap()
        .try_into()
        .unwrap();
    let signing_input = &token[..token.rfind('.').unwrap()];
    VerifyingKey::from_bytes(&x)
        .unwrap()
        .verify_strict(signing_input.as_bytes(), &Signature::from_bytes(&signature))
        .expect("the JWKS key verifies the signature");
    decode(payload)
}

/// An admin account's session, to introspect with: a `user` account sees only its own tokens.
async fn introspector(server: &TestServer) -> String {
    server.session(Role::Admin).await.1
}

async fn active(server: &TestServer, caller: &str, token: &str) -> bool {
    server.introspect(caller, token).await.unwrap().active
}

#[tokio::test]
async fn a_jwt_verifies_against_get_jwks_and_introspects_active() {
    let server = TestServer::start().await;
    let (user_id, session) = server.session(Role::User).await;
    let issued = server
        .issue(&session, jwt_request("15m", 0, "deploy.", &["jobs:read"]))
        .await
        .unwrap();
    assert!(!issued.token.starts_with("tsr_"));
    let header = decode(parts(&issued.token)[0]);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "JWT");
    assert!(!header["kid"].as_str().unwrap().is_empty());

    let keys = jwks(&server).await;
    assert_eq!(keys.keys.len(), 1, "a fresh server has made its first key");
    let document: Value = serde_json::from_str(&keys.jwks_json).unwrap();
    assert_eq!(document["keys"][0]["x"], keys.keys[0].x.as_str());
    assert_eq!(document["keys"][0]["kid"], keys.keys[0].kid.as_str());
    assert_eq!(keys.keys[0].r#use, "sig");

    let claims = verify_with_jwks(&issued.token, &keys);
    assert_eq!(claims["jti"], issued.token_id.as_str());
    assert_eq!(claims["sub"], user_id.to_string().as_str());
    assert_eq!(claims["iss"], "tessera");
    assert_eq!(claims["namespace"], "deploy.");
    assert_eq!(claims["permissions"], json!(["jobs:read"]));
    assert_eq!(claims["kind"], "api");
    let expires_at = issued.expires_at.unwrap().seconds;
    assert_eq!(claims["exp"], expires_at);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        15 * 60
    );

    let seen = server.introspect(&session, &issued.token).await.unwrap();
    assert!(seen.active);
    assert_eq!(seen.token_id, issued.token_id);
    assert_eq!(seen.namespace, "deploy.");
    assert_eq!(seen.permissions, vec!["jobs:read"]);
    assert_eq!(seen.subject, user_id.to_string());

    // A JWT is a bearer credential like any other token.
    let service = server
        .issue(&session, jwt_request("10m", 0, "", &["introspect"]))
        .await
        .unwrap();
    assert!(active(&server, &service.token, &issued.token).await);
    let checked = server
        .client()
        .check_namespace(authed(
            pb::CheckNamespaceRequest {
                token: issued.token.clone(),
                identifiers: vec!["deploy.daily".into(), "backup.x".into()],
                action: String::new(),
            },
            &service.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(checked.active);
    assert_eq!(
        checked
            .results
            .iter()
            .map(|r| r.allowed)
            .collect::<Vec<_>>(),
        vec![true, false]
    );
}

#[tokio::test]
async fn after_keys_rotate_old_and_new_jwts_both_verify() {
    let db = TestDatabase::new(&tessera_store::MIGRATOR)
        .await
        .expect("test database");
    let server = TestServer::start_on(db.pool.clone(), |s| s).await;
    let (_, session) = server.session(Role::User).await;
    let watcher = introspector(&server).await;
    let old = server
        .issue(&session, jwt_request("1h", 0, "", &[]))
        .await
        .unwrap();
    let old_kid = kid_of(&old.token);

    let tessera = |args: &[&str], totp_key: &str| {
        Command::new(tessera_bin())
            .args(args)
            .env("TESSERA_DATABASE_URL", &db.url)
            .env("TESSERA_TOTP_KEY", totp_key)
            .env("TESSERA_LOG", "warn")
            .output()
            .expect("run tessera")
    };
    let sealing_key = server.totp_key.to_base64();
    let rotated = tessera(&["keys", "rotate", "--json"], &sealing_key);
    assert!(
        rotated.status.success(),
        "keys rotate: {}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let rotated: Value = serde_json::from_slice(&rotated.stdout).expect("rotate --json");
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(rotated["retired"], 1);

    // The server hears of the new key by NOTIFY; poll with a deadline, no fixed sleep.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let new = loop {
        let token = server
            .issue(&session, jwt_request("1h", 0, "", &[]))
            .await
            .unwrap();
        if kid_of(&token.token) == new_kid {
            break token;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never started signing with the rotated key"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let keys = jwks(&server).await;
    let kids: Vec<&str> = keys.keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, vec![old_kid.as_str(), new_kid.as_str()]);
    assert_eq!(
        verify_with_jwks(&old.token, &keys)["jti"],
        old.token_id.as_str()
    );
    assert_eq!(
        verify_with_jwks(&new.token, &keys)["jti"],
        new.token_id.as_str()
    );
    assert!(active(&server, &watcher, &old.token).await);
    assert!(active(&server, &watcher, &new.token).await);

    let listed = tessera(&["keys", "list", "--json"], &sealing_key);
    assert!(listed.status.success());
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("list --json");
    let summary: Vec<(String, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap().to_owned(), k["signing"] == true))
        .collect();
    assert_eq!(summary, vec![(old_kid, false), (new_kid, true)]);

    // A key that cannot open the current one would leave the servers unable to sign: refused.
    let wrong = tessera_core::seal::SealingKey::generate().to_base64();
    let refused = tessera(&["keys", "rotate"], &wrong);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("does not open"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(jwks(&server).await.keys.len(), 2);
}

#[tokio::test]
async fn revoked_and_used_up_jwts_are_inactive() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let watcher = introspector(&server).await;
    // `issue` is asked for by name: a derived token never inherits it.
    let revoked = server
        .issue(&session, jwt_request("1h", 0, "", &["issue"]))
        .await
        .unwrap();
    let child_of_revoked = server
        .issue(&revoked.token, jwt_request("30m", 0, "", &[]))
        .await
        .unwrap();
    let kept = server
        .issue(&session, jwt_request("1h", 0, "", &[]))
        .await
        .unwrap();
    assert!(active(&server, &watcher, &revoked.token).await);
    assert!(active(&server, &watcher, &child_of_revoked.token).await);

    let count = server
        .revoke(
            &session,
            pb::revoke_request::Target::Token(revoked.token.clone()),
        )
        .await
        .unwrap();
    assert_eq!(count, 2, "the JWT and the token derived from it");
    let answer = server.introspect(&watcher, &revoked.token).await.unwrap();
    assert_eq!(
        answer,
        pb::IntrospectResponse::default(),
        "only active: false"
    );
    assert!(!active(&server, &watcher, &child_of_revoked.token).await);
    assert!(active(&server, &watcher, &kept.token).await);

    // Revoking by id works the same; the signature is still valid, the store says no.
    server
        .revoke(
            &session,
            pb::revoke_request::Target::TokenId(kept.token_id.clone()),
        )
        .await
        .unwrap();
    assert!(!active(&server, &watcher, &kept.token).await);

    let single = server
        .issue(&session, jwt_request("1h", 1, "", &[]))
        .await
        .unwrap();
    assert_eq!(
        verify_with_jwks(&single.token, &jwks(&server).await)["max_uses"],
        1
    );
    assert!(active(&server, &watcher, &single.token).await);
    assert!(
        !active(&server, &watcher, &single.token).await,
        "single use"
    );
}

/// Stores a live, unlimited token row under the hash of `text`, as if the store held it.
async fn plant_row(server: &TestServer, text: &str) {
    let mut conn = server.pool.acquire().await.unwrap();
    tessera_store::tokens::insert(
        &mut conn,
        &tessera_store::tokens::NewToken {
            id: uuid::Uuid::new_v4(),
            hash: tessera_rules::token::TokenHash::of(text),
            kind: tessera_rules::token::TokenKind::Api,
            subject: None,
            parent_id: None,
            session_id: None,
            namespace: "*".into(),
            permissions: vec!["*".into()],
            elevated: false,
            description: "planted".into(),
            issued_at: server.clock.now(),
            expires_at: None,
            max_uses: None,
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn forged_and_tampered_jwts_are_refused() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let watcher = introspector(&server).await;
    let genuine = server
        .issue(&session, jwt_request("1h", 0, "deploy.", &["jobs:read"]))
        .await
        .unwrap()
        .token;
    let keys = jwks(&server).await;
    let kid = kid_of(&genuine);
    let public = URL_SAFE_NO_PAD.decode(&keys.keys[0].x).unwrap();
    let [header, payload, signature] = parts(&genuine);

    let mut forgeries: Vec<(String, String)> = Vec::new();
    for alg in ["none", "None", "NONE"] {
        let none = b64(json!({"alg": alg, "typ": "JWT", "kid": kid}).to_string());
        forgeries.push((format!("alg {alg}"), format!("{none}.{payload}.")));
        forgeries.push((
            format!("alg {alg} + sig"),
            format!("{none}.{payload}.{signature}"),
        ));
    }
    // Algorithm confusion: HS256 keyed with the public key, in every form an attacker might try.
    let hs256 = b64(json!({"alg": "HS256", "typ": "JWT", "kid": kid}).to_string());
    for (name, secret) in [
        ("raw public key", public.clone()),
        ("x", keys.keys[0].x.clone().into_bytes()),
        ("jwks json", keys.jwks_json.clone().into_bytes()),
    ] {
        let input = format!("{hs256}.{payload}");
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
        mac.update(input.as_bytes());
        let forged = format!("{input}.{}", b64(mac.finalize().into_bytes()));
        forgeries.push((format!("HS256 with {name}"), forged));
    }
    // Wider claims under the genuine signature.
    let mut claims = decode(payload);
    claims["namespace"] = json!("*");
    claims["permissions"] = json!(["*"]);
    forgeries.push((
        "tampered claims".into(),
        format!("{header}.{}.{signature}", b64(claims.to_string())),
    ));
    let mut later = decode(payload);
    later["exp"] = json!(later["exp"].as_i64().unwrap() + 86_400);
    forgeries.push((
        "extended exp".into(),
        format!("{header}.{}.{signature}", b64(later.to_string())),
    ));
    // Signed properly, but by a key that is not Tessera's.
    let foreign = SigningKey::from_bytes(&[42; 32]);
    for (name, claimed_kid) in [
        ("foreign key, real kid", kid.as_str()),
        ("unknown kid", "nope"),
    ] {
        let head = b64(json!({"alg": "EdDSA", "typ": "JWT", "kid": claimed_kid}).to_string());
        let input = format!("{head}.{payload}");
        let sig = foreign.sign(input.as_bytes());
        forgeries.push((name.into(), format!("{input}.{}", b64(sig.to_bytes()))));
    }

    for (name, forged) in &forgeries {
        // Even a store row under the forgery's own hash must not make it active: the signature is
        // judged first, before any read (this is what fails if local verification is skipped).
        plant_row(&server, forged).await;
        let answer = server.introspect(&watcher, forged).await.unwrap();
        assert_eq!(
            answer,
            pb::IntrospectResponse::default(),
            "{name} must be refused"
        );
        // Not usable as a caller credential either.
        assert_reason(
            server.introspect(forged, &genuine).await,
            Code::Unauthenticated,
            "AUTH_FAILED",
        );
    }
    assert!(
        active(&server, &watcher, &genuine).await,
        "the genuine JWT is untouched"
    );
}

#[tokio::test]
async fn an_expired_jwt_is_refused() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let watcher = introspector(&server).await;
    let token = server
        .issue(&session, jwt_request("1m", 0, "", &[]))
        .await
        .unwrap()
        .token;
    assert!(server.peek(&watcher, &token).await.active);
    server.clock.advance(time::Duration::seconds(59));
    assert!(server.peek(&watcher, &token).await.active);
    server.clock.advance(time::Duration::seconds(1));
    assert_eq!(
        server.peek(&watcher, &token).await,
        pb::IntrospectResponse::default()
    );
}

#[tokio::test]
async fn a_server_without_a_sealing_key_refuses_to_issue_jwts_and_names_the_field() {
    let server = TestServer::start_with(|s| AuthSettings {
        totp_key: None,
        ..s
    })
    .await;
    let (_, session) = server.session(Role::User).await;
    let status = assert_reason(
        server.issue(&session, jwt_request("1h", 0, "", &[])).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(field_of(&status), "format");
    assert!(jwks(&server).await.keys.is_empty());
    // Opaque tokens are unaffected.
    assert!(server
        .issue(&session, pb::IssueTokenRequest::default())
        .await
        .unwrap()
        .token
        .starts_with("tsr_api_"));
}
