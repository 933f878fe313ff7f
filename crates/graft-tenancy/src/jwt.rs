//! The JWT resolver: a bearer token, verified with the configured key, whose claim names the
//! tenant.

use std::collections::HashSet;
use std::fmt;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use jsonwebtoken::jwk::PublicKeyUse;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use graft_resolve::TenantId;

use crate::TenancyError;
use crate::rejection::{Rejection, excerpt};
use crate::resolver::{Claim, Credential, unauthenticated};

/// The signature algorithms a [`JwtResolver`] verifies. One is pinned per resolver by its key:
/// a token whose header names another (`none` included) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256, with a shared secret.
    HS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, with an RSA public key.
    RS256,
    /// ECDSA on P-256 with SHA-256, with an EC public key.
    ES256,
}

impl JwtAlgorithm {
    /// The algorithm's name, as a token header and the configuration spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::HS256 => "HS256",
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::ES256 => "ES256",
        }
    }

    fn algorithm(self) -> Algorithm {
        match self {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::ES256 => Algorithm::ES256,
        }
    }

    fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            JwtAlgorithm::HS256 => KeyAlgorithm::HS256,
            JwtAlgorithm::RS256 => KeyAlgorithm::RS256,
            JwtAlgorithm::ES256 => KeyAlgorithm::ES256,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key a token may be signed with, and its id in a JWKS.
struct VerifyingKey {
    kid: Option<String>,
    key: DecodingKey,
}

/// Reads `Authorization: Bearer <jwt>`, verifies the token's signature with the configured key
/// and its `exp` (required), `nbf`, `aud` and `iss` (each when configured), and claims the
/// tenant id in its tenant claim (by default `tenant_id`). An authenticated claim.
///
/// The algorithm is fixed by the key the resolver is built with, never taken from the token:
/// `alg: none`, and a token signed with HS256 using an RSA public key as the secret, are
/// refused. A request without a bearer token is absent input (another `Authorization` scheme
/// is not this resolver's input); any bearer token that fails a check is bad input.
pub struct JwtResolver {
    algorithm: JwtAlgorithm,
    keys: Vec<VerifyingKey>,
    validation: Validation,
    claim: Box<str>,
}

impl fmt::Debug for JwtResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<Option<&str>> = self.keys.iter().map(|k| k.kid.as_deref()).collect();
        f.debug_struct("JwtResolver")
            .field("algorithm", &self.algorithm)
            .field("kids", &kids)
            .field("claim", &self.claim)
            .field("audience", &self.validation.aud)
            .field("issuer", &self.validation.iss)
            .field("leeway_seconds", &self.validation.leeway)
            .finish_non_exhaustive()
    }
}

impl JwtResolver {
    /// The claim the tenant id is read from unless configured otherwise.
    pub const DEFAULT_CLAIM: &'static str = "tenant_id";
    /// The clock skew allowed on `exp` and `nbf` unless configured otherwise, in seconds.
    pub const DEFAULT_LEEWAY_SECONDS: u64 = 30;
    /// The largest clock skew allowed, in seconds.
    pub const MAX_LEEWAY_SECONDS: u64 = 3600;
    /// The shortest HS256 secret accepted, in bytes: the size of the hash (RFC 7518, 3.2).
    pub const MIN_SECRET_BYTES: usize = 32;
    /// The longest token accepted, in bytes; longer ones are refused without decoding.
    pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

    /// Verifies HS256 tokens with a shared `secret` of at least
    /// [`MIN_SECRET_BYTES`](Self::MIN_SECRET_BYTES) bytes.
    pub fn hs256(secret: &[u8]) -> Result<JwtResolver, TenancyError> {
        if secret.len() < JwtResolver::MIN_SECRET_BYTES {
            return Err(TenancyError::Config(format!(
                "an HS256 secret needs at least {} bytes; this one has {}",
                JwtResolver::MIN_SECRET_BYTES,
                secret.len()
            )));
        }
        let key = DecodingKey::from_secret(secret);
        Ok(JwtResolver::with_keys(
            JwtAlgorithm::HS256,
            vec![VerifyingKey { kid: None, key }],
        ))
    }

    /// Verifies RS256 tokens with an RSA public key in PEM (`BEGIN PUBLIC KEY` or
    /// `BEGIN RSA PUBLIC KEY`).
    pub fn rs256_pem(pem: &str) -> Result<JwtResolver, TenancyError> {
        refuse_private_key(pem)?;
        let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
            TenancyError::Config(format!("not an RSA public key in PEM ({:?})", e.kind()))
        })?;
        Ok(JwtResolver::with_keys(
            JwtAlgorithm::RS256,
            vec![VerifyingKey { kid: None, key }],
        ))
    }

    /// Verifies ES256 tokens with a P-256 public key in PEM (`BEGIN PUBLIC KEY`).
    pub fn es256_pem(pem: &str) -> Result<JwtResolver, TenancyError> {
        refuse_private_key(pem)?;
        let key = DecodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| {
            TenancyError::Config(format!("not an EC public key in PEM ({:?})", e.kind()))
        })?;
        Ok(JwtResolver::with_keys(
            JwtAlgorithm::ES256,
            vec![VerifyingKey { kid: None, key }],
        ))
    }

    /// Verifies `algorithm` (RS256 or ES256) tokens with the public keys of a JWKS document
    /// (`{"keys": [...]}`), picking the key by the token's `kid`. Keys for another algorithm,
    /// curve or use (`"use": "enc"`), and keys of kinds this library does not know, are
    /// skipped. A token without a `kid` is verified only when one key is left.
    pub fn from_jwks(algorithm: JwtAlgorithm, jwks: &str) -> Result<JwtResolver, TenancyError> {
        if algorithm == JwtAlgorithm::HS256 {
            return Err(TenancyError::Config(
                "HS256 verifies with a shared secret, not a JWKS".to_owned(),
            ));
        }
        #[derive(serde::Deserialize)]
        struct JwkSet {
            keys: Vec<Value>,
        }
        let set: JwkSet = serde_json::from_str(jwks)
            .map_err(|e| TenancyError::Config(format!("not a JWKS document: {e}")))?;
        let mut keys: Vec<VerifyingKey> = Vec::new();
        for (index, raw) in set.keys.into_iter().enumerate() {
            let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
                continue;
            };
            if !verifies(&jwk, algorithm) {
                continue;
            }
            let kid = jwk.common.key_id.clone();
            let key = DecodingKey::from_jwk(&jwk).map_err(|e| {
                TenancyError::Config(format!("JWKS key {index} (kid {kid:?}): {e}"))
            })?;
            if kid.is_some() && keys.iter().any(|k| k.kid == kid) {
                return Err(TenancyError::Config(format!(
                    "JWKS key {index}: kid {kid:?} appears twice"
                )));
            }
            keys.push(VerifyingKey { kid, key });
        }
        if keys.is_empty() {
            return Err(TenancyError::Config(format!(
                "the JWKS has no {algorithm} signing key"
            )));
        }
        if keys.len() > 1 && keys.iter().any(|k| k.kid.is_none()) {
            return Err(TenancyError::Config(format!(
                "the JWKS has {} {algorithm} keys and not all have a kid",
                keys.len()
            )));
        }
        Ok(JwtResolver::with_keys(algorithm, keys))
    }

    fn with_keys(algorithm: JwtAlgorithm, keys: Vec<VerifyingKey>) -> JwtResolver {
        let mut validation = Validation::new(algorithm.algorithm());
        validation.leeway = JwtResolver::DEFAULT_LEEWAY_SECONDS;
        validation.required_spec_claims = HashSet::from(["exp".to_owned()]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        JwtResolver {
            algorithm,
            keys,
            validation,
            claim: JwtResolver::DEFAULT_CLAIM.into(),
        }
    }

    /// The same resolver, reading the tenant id from claim `claim`.
    pub fn with_claim(self, claim: &str) -> JwtResolver {
        JwtResolver {
            claim: claim.into(),
            ..self
        }
    }

    /// The same resolver, requiring `aud` to be (or, as an array, hold) `audience`.
    pub fn with_audience(mut self, audience: &str) -> JwtResolver {
        self.validation.set_audience(&[audience]);
        self.validation.validate_aud = true;
        self.validation
            .required_spec_claims
            .insert("aud".to_owned());
        self
    }

    /// The same resolver, requiring `iss` to be `issuer`.
    pub fn with_issuer(mut self, issuer: &str) -> JwtResolver {
        self.validation.set_issuer(&[issuer]);
        self.validation
            .required_spec_claims
            .insert("iss".to_owned());
        self
    }

    /// The same resolver, allowing `seconds` of clock skew on `exp` and `nbf` (at most
    /// [`MAX_LEEWAY_SECONDS`](Self::MAX_LEEWAY_SECONDS); more is cut to it).
    pub fn with_leeway_seconds(mut self, seconds: u64) -> JwtResolver {
        self.validation.leeway = seconds.min(JwtResolver::MAX_LEEWAY_SECONDS);
        self
    }

    /// The algorithm tokens must be signed with.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// The claim the tenant id is read from.
    pub fn claim(&self) -> &str {
        &self.claim
    }

    /// The tenant id the request's bearer token claims.
    pub fn resolve(&self, headers: &HeaderMap) -> Result<Option<Claim>, Rejection> {
        let mut bearer = headers
            .get_all(AUTHORIZATION)
            .iter()
            .filter_map(|value| bearer_token(value.as_bytes()));
        let Some(token) = bearer.next() else {
            return Ok(None);
        };
        if bearer.next().is_some() {
            return Err(unauthenticated(
                "jwt: the request has more than one bearer token".to_owned(),
            ));
        }
        if token.is_empty() || token.len() > JwtResolver::MAX_TOKEN_BYTES {
            return Err(unauthenticated(format!(
                "jwt: the bearer token has {} bytes; a token has 1 to {}",
                token.len(),
                JwtResolver::MAX_TOKEN_BYTES
            )));
        }
        let Ok(token) = std::str::from_utf8(token) else {
            return Err(unauthenticated(format!(
                "jwt: the bearer token is not ASCII: {}",
                excerpt(token)
            )));
        };
        let key = self.key_for(token)?;
        let claims =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, key, &self.validation)
                .map_err(|e| {
                    let kind = format!("{:?}", e.kind());
                    unauthenticated(format!(
                        "jwt: {}",
                        kind.chars().take(160).collect::<String>()
                    ))
                })?
                .claims;
        let claim = &*self.claim;
        let tenant = match claims.get(claim) {
            None => {
                return Err(unauthenticated(format!(
                    "jwt: the token has no `{claim}` claim"
                )));
            }
            Some(Value::String(tenant)) => tenant,
            Some(other) => {
                return Err(unauthenticated(format!(
                    "jwt: claim `{claim}` is a {}, not a string",
                    json_type(other)
                )));
            }
        };
        match TenantId::new(tenant) {
            Ok(id) => Ok(Some(Claim::Verified(id, credential(&claims)?))),
            Err(_) => Err(unauthenticated(format!(
                "jwt: claim `{claim}` is not a tenant id: {}",
                excerpt(tenant.as_bytes())
            ))),
        }
    }

    /// The key `token` must be signed with: the only one, or the one its `kid` names.
    fn key_for(&self, token: &str) -> Result<&DecodingKey, Rejection> {
        if let [only] = self.keys.as_slice()
            && only.kid.is_none()
        {
            return Ok(&only.key);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| unauthenticated(format!("jwt: bad header: {:?}", e.kind())))?;
        match (header.kid, self.keys.as_slice()) {
            (Some(kid), keys) => keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(&kid))
                .map(|k| &k.key)
                .ok_or_else(|| {
                    unauthenticated(format!(
                        "jwt: no key has the token's kid {}",
                        excerpt(kid.as_bytes())
                    ))
                }),
            (None, [only]) => Ok(&only.key),
            (None, _) => Err(unauthenticated(
                "jwt: the token has no kid and the JWKS has several keys".to_owned(),
            )),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive); `None`
/// for another scheme.
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer";
    let scheme = value.get(..SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let rest = &value[SCHEME.len()..];
    match rest.first() {
        None => Some(rest),
        Some(b' ') => Some(rest.trim_ascii()),
        Some(_) => None,
    }
}

/// Refuses a PEM that holds a private key: a verifier needs only the public key, and a
/// private key in the configuration is a secret in the wrong place.
fn refuse_private_key(pem: &str) -> Result<(), TenancyError> {
    if pem.contains("PRIVATE KEY") {
        return Err(TenancyError::Config(
            "the PEM holds a private key; give the public key (openssl pkey -pubout)".to_owned(),
        ));
    }
    Ok(())
}

/// Whether `jwk` can verify `algorithm` signatures.
fn verifies(jwk: &Jwk, algorithm: JwtAlgorithm) -> bool {
    let common = &jwk.common;
    let for_signatures = !matches!(
        common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    );
    let may_verify = common
        .key_operations
        .as_ref()
        .is_none_or(|ops| ops.contains(&KeyOperations::Verify));
    let right_alg = common
        .key_algorithm
        .is_none_or(|alg| alg == algorithm.key_algorithm());
    let right_kind = match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::RSA(_), JwtAlgorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(ec), JwtAlgorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        _ => false,
    };
    for_signatures && may_verify && right_alg && right_kind
}

/// The JSON type of `value`, for a log line.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests;

/// Who a verified token names (`sub`) and the scopes it grants: `scope`, a space-separated
/// string (RFC 8693), or `scp`, a list of strings or one string. A claim of another shape is
/// refused rather than read as no scopes.
fn credential(claims: &serde_json::Map<String, Value>) -> Result<Credential, Rejection> {
    let subject = match claims.get("sub") {
        None => None,
        Some(Value::String(sub)) if sub.len() <= 255 => Some(sub.clone()),
        Some(other) => {
            return Err(unauthenticated(format!(
                "jwt: claim `sub` is a {} or over 255 bytes, not a subject",
                json_type(other)
            )));
        }
    };
    // Validation checked `iss` when one is configured; any other is kept as text.
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .filter(|iss| iss.len() <= 255)
        .map(str::to_owned);
    let words = |text: &str| text.split_ascii_whitespace().map(str::to_owned).collect();
    let scopes = match (claims.get("scope"), claims.get("scp")) {
        (None, None) => None,
        (Some(Value::String(scope)), _) | (None, Some(Value::String(scope))) => Some(words(scope)),
        (None, Some(Value::Array(items))) => Some(
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| unauthenticated("jwt: claim `scp` holds a non-string".to_owned()))?,
        ),
        (Some(other), _) | (None, Some(other)) => {
            return Err(unauthenticated(format!(
                "jwt: the scope claim is a {}, not a string or a list of strings",
                json_type(other)
            )));
        }
    };
    Ok(Credential {
        subject,
        issuer,
        scopes,
    })
}
