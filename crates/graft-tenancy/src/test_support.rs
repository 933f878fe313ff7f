//! Keys, tokens and requests for the unit tests.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderName, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub(crate) const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";
pub(crate) const RSA_PRIVATE_PEM: &str = include_str!("../tests/fixtures/rsa_private.pem");
pub(crate) const RSA_PUBLIC_PEM: &str = include_str!("../tests/fixtures/rsa_public.pem");
pub(crate) const RSA_OTHER_PRIVATE_PEM: &str =
    include_str!("../tests/fixtures/rsa_other_private.pem");
pub(crate) const EC_PRIVATE_PEM: &str = include_str!("../tests/fixtures/ec_private.pem");
pub(crate) const EC_PUBLIC_PEM: &str = include_str!("../tests/fixtures/ec_public.pem");
/// The RSA key as `rsa-1` (RS256), the EC key as `ec-1` (ES256), and the RSA key again as an
/// encryption key `enc-1`.
pub(crate) const JWKS: &str = include_str!("../tests/fixtures/jwks.json");

pub(crate) fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Claims naming `tenant`, valid for ten minutes.
pub(crate) fn claims(tenant: &str) -> Value {
    json!({ "sub": "user-1", "tenant_id": tenant, "exp": now() + 600 })
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

pub(crate) fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        claims,
        &EncodingKey::from_secret(SECRET),
    )
}

pub(crate) fn hs256_with_secret(claims: &Value, secret: &[u8]) -> String {
    sign(
        Algorithm::HS256,
        None,
        claims,
        &EncodingKey::from_secret(secret),
    )
}

pub(crate) fn rs256(claims: &Value, kid: Option<&str>) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).unwrap();
    sign(Algorithm::RS256, kid, claims, &key)
}

pub(crate) fn rs256_other_key(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_OTHER_PRIVATE_PEM.as_bytes()).unwrap();
    sign(Algorithm::RS256, None, claims, &key)
}

pub(crate) fn es256(claims: &Value, kid: Option<&str>) -> String {
    let key = EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).unwrap();
    sign(Algorithm::ES256, kid, claims, &key)
}

/// A token whose header says `alg: none`, unsigned.
pub(crate) fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

/// `token` with its payload replaced by `claims`, keeping the signature.
pub(crate) fn with_payload(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let header = parts.next().unwrap();
    let _payload = parts.next().unwrap();
    let signature = parts.next().unwrap();
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.{signature}")
}

/// Request headers from `(name, value)` pairs.
pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// Request headers carrying `token` as a bearer token.
pub(crate) fn bearer(token: &str) -> HeaderMap {
    headers(&[("authorization", &format!("Bearer {token}"))])
}
