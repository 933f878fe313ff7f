//! Tests of the `[tenancy]` configuration: parsing, defaults, and every refused setting.

use super::*;
use crate::test_support::*;

/// The `[tenancy]` table of `toml`, as a server embedding it reads it.
fn parse(toml: &str) -> Result<TenancyConfig, String> {
    #[derive(Deserialize)]
    struct GraftToml {
        tenancy: TenancyConfig,
    }
    toml::from_str::<GraftToml>(toml)
        .map(|file| file.tenancy)
        .map_err(|e| e.to_string())
}

/// Reads the fixture files by name.
fn fixtures(path: &Path) -> io::Result<String> {
    match path.to_str() {
        Some("keys/rsa.pem") => Ok(RSA_PUBLIC_PEM.to_owned()),
        Some("keys/ec.pem") => Ok(EC_PUBLIC_PEM.to_owned()),
        Some("keys/rsa-private.pem") => Ok(RSA_PRIVATE_PEM.to_owned()),
        Some("keys/jwks.json") => Ok(JWKS.to_owned()),
        _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
    }
}

fn env(name: &str) -> Option<String> {
    (name == "GRAFT_JWT_SECRET").then(|| String::from_utf8(SECRET.to_vec()).unwrap())
}

fn build(toml: &str) -> Result<Tenancy, String> {
    let config = parse(toml)?;
    Tenancy::from_config_with_env(&config, fixtures, env).map_err(|e| e.to_string())
}

const FULL: &str = r#"
    [tenancy]
    resolvers = ["jwt", "api_key", "header", "subdomain"]

    [tenancy.header]
    name = "x-org"

    [tenancy.jwt]
    algorithm = "RS256"
    public_key_pem_file = "keys/rsa.pem"
    claim = "org"
    audience = "graft"
    issuer = "https://auth.example.com/"
    leeway_seconds = 10

    [tenancy.api_key]
    header = "x-graft-key"

    [tenancy.subdomain]
    base_domain = "graft.example.com"
    trust_forwarded_host = true

    [[tenancy.tenants]]
    id = "acme"
    isolation = "schema"
    slug = "Acme Corp"

    [[tenancy.tenants]]
    id = "globex"
    isolation = "schema"
    schema = "globex_data"
    api_key_sha256 = ["2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"]

    [[tenancy.tenants]]
    id = "initech"
    status = "suspended"
    isolation = "rows"
"#;

#[tokio::test]
async fn a_full_config_builds_the_chain_and_the_store() {
    let tenancy = build(FULL).unwrap();
    let names: Vec<_> = tenancy.resolvers().iter().map(Resolver::name).collect();
    assert_eq!(names, ["jwt", "api_key", "header", "subdomain"]);

    let claims = serde_json::json!({
        "org": "acme", "aud": "graft", "iss": "https://auth.example.com/",
        "exp": now() + 60,
    });
    let resolved = tenancy
        .resolve(&bearer(&rs256(&claims, None)))
        .await
        .unwrap();
    assert_eq!(resolved.record.id.as_str(), "acme");
    assert_eq!(resolved.record.slug.as_deref(), Some("Acme Corp"));
    assert_eq!(
        resolved.record.isolation,
        Isolation::Schema(SchemaName::new("tenant_acme").unwrap())
    );

    let by_key = headers(&[("x-graft-key", "secret")]);
    let resolved = tenancy.resolve(&by_key).await.unwrap();
    assert_eq!(resolved.record.id.as_str(), "globex");
    assert_eq!(
        resolved.record.isolation,
        Isolation::Schema(SchemaName::new("globex_data").unwrap())
    );
    let by_header = headers(&[("x-org", "initech")]);
    assert_eq!(
        tenancy.resolve(&by_header).await.unwrap_err().code(),
        "TENANT_SUSPENDED"
    );
    let forwarded = headers(&[
        ("host", "internal"),
        ("x-forwarded-host", "acme.graft.example.com"),
    ]);
    assert_eq!(tenancy.resolve(&forwarded).await.unwrap().via, "subdomain");
}

#[test]
fn defaults_fill_what_is_left_out() {
    let config = parse(
        r#"
        [tenancy]
        resolvers = ["header"]
        [[tenancy.tenants]]
        id = "acme"
        "#,
    )
    .unwrap();
    assert_eq!(config.default_tenant, None);
    assert_eq!(config.tenants[0].status, TenantStatus::Active);
    assert_eq!(config.tenants[0].isolation, IsolationKind::None);
    let tenancy = Tenancy::from_config(&config, fixtures).unwrap();
    match &tenancy.resolvers()[0] {
        Resolver::Header(header) => assert_eq!(header.header().as_str(), "x-tenant-id"),
        other => panic!("{other:?}"),
    }
    let nothing = TenancyConfig::default();
    assert!(nothing.resolvers.is_empty() && nothing.tenants.is_empty());
    assert_eq!(nothing.default_tenant, None);
}

#[tokio::test]
async fn jwt_keys_come_from_secrets_env_pem_or_jwks() {
    let tenants = "[[tenancy.tenants]]\nid = \"acme\"\n";
    let cases = [
        format!(
            "algorithm = \"HS256\"\nsecret = {:?}",
            std::str::from_utf8(SECRET).unwrap()
        ),
        "algorithm = \"HS256\"\nsecret_env = \"GRAFT_JWT_SECRET\"".to_owned(),
        "algorithm = \"ES256\"\npublic_key_pem_file = \"keys/ec.pem\"".to_owned(),
        "algorithm = \"ES256\"\njwks_file = \"keys/jwks.json\"".to_owned(),
        "algorithm = \"RS256\"\njwks_file = \"keys/jwks.json\"".to_owned(),
    ];
    for jwt in cases {
        let toml = format!("[tenancy]\nresolvers = [\"jwt\"]\n[tenancy.jwt]\n{jwt}\n{tenants}");
        let tenancy = build(&toml).unwrap_or_else(|e| panic!("{jwt}: {e}"));
        let Resolver::Jwt(resolver) = &tenancy.resolvers()[0] else {
            panic!("{jwt}");
        };
        let token = match resolver.algorithm() {
            JwtAlgorithm::HS256 => hs256(&claims("acme")),
            JwtAlgorithm::RS256 => rs256(&claims("acme"), Some("rsa-1")),
            JwtAlgorithm::ES256 => es256(&claims("acme"), Some("ec-1")),
        };
        let resolved = tenancy.resolve(&bearer(&token)).await;
        assert_eq!(resolved.unwrap().record.id.as_str(), "acme", "{jwt}");
    }
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let config = parse(
        "[tenancy]\nresolvers = [\"jwt\"]\n[tenancy.jwt]\nalgorithm = \"HS256\"\n\
         secret = \"do-not-print-this-secret-0123456789\"\n",
    )
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("do-not-print"), "{debug}");
    assert!(debug.contains("Secret(..)"), "{debug}");
    assert_eq!(
        config.jwt.unwrap().secret.unwrap().expose(),
        "do-not-print-this-secret-0123456789"
    );
}

/// Builds `[tenancy]` + `body` with one tenant `acme`, expecting an error containing
/// `expected`.
#[track_caller]
fn fails(body: &str, expected: &str) {
    let toml = format!("[tenancy]\n{body}\n[[tenancy.tenants]]\nid = \"acme\"\n");
    match build(&toml) {
        Ok(_) => panic!("built:\n{toml}"),
        Err(error) => assert!(error.contains(expected), "{error}\n--- for:\n{toml}"),
    }
}

#[test]
fn wrong_configs_say_what_and_where() {
    fails("resolver = [\"jwt\"]", "unknown field `resolver`");
    fails("resolvers = [\"cookie\"]", "unknown variant `cookie`");
    fails(
        "resolvers = [\"header\", \"header\"]",
        "tenancy.resolvers: `header` appears twice",
    );
    fails("resolvers = []", "tenancy.resolvers: no resolvers");
    fails(
        "resolvers = [\"jwt\"]",
        "tenancy.jwt: `jwt` is in tenancy.resolvers",
    );
    fails(
        "resolvers = [\"subdomain\"]",
        "tenancy.subdomain: `subdomain` is in",
    );
    fails(
        "resolvers = [\"header\"]\n[tenancy.jwt]\nalgorithm = \"HS256\"",
        "tenancy.jwt: the section is set but `jwt` is not in tenancy.resolvers",
    );
    fails(
        "resolvers = [\"header\"]\n[tenancy.header]\nname = \"bad name\"",
        "tenancy.header.name: `bad name` is not a valid header name",
    );
    fails(
        "resolvers = [\"subdomain\"]\n[tenancy.subdomain]\nbase_domain = \"\"",
        "tenancy.subdomain.base_domain",
    );
    fails(
        "resolvers = [\"header\"]\n[tenancy.header]\nnmae = \"x\"",
        "unknown field `nmae`",
    );
    fails(
        "resolvers = [\"header\"]\ndefault_tenant = \"nobody\"",
        "`nobody` is not one of",
    );
    fails(
        "resolvers = [\"header\"]\ndefault_tenant = \"bad id\"",
        "tenancy.default_tenant",
    );
}

#[test]
fn wrong_jwt_configs_say_what_and_where() {
    let jwt = |body: &str, expected: &str| {
        fails(
            &format!("resolvers = [\"jwt\"]\n[tenancy.jwt]\n{body}"),
            expected,
        );
    };
    jwt(
        "algorithm = \"RS256\"",
        "tenancy.jwt: RS256 needs exactly one of public_key_pem_file or jwks_file; none is set",
    );
    jwt(
        "algorithm = \"RS256\"\nsecret = \"0123456789abcdef0123456789abcdef\"",
        "tenancy.jwt: RS256 needs exactly one of public_key_pem_file or jwks_file; got secret",
    );
    jwt(
        "algorithm = \"HS256\"\npublic_key_pem_file = \"keys/rsa.pem\"",
        "tenancy.jwt: HS256 needs exactly one of secret or secret_env",
    );
    jwt(
        "algorithm = \"HS256\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n\
         secret_env = \"GRAFT_JWT_SECRET\"",
        "got secret and secret_env",
    );
    jwt(
        "algorithm = \"RS256\"\npublic_key_pem_file = \"keys/rsa.pem\"\n\
         jwks_file = \"keys/jwks.json\"",
        "got public_key_pem_file and jwks_file",
    );
    jwt("algorithm = \"none\"", "unknown variant `none`");
    jwt(
        "algorithm = \"HS256\"\nsecret = \"short\"",
        "tenancy.jwt.secret: an HS256 secret",
    );
    jwt(
        "algorithm = \"HS256\"\nsecret_env = \"UNSET_VARIABLE\"",
        "tenancy.jwt.secret_env: environment variable `UNSET_VARIABLE` is not set",
    );
    jwt(
        "algorithm = \"RS256\"\npublic_key_pem_file = \"keys/missing.pem\"",
        "tenancy.jwt.public_key_pem_file: cannot read keys/missing.pem: no such file",
    );
    jwt(
        "algorithm = \"RS256\"\npublic_key_pem_file = \"keys/rsa-private.pem\"",
        "tenancy.jwt.public_key_pem_file: keys/rsa-private.pem: the PEM holds a private key",
    );
    jwt(
        "algorithm = \"RS256\"\npublic_key_pem_file = \"keys/ec.pem\"",
        "not an RSA public key",
    );
    jwt(
        "algorithm = \"HS256\"\njwks_file = \"keys/jwks.json\"",
        "HS256 needs exactly one of secret or secret_env",
    );
    jwt(
        "algorithm = \"RS256\"\njwks_file = \"keys/rsa.pem\"",
        "tenancy.jwt.jwks_file: keys/rsa.pem: not a JWKS document",
    );
    jwt(
        "algorithm = \"RS256\"\npublic_key_pem_file = \"keys/rsa.pem\"\nleeway_seconds = 86400",
        "tenancy.jwt.leeway_seconds: 86400 is more than 3600",
    );
    jwt(
        "algorithm = \"RS256\"\npublic_key_pem_file = \"keys/rsa.pem\"\nclaim = \"\"",
        "tenancy.jwt.claim",
    );
}

#[test]
fn wrong_tenants_say_what_and_where() {
    let tenants = |body: &str, expected: &str| {
        let toml = format!("[tenancy]\nresolvers = [\"header\"]\n{body}");
        match build(&toml) {
            Ok(_) => panic!("built:\n{toml}"),
            Err(error) => assert!(error.contains(expected), "{error}\n--- for:\n{toml}"),
        }
    };
    tenants(
        "",
        "tenancy.tenants: no tenants: every request would be refused",
    );
    tenants(
        "[[tenancy.tenants]]\nid = \"bad id\"",
        "tenancy.tenants[0].id: invalid tenant id",
    );
    tenants(
        "[[tenancy.tenants]]\nid = \"a\"\n[[tenancy.tenants]]\nid = \"a\"",
        "tenant `a` appears twice",
    );
    tenants(
        "[[tenancy.tenants]]\nid = \"a\"\nisolation = \"schema\"\nschema = \"a.b\"",
        "tenancy.tenants[0].schema: invalid schema name",
    );
    tenants(
        "[[tenancy.tenants]]\nid = \"a\"\nisolation = \"rows\"\nschema = \"a\"",
        "tenancy.tenants[0].schema: a schema is set but isolation is not \"schema\"",
    );
    tenants(
        "[[tenancy.tenants]]\nid = \"acme\"\nisolation = \"rows\"\n\
         [[tenancy.tenants]]\nid = \"Acme\"\nisolation = \"rows\"",
        "tenancy.tenants[1].id: `Acme` is another tenant's id but for case",
    );
    tenants(
        "[[tenancy.tenants]]\nid = \"a\"\nisolation = \"schema\"\n\
         [[tenancy.tenants]]\nid = \"b\"\nisolation = \"schema\"\nschema = \"tenant_a\"",
        "tenancy.tenants[1].schema: `tenant_a` is another tenant's schema too",
    );
    tenants(
        "[[tenancy.tenants]]\nid = \"a\"\n[[tenancy.tenants]]\nid = \"b\"\nisolation = \"rows\"",
        "tenancy.tenants[0].isolation: \"none\" serves the whole database unscoped",
    );
    tenants(
        "[[tenancy.tenants]]\nid = \"a\"\nisolation = \"tables\"",
        "unknown variant `tables`",
    );
    tenants(
        "[[tenancy.tenants]]\nid = \"a\"\nstatus = \"gone\"",
        "unknown variant `gone`",
    );
    tenants(
        "[[tenancy.tenants]]\nid = \"a\"\napi_key_sha256 = [\"secret\"]",
        "tenancy.tenants[0].api_key_sha256[0]: an API key hash is",
    );
    // A schema name derived from a 63-character id is too long, and says so.
    let long = "a".repeat(63);
    tenants(
        &format!("[[tenancy.tenants]]\nid = \"{long}\"\nisolation = \"schema\""),
        "tenancy.tenants[0].schema",
    );
}

#[test]
fn a_tenancy_that_would_refuse_every_request_is_refused() {
    let nothing = build("[tenancy]\n").unwrap_err();
    assert!(nothing.contains("tenancy.tenants: no tenants"), "{nothing}");
    let no_default = build("[tenancy]\n[[tenancy.tenants]]\nid = \"acme\"\n").unwrap_err();
    assert!(
        no_default.contains(
            "tenancy.resolvers: no resolvers and no default_tenant: every request would be \
             refused"
        ),
        "{no_default}"
    );
    let no_tenants = build("[tenancy]\nresolvers = [\"header\"]\ndefault_tenant = \"acme\"\n");
    assert!(
        no_tenants
            .unwrap_err()
            .contains("tenancy.tenants: no tenants")
    );
    let empty = TenancyConfig {
        resolvers: vec![ResolverKind::Header],
        ..TenancyConfig::default()
    };
    let error = Tenancy::from_config(&empty, fixtures).unwrap_err();
    assert!(error.to_string().contains("no tenants"), "{error}");
}

#[tokio::test]
async fn a_default_tenant_without_resolvers_serves_every_request() {
    let tenancy = build(
        "[tenancy]\ndefault_tenant = \"acme\"\n[[tenancy.tenants]]\nid = \"acme\"\n\
         isolation = \"rows\"\n",
    )
    .unwrap();
    assert!(tenancy.resolvers().is_empty());
    let resolved = tenancy.resolve(&headers(&[])).await.unwrap();
    assert_eq!(
        (
            resolved.record.id.as_str(),
            resolved.via,
            resolved.authenticated
        ),
        ("acme", "default", false)
    );
    assert_eq!(resolved.record.isolation, Isolation::Rows);
    // A tenant header is not looked at without a header resolver.
    let named = headers(&[("x-tenant-id", "globex")]);
    assert_eq!(
        tenancy.resolve(&named).await.unwrap().record.id.as_str(),
        "acme"
    );
}

#[test]
fn unknown_keys_are_refused() {
    let error = parse("[tenancy]\nrequired = false\n").unwrap_err();
    assert!(error.contains("unknown field `required`"), "{error}");
}

#[tokio::test]
async fn api_keys_and_default_scopes_give_permissions() {
    let tenancy = build(
        r#"
        [tenancy]
        resolvers = ["api_key", "header"]
        default_scopes = ["*:read"]
        [[tenancy.tenants]]
        id = "acme"
        api_key_sha256 = ["2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"]
        [[tenancy.tenants.api_keys]]
        sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        scopes = ["Order:write"]
        "#,
    )
    .unwrap();
    use graft_resolve::Action;
    // `printf %s secret | sha256sum` and `printf %s test | sha256sum`.
    let plain = tenancy
        .resolve(&headers(&[("x-api-key", "secret")]))
        .await
        .unwrap();
    assert!(plain.permissions.allows("Order", Action::Read));
    assert!(!plain.permissions.allows("Order", Action::Create));
    let writer = tenancy
        .resolve(&headers(&[("x-api-key", "test")]))
        .await
        .unwrap();
    assert!(writer.permissions.allows("Order", Action::Delete));
    assert!(!writer.permissions.allows("Order", Action::Read));
    let named = tenancy
        .resolve(&headers(&[("x-tenant-id", "acme")]))
        .await
        .unwrap();
    assert_eq!(named.caller, "anonymous");
    assert!(!named.permissions.allows("Customer", Action::Update));
}

#[test]
fn scopes_that_grant_nothing_are_refused() {
    let refused = |toml: &str| build(toml).err().unwrap_or_default();
    assert!(
        refused(
            "[tenancy]\nresolvers = [\"header\"]\ndefault_scopes = [\"Order:drop\"]\n[[tenancy.tenants]]\nid = \"a\""
        )
        .contains("tenancy.default_scopes: \"Order:drop\" is not a scope graft grants")
    );
    let key = "[tenancy]\nresolvers = [\"api_key\"]\n[[tenancy.tenants]]\nid = \"a\"\n[[tenancy.tenants.api_keys]]\nsha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\nscopes = [\"read\"]";
    assert!(
        refused(key).contains("tenancy.tenants[0].api_keys[0].scopes"),
        "{}",
        refused(key)
    );
}
