use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::Duration;

use super::*;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn claims() -> Claims {
    let iat = now().unix_timestamp();
    Claims {
        iss: ISSUER.into(),
        sub: Some("7d8f5a3e-2f7c-4d0e-9a59-0b9c4c1f0a11".into()),
        jti: "0b6c7a52-8a4e-4f43-a4cf-64d7a8a1d3e2".into(),
        iat,
        nbf: Some(iat),
        exp: iat + 900,
        namespace: "deploy.".into(),
        permissions: vec!["jobs:read".into()],
        kind: Some("api".into()),
        max_uses: None,
        sid: None,
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn segments(token: &str) -> Vec<&str> {
    token.split('.').collect()
}

/// Re-signs `token`'s payload under `header` with HMAC-SHA256 keyed by `secret`.
fn hs256(header: &str, payload: &str, secret: &[u8]) -> String {
    let input = format!("{}.{payload}", b64(header));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(mac.finalize().into_bytes()))
}

fn check(token: &str, key: &JwtPublicKey, at: OffsetDateTime) -> Result<Claims, JwtError> {
    verify(token, |kid| (kid == key.kid()).then(|| key.clone()), at)
}

#[test]
fn a_signed_token_round_trips_with_the_published_header() {
    let key = JwtSigningKey::generate("k1");
    let token = key.sign(&claims());
    assert!(looks_like_jwt(&token));
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments(&token)[0]).unwrap()).unwrap();
    assert_eq!(
        header,
        serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"})
    );
    assert_eq!(check(&token, &key.public_key(), now()), Ok(claims()));
}

#[test]
fn alg_none_is_refused() {
    let key = JwtSigningKey::generate("k1");
    let token = key.sign(&claims());
    let payload = segments(&token)[1];
    for alg in ["none", "None", "NONE", ""] {
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"k1"}}"#);
        for signature in ["", segments(&token)[2]] {
            let forged = format!("{}.{payload}.{signature}", b64(&header));
            assert_eq!(
                check(&forged, &key.public_key(), now()),
                Err(JwtError::AlgorithmRefused),
                "alg {alg:?}"
            );
        }
    }
    let no_alg = format!("{}.{payload}.", b64(r#"{"typ":"JWT","kid":"k1"}"#));
    assert_eq!(
        check(&no_alg, &key.public_key(), now()),
        Err(JwtError::AlgorithmRefused)
    );
}

#[test]
fn hs256_keyed_with_the_public_key_is_refused() {
    let key = JwtSigningKey::generate("k1");
    let public = key.public_key();
    let token = key.sign(&claims());
    let payload = segments(&token)[1];
    let header = r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#;
    let jwk_json = serde_json::to_string(&public.to_jwk()).unwrap();
    // Every form of the public key an algorithm-confusion attack might try as the HMAC secret.
    for secret in [
        public.to_bytes().to_vec(),
        public.to_jwk().x.into_bytes(),
        jwk_json.into_bytes(),
    ] {
        let forged = hs256(header, payload, &secret);
        assert_eq!(
            check(&forged, &public, now()),
            Err(JwtError::AlgorithmRefused)
        );
    }
    for alg in ["HS384", "RS256", "ES256", "Ed25519", "eddsa", "EdDSA "] {
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"k1"}}"#);
        let forged = format!("{}.{payload}.{}", b64(&header), segments(&token)[2]);
        assert_eq!(
            check(&forged, &public, now()),
            Err(JwtError::AlgorithmRefused),
            "alg {alg:?}"
        );
    }
}

#[test]
fn a_crit_header_is_refused_and_embedded_keys_are_ignored() {
    let key = JwtSigningKey::generate("k1");
    let attacker = JwtSigningKey::generate("k1");
    let token = attacker.sign(&claims());
    let (_, rest) = token.split_once('.').unwrap();
    // The attacker embeds their own public key; Tessera only ever uses its own key for the kid.
    let header = serde_json::json!({
        "alg": "EdDSA", "typ": "JWT", "kid": "k1", "jwk": attacker.public_key().to_jwk(),
    });
    let (payload, _) = rest.split_once('.').unwrap();
    let input = format!("{}.{payload}", b64(header.to_string()));
    let signature = attacker.key.sign(input.as_bytes());
    let forged = format!("{input}.{}", b64(signature.to_bytes()));
    assert_eq!(
        check(&forged, &key.public_key(), now()),
        Err(JwtError::BadSignature)
    );

    let crit = serde_json::json!({"alg": "EdDSA", "kid": "k1", "crit": ["exp"]});
    let input = format!("{}.{payload}", b64(crit.to_string()));
    let signature = key.key.sign(input.as_bytes());
    let token = format!("{input}.{}", b64(signature.to_bytes()));
    assert_eq!(
        check(&token, &key.public_key(), now()),
        Err(JwtError::AlgorithmRefused)
    );
}

#[test]
fn the_kid_must_name_a_known_key() {
    let key = JwtSigningKey::generate("k1");
    let other = JwtSigningKey::generate("k2");
    let token = other.sign(&claims());
    assert_eq!(
        check(&token, &key.public_key(), now()),
        Err(JwtError::UnknownKey)
    );
    // Signed by another key but claiming ours: the signature fails.
    let impostor = JwtSigningKey::from_seed("k1", other.seed().as_ref()).unwrap();
    assert_eq!(
        check(&impostor.sign(&claims()), &key.public_key(), now()),
        Err(JwtError::BadSignature)
    );
    // A key handed over for a different kid is not used.
    let token = key.sign(&claims());
    assert_eq!(
        UnverifiedJwt::parse(&token)
            .unwrap()
            .verify(&other.public_key(), now()),
        Err(JwtError::UnknownKey)
    );
    let no_kid = format!(
        "{}.{}",
        b64(r#"{"alg":"EdDSA","typ":"JWT"}"#),
        token.split_once('.').unwrap().1
    );
    assert_eq!(
        check(&no_kid, &key.public_key(), now()),
        Err(JwtError::UnknownKey)
    );
}

#[test]
fn expiry_is_enforced_to_the_second_and_nbf_with_bounded_skew() {
    let key = JwtSigningKey::generate("k1");
    let public = key.public_key();
    let token = key.sign(&claims());
    let exp = now() + Duration::seconds(900);
    assert!(check(&token, &public, exp - Duration::milliseconds(1)).is_ok());
    assert_eq!(check(&token, &public, exp), Err(JwtError::Expired));
    assert_eq!(
        check(&token, &public, exp + Duration::days(1)),
        Err(JwtError::Expired)
    );
    assert!(check(&token, &public, now() - Duration::seconds(CLOCK_SKEW_SECS)).is_ok());
    assert_eq!(
        check(
            &token,
            &public,
            now() - Duration::seconds(CLOCK_SKEW_SECS + 1)
        ),
        Err(JwtError::NotYetValid)
    );
    let mut wrong_issuer = claims();
    wrong_issuer.iss = "someone-else".into();
    assert_eq!(
        check(&key.sign(&wrong_issuer), &public, now()),
        Err(JwtError::WrongIssuer)
    );
}

#[test]
fn any_tampering_breaks_the_signature() {
    let key = JwtSigningKey::generate("k1");
    let public = key.public_key();
    let token = key.sign(&claims());
    let parts = segments(&token);

    let mut wider = claims();
    wider.namespace = "*".into();
    wider.permissions = vec!["*".into()];
    wider.exp += 86_400;
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(serde_json::to_vec(&wider).unwrap()),
        parts[2]
    );
    assert_eq!(
        check(&tampered, &public, now()),
        Err(JwtError::BadSignature)
    );

    let header = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"EdDSA","kid":"k1","typ":"JWT"}"#),
        parts[1],
        parts[2]
    );
    assert_eq!(check(&header, &public, now()), Err(JwtError::BadSignature));

    for index in 0..parts[2].len() {
        let mut signature = parts[2].as_bytes().to_vec();
        signature[index] = if signature[index] == b'A' { b'B' } else { b'A' };
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            String::from_utf8(signature).unwrap()
        );
        assert!(check(&forged, &public, now()).is_err(), "byte {index}");
    }
    let truncated = &token[..token.len() - 2];
    assert!(check(truncated, &public, now()).is_err());
}

#[test]
fn malformed_text_is_refused_unread() {
    let key = JwtSigningKey::generate("k1");
    let public = key.public_key();
    for text in [
        "",
        "tsr_api_abc",
        "eyJ",
        "eyJhbGciOiJFZERTQSJ9.e30",
        "eyJ.a.b.c",
        "eyJhbGciOiJFZERTQSJ9.e30.a b",
        "eyJub3QganNvbg.e30.AAAA",
    ] {
        assert!(check(text, &public, now()).is_err(), "{text:?}");
    }
    let long = format!("eyJ{}.a.b", "A".repeat(MAX_LEN));
    assert_eq!(check(&long, &public, now()), Err(JwtError::Malformed));
    assert!(!looks_like_jwt("tsr_api_0123456789"));
    assert!(!looks_like_jwt("a.b.c"));
    assert!(looks_like_jwt(&key.sign(&claims())));
}

#[test]
fn keys_round_trip_and_never_print_the_private_half() {
    let key = JwtSigningKey::generate("k1");
    let again = JwtSigningKey::from_seed("k1", key.seed().as_ref()).unwrap();
    assert_eq!(again.public_key(), key.public_key());
    let public = JwtPublicKey::from_bytes("k1", &key.public_key().to_bytes()).unwrap();
    assert_eq!(public, key.public_key());
    assert_eq!(
        JwtPublicKey::from_bytes("k1", &[1; 31]),
        Err(JwtError::BadKey)
    );
    assert_eq!(
        JwtSigningKey::from_seed("k1", &[1; 33]).unwrap_err(),
        JwtError::BadKey
    );
    let shown = format!("{key:?}");
    assert_eq!(shown, "JwtSigningKey(k1, …)");
    assert!(!shown.contains(&b64(key.seed().as_ref())));

    let jwks = Jwks::of([&public]);
    let json: serde_json::Value = serde_json::from_str(&jwks.to_json()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": b64(public.to_bytes()),
            "kid": "k1", "use": "sig", "alg": "EdDSA",
        }]})
    );
    let kid = new_kid(now());
    assert!(kid.starts_with("20270115-"), "{kid}");
    assert_eq!(kid.len(), 9 + 16);
    assert_ne!(new_kid(now()), kid);
}
