//! The idempotency ledger where tenants' schemas are SQLite files of their own: what the
//! server's periodic sweep (over the shared file) does not reach, a tenant file's own claims
//! keep bounded.

mod common;

use common::unique_name;
use graft_db::sqlite::{SqliteConfig, SqliteSource};
use graft_resolve::{
    EntitySource, Isolation, KeyClaim, LedgerKey, RequestContext, SchemaName, TenantId,
};

/// Where tenants' schemas are SQLite files of their own, which the server's periodic sweep
/// (over the shared file) does not reach, a claim in a tenant's file deletes that file's
/// expired keys once the sweep interval has passed since the file's last sweep.
#[tokio::test]
async fn a_tenant_files_expired_keys_are_swept_by_its_own_claims() {
    let dir = std::env::temp_dir().join(unique_name("sweep"));
    std::fs::create_dir_all(&dir).expect("a directory");
    let mut config = SqliteConfig::new(format!("sqlite://{}/main.db", dir.display()));
    config.tenant_files = Some(format!("sqlite://{}/{{schema}}.db", dir.display()));
    let source = SqliteSource::connect("sqlite", &config)
        .await
        .expect("opens");
    let tenant = TenantId::new("acme").expect("valid");
    let ctx = RequestContext::new("sweep").for_tenant(
        tenant.clone(),
        Isolation::Schema(SchemaName::new("acme").expect("valid")),
    );
    // Each key expires a second after its claim; the second claim comes one sweep interval
    // (10 minutes) after the first.
    for (name, now_ms) in [("k-1", 1_000), ("k-2", 601_000)] {
        let key = LedgerKey {
            tenant: tenant.clone(),
            caller: "jwt:alice".to_owned(),
            key: name.to_owned(),
        };
        let mut work = source.begin(&ctx).await.expect("begins");
        work.claim_key(KeyClaim {
            key: &key,
            body_hash: "h",
            holder: "a",
            now_ms,
            leased_until_ms: now_ms + 100,
            expires_at_ms: now_ms + 1_000,
        })
        .await
        .expect("claims");
        work.commit().await.expect("commits");
    }
    let file = sqlx::SqlitePool::connect(&format!("sqlite://{}/acme.db", dir.display()))
        .await
        .expect("opens the tenant's file");
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT idempotency_key FROM graft_idempotency_keys")
            .fetch_all(&file)
            .await
            .expect("reads");
    file.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        kept,
        ["k-2"],
        "the first key expired before the second claim"
    );
}
