//! Tests of the JWT resolver.

use serde_json::json;

use super::*;
use crate::RejectionKind;
use crate::test_support::*;

fn verified_without_subject(id: &str) -> Option<Claim> {
    Some(Claim::Verified(
        TenantId::new(id).unwrap(),
        Credential::default(),
    ))
}

fn verified_by(id: &str, issuer: &str) -> Option<Claim> {
    match verified(id) {
        Some(Claim::Verified(tenant, credential)) => Some(Claim::Verified(
            tenant,
            Credential {
                issuer: Some(issuer.to_owned()),
                ..credential
            },
        )),
        other => other,
    }
}

fn verified(id: &str) -> Option<Claim> {
    // `claims` names the subject `user-1`, and no scopes.
    Some(Claim::Verified(
        TenantId::new(id).unwrap(),
        Credential {
            subject: Some("user-1".to_owned()),
            issuer: None,
            scopes: None,
        },
    ))
}

/// The reason `resolver` refuses `token`, checking it is a plain 401.
fn refused(resolver: &JwtResolver, token: &str) -> String {
    let rejection = resolver.resolve(&bearer(token)).expect_err("refused");
    assert_eq!(rejection.kind(), RejectionKind::Unauthenticated);
    rejection.reason().to_owned()
}

fn hs() -> JwtResolver {
    JwtResolver::hs256(SECRET).unwrap()
}

fn rs() -> JwtResolver {
    JwtResolver::rs256_pem(RSA_PUBLIC_PEM).unwrap()
}

#[test]
fn valid_tokens_name_their_tenant() {
    assert_eq!(
        hs().resolve(&bearer(&hs256(&claims("acme")))),
        Ok(verified("acme"))
    );
    assert_eq!(
        rs().resolve(&bearer(&rs256(&claims("acme"), None))),
        Ok(verified("acme"))
    );
    let es = JwtResolver::es256_pem(EC_PUBLIC_PEM).unwrap();
    assert_eq!(
        es.resolve(&bearer(&es256(&claims("acme"), None))),
        Ok(verified("acme"))
    );
    // A key id in the token does not matter with a single configured key.
    assert_eq!(
        rs().resolve(&bearer(&rs256(&claims("acme"), Some("x")))),
        Ok(verified("acme"))
    );
    assert_eq!(hs().algorithm(), JwtAlgorithm::HS256);
    assert_eq!(hs().claim(), "tenant_id");
}

#[test]
fn jwks_keys_are_picked_by_kid() {
    let rs = JwtResolver::from_jwks(JwtAlgorithm::RS256, JWKS).unwrap();
    assert_eq!(
        rs.resolve(&bearer(&rs256(&claims("acme"), Some("rsa-1")))),
        Ok(verified("acme"))
    );
    // Only `rsa-1` is an RS256 signing key (`enc-1` is for encryption), so a token without
    // a kid is verified with it.
    assert_eq!(
        rs.resolve(&bearer(&rs256(&claims("acme"), None))),
        Ok(verified("acme"))
    );
    let unknown = refused(&rs, &rs256(&claims("acme"), Some("enc-1")));
    assert!(unknown.contains("no key has the token's kid"), "{unknown}");
    let forged = refused(&rs, &rs256_other_key(&claims("acme")));
    assert!(forged.contains("InvalidSignature"), "{forged}");

    let es = JwtResolver::from_jwks(JwtAlgorithm::ES256, JWKS).unwrap();
    assert_eq!(
        es.resolve(&bearer(&es256(&claims("acme"), Some("ec-1")))),
        Ok(verified("acme"))
    );
    // The RSA key of the set is not a key of the ES256 resolver.
    let rsa_token = refused(&es, &rs256(&claims("acme"), Some("rsa-1")));
    assert!(
        rsa_token.contains("no key has the token's kid"),
        "{rsa_token}"
    );
}

#[test]
fn jwks_with_several_keys_need_a_kid_in_the_token() {
    let two = json!({ "keys": [
        jwk_with_kid("rsa-1"),
        jwk_with_kid("rsa-2"),
    ]})
    .to_string();
    let resolver = JwtResolver::from_jwks(JwtAlgorithm::RS256, &two).unwrap();
    let reason = refused(&resolver, &rs256(&claims("acme"), None));
    assert!(reason.contains("no kid"), "{reason}");
    assert_eq!(
        resolver.resolve(&bearer(&rs256(&claims("acme"), Some("rsa-2")))),
        Ok(verified("acme"))
    );
}

/// The RSA key of the fixture JWKS under another kid.
fn jwk_with_kid(kid: &str) -> Value {
    let set: Value = serde_json::from_str(JWKS).unwrap();
    let mut key = set["keys"][0].clone();
    key["kid"] = json!(kid);
    key
}

#[test]
fn bad_jwks_documents_are_refused() {
    let cases = [
        ("not json", "not a JWKS document"),
        ("{}", "not a JWKS document"),
        (r#"{"keys": []}"#, "no RS256 signing key"),
        (r#"{"keys": [{"kty": "XYZ"}]}"#, "no RS256 signing key"),
    ];
    for (jwks, expected) in cases {
        let error = JwtResolver::from_jwks(JwtAlgorithm::RS256, jwks).unwrap_err();
        assert!(error.to_string().contains(expected), "{jwks}: {error}");
    }
    let twice = json!({ "keys": [jwk_with_kid("a"), jwk_with_kid("a")] }).to_string();
    let error = JwtResolver::from_jwks(JwtAlgorithm::RS256, &twice).unwrap_err();
    assert!(error.to_string().contains("appears twice"), "{error}");
    let mut no_kid = jwk_with_kid("a");
    no_kid.as_object_mut().unwrap().remove("kid");
    let mixed = json!({ "keys": [jwk_with_kid("a"), no_kid] }).to_string();
    let error = JwtResolver::from_jwks(JwtAlgorithm::RS256, &mixed).unwrap_err();
    assert!(error.to_string().contains("not all have a kid"), "{error}");
    assert!(JwtResolver::from_jwks(JwtAlgorithm::HS256, JWKS).is_err());
}

#[test]
fn bad_keys_are_refused() {
    let short = JwtResolver::hs256(b"short").unwrap_err();
    assert!(short.to_string().contains("at least 32 bytes"), "{short}");
    let private = JwtResolver::rs256_pem(RSA_PRIVATE_PEM).unwrap_err();
    assert!(private.to_string().contains("private key"), "{private}");
    assert!(JwtResolver::es256_pem(EC_PRIVATE_PEM).is_err());
    assert!(JwtResolver::rs256_pem(EC_PUBLIC_PEM).is_err());
    assert!(JwtResolver::es256_pem(RSA_PUBLIC_PEM).is_err());
    assert!(JwtResolver::rs256_pem("garbage").is_err());
    assert!(JwtResolver::rs256_pem("").is_err());
}

#[test]
fn forged_and_tampered_tokens_are_refused() {
    let forged = refused(&rs(), &rs256_other_key(&claims("acme")));
    assert!(forged.contains("InvalidSignature"), "{forged}");
    let wrong_secret = hs256_with_secret(&claims("acme"), b"another secret of 32 bytes or more!");
    assert!(refused(&hs(), &wrong_secret).contains("InvalidSignature"));
    let tampered = with_payload(&hs256(&claims("acme")), &claims("globex"));
    assert!(refused(&hs(), &tampered).contains("InvalidSignature"));
    let tampered = with_payload(&rs256(&claims("acme"), None), &claims("globex"));
    assert!(refused(&rs(), &tampered).contains("InvalidSignature"));
}

#[test]
fn the_algorithm_is_pinned_by_the_key() {
    // `alg: none`, unsigned.
    for resolver in [hs(), rs()] {
        let reason = refused(&resolver, &unsigned(&claims("acme")));
        assert!(reason.starts_with("jwt: "), "{reason}");
    }
    // HS256 signed with the RSA public key as the secret: the classic confusion attack.
    let confused = hs256_with_secret(&claims("acme"), RSA_PUBLIC_PEM.as_bytes());
    assert!(refused(&rs(), &confused).contains("InvalidAlgorithm"));
    // An ES256 token for an RS256 key, an RS256 token for an HS256 secret.
    assert!(refused(&rs(), &es256(&claims("acme"), None)).contains("InvalidAlgorithm"));
    assert!(refused(&hs(), &rs256(&claims("acme"), None)).contains("InvalidAlgorithm"));
}

#[test]
fn exp_is_required_and_checked_with_leeway() {
    let at = |exp: u64| json!({ "tenant_id": "acme", "exp": exp });
    let expired = refused(&hs(), &hs256(&at(now() - 120)));
    assert!(expired.contains("ExpiredSignature"), "{expired}");
    // Within the default 30 s of leeway.
    assert_eq!(
        hs().resolve(&bearer(&hs256(&at(now() - 10)))),
        Ok(verified_without_subject("acme"))
    );
    let strict = hs().with_leeway_seconds(0);
    assert!(refused(&strict, &hs256(&at(now() - 10))).contains("ExpiredSignature"));
    let lenient = hs().with_leeway_seconds(600);
    assert_eq!(
        lenient.resolve(&bearer(&hs256(&at(now() - 120)))),
        Ok(verified_without_subject("acme"))
    );
    let no_exp = refused(&hs(), &hs256(&json!({ "tenant_id": "acme" })));
    assert!(no_exp.contains("MissingRequiredClaim"), "{no_exp}");
    let bad_exp = hs256(&json!({ "tenant_id": "acme", "exp": "tomorrow" }));
    assert!(refused(&hs(), &bad_exp).contains("MissingRequiredClaim"));
    // An absurd leeway is cut to the maximum rather than overflowing.
    let huge = hs().with_leeway_seconds(u64::MAX);
    assert_eq!(
        huge.resolve(&bearer(&hs256(&at(now() - 10)))),
        Ok(verified_without_subject("acme"))
    );
}

#[test]
fn nbf_is_checked() {
    let not_before = |nbf: u64| json!({ "tenant_id": "acme", "exp": now() + 600, "nbf": nbf });
    let early = refused(&hs(), &hs256(&not_before(now() + 300)));
    assert!(early.contains("ImmatureSignature"), "{early}");
    assert_eq!(
        hs().resolve(&bearer(&hs256(&not_before(now() + 5)))),
        Ok(verified_without_subject("acme"))
    );
    assert_eq!(
        hs().resolve(&bearer(&hs256(&not_before(now() - 5)))),
        Ok(verified_without_subject("acme"))
    );
}

#[test]
fn aud_and_iss_are_checked_when_configured() {
    let with = |extra: Value| {
        let mut claims = claims("acme");
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        hs256(&claims)
    };
    let checked = hs()
        .with_audience("graft")
        .with_issuer("https://auth.example.com/");
    let good = json!({ "aud": "graft", "iss": "https://auth.example.com/" });
    assert_eq!(
        checked.resolve(&bearer(&with(good))),
        Ok(verified_by("acme", "https://auth.example.com/"))
    );
    let listed = json!({ "aud": ["other", "graft"], "iss": "https://auth.example.com/" });
    assert_eq!(
        checked.resolve(&bearer(&with(listed))),
        Ok(verified_by("acme", "https://auth.example.com/"))
    );

    let wrong_aud = json!({ "aud": "other", "iss": "https://auth.example.com/" });
    assert!(refused(&checked, &with(wrong_aud)).contains("InvalidAudience"));
    let wrong_iss = json!({ "aud": "graft", "iss": "https://evil.example.com/" });
    assert!(refused(&checked, &with(wrong_iss)).contains("InvalidIssuer"));
    let no_aud = json!({ "iss": "https://auth.example.com/" });
    assert!(refused(&checked, &with(no_aud)).contains("MissingRequiredClaim(\"aud\")"));
    let no_iss = json!({ "aud": "graft" });
    assert!(refused(&checked, &with(no_iss)).contains("MissingRequiredClaim(\"iss\")"));

    // Unconfigured, neither is checked.
    let anything = json!({ "aud": "other", "iss": "https://evil.example.com/" });
    assert_eq!(
        hs().resolve(&bearer(&with(anything))),
        Ok(verified_by("acme", "https://evil.example.com/"))
    );
}

#[test]
fn the_tenant_claim_must_be_a_valid_tenant_id_string() {
    let exp = now() + 600;
    let missing = refused(&hs(), &hs256(&json!({ "exp": exp, "sub": "u" })));
    assert!(missing.contains("no `tenant_id` claim"), "{missing}");
    let number = refused(&hs(), &hs256(&json!({ "exp": exp, "tenant_id": 42 })));
    assert!(number.contains("is a number, not a string"), "{number}");
    let list = refused(&hs(), &hs256(&json!({ "exp": exp, "tenant_id": ["acme"] })));
    assert!(list.contains("is a array"), "{list}");
    for bad in [
        "acme'; DROP TABLE tenants; --",
        "ünïcödé",
        "",
        &"a".repeat(5_000),
    ] {
        let reason = refused(&hs(), &hs256(&json!({ "exp": exp, "tenant_id": bad })));
        assert!(reason.contains("is not a tenant id"), "{reason}");
        assert!(reason.len() < 250, "{reason}");
    }
    let custom = hs().with_claim("https://example.com/org");
    let token = hs256(&json!({ "exp": exp, "https://example.com/org": "globex" }));
    assert_eq!(
        custom.resolve(&bearer(&token)),
        Ok(verified_without_subject("globex"))
    );
    assert!(refused(&custom, &hs256(&claims("acme"))).contains("no `https://example.com/org`"));
}

#[test]
fn only_bearer_credentials_are_input() {
    let token = hs256(&claims("acme"));
    assert_eq!(hs().resolve(&headers(&[])), Ok(None));
    assert_eq!(
        hs().resolve(&headers(&[("authorization", "Basic dXNlcjpwYXNz")])),
        Ok(None)
    );
    assert_eq!(
        hs().resolve(&headers(&[("authorization", "Bearerish x")])),
        Ok(None)
    );
    let lower = headers(&[("authorization", &format!("bearer {token}"))]);
    assert_eq!(hs().resolve(&lower), Ok(verified("acme")));
    let spaced = headers(&[("authorization", &format!("BEARER   {token}"))]);
    assert_eq!(hs().resolve(&spaced), Ok(verified("acme")));

    for bad in [
        "Bearer",
        "Bearer ",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer ....",
    ] {
        let rejection = hs()
            .resolve(&headers(&[("authorization", bad)]))
            .unwrap_err();
        assert_eq!(rejection.kind(), RejectionKind::Unauthenticated, "{bad}");
    }
    let huge = format!("Bearer {}", "a".repeat(1 << 20));
    let reason = hs()
        .resolve(&headers(&[("authorization", &huge)]))
        .unwrap_err();
    assert!(
        reason.reason().contains("1048576 bytes"),
        "{}",
        reason.reason()
    );
    let twice = headers(&[
        ("authorization", &format!("Bearer {token}")),
        ("authorization", &format!("Bearer {token}")),
    ]);
    assert!(
        hs().resolve(&twice)
            .unwrap_err()
            .reason()
            .contains("more than one")
    );
    let mut binary = HeaderMap::new();
    binary.insert(
        AUTHORIZATION,
        http::HeaderValue::from_bytes(b"Bearer \xff\xfe.\xff.\xff").unwrap(),
    );
    assert!(hs().resolve(&binary).is_err());
}

#[test]
fn debug_output_holds_no_secret() {
    let debug = format!("{:?}", hs().with_audience("graft"));
    assert!(
        debug.contains("HS256") && debug.contains("graft"),
        "{debug}"
    );
    assert!(!debug.contains("test-secret"), "{debug}");
}

#[test]
fn the_subject_and_scopes_of_a_token_come_with_its_tenant() {
    let credential = |extra: Value| {
        let mut claims = claims("acme");
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        match hs().resolve(&bearer(&hs256(&claims))) {
            Ok(Some(Claim::Verified(_, credential))) => Ok(credential.scopes),
            Ok(other) => panic!("{other:?}"),
            Err(rejection) => Err(rejection.reason().to_owned()),
        }
    };
    let words = |list: &[&str]| Some(list.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        credential(json!({ "scope": "openid Order:create *:read" })),
        Ok(words(&["openid", "Order:create", "*:read"]))
    );
    assert_eq!(
        credential(json!({ "scp": ["Order:write"] })),
        Ok(words(&["Order:write"]))
    );
    assert_eq!(credential(json!({})), Ok(None));
    assert!(
        credential(json!({ "scope": 7 }))
            .unwrap_err()
            .contains("scope claim")
    );
    assert!(
        credential(json!({ "scp": [1] }))
            .unwrap_err()
            .contains("non-string")
    );
}

#[tokio::test]
async fn a_token_whose_scopes_grant_nothing_of_graft_gets_the_default_scopes() {
    use graft_resolve::{Action, Isolation, Permissions, TenantRecord};
    let store = crate::StaticTenants::new([(
        TenantRecord::active(TenantId::new("acme").unwrap(), Isolation::None),
        vec![],
    )])
    .unwrap();
    let tenancy = crate::Tenancy::new(vec![hs().into()], std::sync::Arc::new(store))
        .with_default_permissions(Permissions::from_scopes(["*:read"]));
    let token = |scope: &str| {
        let mut claims = claims("acme");
        claims["scope"] = scope.into();
        claims["iss"] = "https://idp.example.com/".into();
        bearer(&hs256(&claims))
    };
    let oidc = tenancy.resolve(&token("openid email")).await.unwrap();
    assert!(oidc.permissions.allows("Order", Action::Read));
    assert!(!oidc.permissions.allows("Order", Action::Create));
    assert_eq!(oidc.caller, "jwt:https://idp.example.com/#user-1");
    let writer = tenancy.resolve(&token("openid Order:write")).await.unwrap();
    assert!(writer.permissions.allows("Order", Action::Create));
    assert!(!writer.permissions.allows("Order", Action::Read));
}
