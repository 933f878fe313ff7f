//! The entity cache in front of a real SQLite source: what it answers from memory, what it
//! fetches, and what it forgets after a write.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use graft_cache::{CacheConfig, CachedSource, EntityCache};
use graft_db::sqlite::SqliteSource;
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::{
    EntitySource, FetchRequest, Isolation, RequestContext, SourceObserver, TenantId, UpdateRequest,
    WriteValue,
};
use graft_schema::SubgraphSchema;

mod common;
use common::{DDL, Paused, SDL, Statements, id, some, text_rows};

struct Fixture {
    schema: SubgraphSchema,
    source: CachedSource,
    cache: Arc<EntityCache>,
    statements: Arc<Statements>,
}

async fn fixture_with(
    inner: impl FnOnce(Arc<dyn EntitySource>) -> Arc<dyn EntitySource>,
    ttl: Duration,
) -> Fixture {
    let schema = SubgraphSchema::parse(SDL, "cache.graphql").expect("valid");
    let db = SqliteSource::in_memory("db").await.expect("opens");
    db.run_script("ddl", DDL).await.expect("ddl");
    let types = ["User", "Badge"]
        .into_iter()
        .map(|t| (apollo_compiler::Name::new(t).unwrap(), ttl))
        .collect::<HashMap<_, _>>();
    let cache = EntityCache::new(&CacheConfig {
        max_bytes: 1 << 20,
        types,
        tables: HashMap::new(),
    });
    let source = CachedSource::new(inner(Arc::new(db)), Arc::clone(&cache));
    Fixture {
        schema,
        source,
        cache,
        statements: Arc::new(Statements::default()),
    }
}

async fn fixture() -> Fixture {
    fixture_with(|db| db, Duration::from_secs(60)).await
}

impl Fixture {
    fn ctx(&self, tenant: &str) -> RequestContext {
        RequestContext::new("test")
            .for_tenant(TenantId::new(tenant).unwrap(), Isolation::None)
            .observed_by(Arc::clone(&self.statements) as Arc<dyn SourceObserver>)
    }

    fn statements(&self) -> usize {
        self.statements.0.load(Ordering::SeqCst)
    }

    /// Fields `fields` of `type_name`'s rows with `keys` (by key `index`), as text per key.
    async fn fetch(
        &self,
        tenant: &str,
        type_name: &str,
        keys: &[EntityKey],
        fields: &[&str],
    ) -> Vec<Option<Vec<String>>> {
        let mapping = self.schema.mapping(type_name).expect("mapped");
        let columns: Vec<usize> = fields
            .iter()
            .map(|f| mapping.column_index(f).expect("a field"))
            .collect();
        let refs: Vec<&EntityKey> = keys.iter().collect();
        let index = keys[0].key_index();
        let rows = self
            .source
            .fetch(
                &self.ctx(tenant),
                FetchRequest::by_key(mapping, index, &refs, &columns),
            )
            .await
            .expect("fetches");
        text_rows(&rows, keys.len())
    }

    async fn rename(&self, tenant: &str, user: i64, name: &str, commit: bool) {
        let mapping = self.schema.mapping("User").unwrap();
        let key = id("User", user);
        let mut work = self.source.begin(&self.ctx(tenant)).await.expect("begins");
        let column = mapping.column_index("name").unwrap();
        work.update(UpdateRequest {
            mapping,
            match_columns: mapping.key_columns(KeyIndex(0)),
            key: &key,
            set: &[(column, WriteValue::Text(name.to_owned()))],
            returning: &[column],
        })
        .await
        .expect("updates");
        if commit {
            work.commit().await.expect("commits");
        } else {
            work.rollback().await.expect("rolls back");
        }
    }
}

#[tokio::test]
async fn a_second_lookup_is_answered_from_memory_whatever_it_selects() {
    let f = fixture().await;
    let keys = [id("User", 1), id("User", 2)];
    assert_eq!(
        f.fetch("a", "User", &keys, &["name"]).await,
        [some(&["Ada"]), some(&["Bob"])]
    );
    assert_eq!(f.statements(), 1, "one statement for the group");
    // Another selection of the same entities: projected from the kept rows.
    assert_eq!(
        f.fetch("a", "User", &keys, &["email", "id"]).await,
        [some(&["ada@example.com", "1"]), some(&["null", "2"])]
    );
    assert_eq!(f.statements(), 1, "no statement for hits");
    // A group of hits and misses: one statement, for the misses only.
    let mixed = [id("User", 2), id("User", 3), id("User", 1)];
    assert_eq!(
        f.fetch("a", "User", &mixed, &["name"]).await,
        [some(&["Bob"]), None, some(&["Ada"])]
    );
    assert_eq!(f.statements(), 2);
    // A missing row is not kept: asked again, it is read again.
    f.fetch("a", "User", &[id("User", 3)], &["name"]).await;
    assert_eq!(f.statements(), 3);
    // Types not configured pass through.
    f.fetch("a", "Note", &[id("Note", 1)], &["text"]).await;
    f.fetch("a", "Note", &[id("Note", 1)], &["text"]).await;
    assert_eq!(f.statements(), 5);
}

#[tokio::test]
async fn tenants_never_share_an_entry() {
    let f = fixture().await;
    f.fetch("a", "User", &[id("User", 1)], &["name"]).await;
    f.fetch("b", "User", &[id("User", 1)], &["name"]).await;
    assert_eq!(f.statements(), 2, "tenant b's lookup is its own");
    f.fetch("b", "User", &[id("User", 1)], &["name"]).await;
    assert_eq!(f.statements(), 2);
}

#[tokio::test]
async fn a_committed_write_is_seen_at_once_and_a_rolled_back_one_forgets_nothing() {
    let f = fixture().await;
    let ada = [id("User", 1)];
    f.fetch("a", "User", &ada, &["name"]).await;
    f.rename("a", 1, "Ada L.", false).await;
    let before = f.statements();
    assert_eq!(
        f.fetch("a", "User", &ada, &["name"]).await,
        [some(&["Ada"])]
    );
    assert_eq!(f.statements(), before, "a rollback keeps the entry");
    f.rename("a", 1, "Ada L.", true).await;
    let after_write = f.statements();
    assert_eq!(
        f.fetch("a", "User", &ada, &["name"]).await,
        [some(&["Ada L."])]
    );
    assert_eq!(
        f.statements(),
        after_write + 1,
        "read again after the commit"
    );
    assert_eq!(f.cache.stats().invalidations.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_type_with_two_keys_is_flushed_whole_by_a_write() {
    let f = fixture().await;
    let by_code = EntityKey::new(
        apollo_compiler::Name::new("Badge").unwrap(),
        KeyIndex(1),
        vec![KeyValue::String("gold".into())],
    );
    f.fetch("a", "Badge", std::slice::from_ref(&by_code), &["label"])
        .await;
    f.fetch("a", "Badge", &[id("Badge", 1)], &["label"]).await;
    assert_eq!(f.statements(), 2);
    let mapping = f.schema.mapping("Badge").unwrap();
    let code = mapping.column_index("code").unwrap();
    let mut work = f.source.begin(&f.ctx("a")).await.unwrap();
    work.update(UpdateRequest {
        mapping,
        match_columns: mapping.key_columns(KeyIndex(0)),
        key: &id("Badge", 1),
        set: &[(code, WriteValue::Text("platinum".to_owned()))],
        returning: &[code],
    })
    .await
    .unwrap();
    work.commit().await.unwrap();
    // The row is no longer found by its old code, though it was cached under it.
    assert_eq!(
        f.fetch("a", "Badge", std::slice::from_ref(&by_code), &["label"])
            .await,
        [None]
    );
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let f = fixture_with(|db| db, Duration::from_millis(50)).await;
    f.fetch("a", "User", &[id("User", 1)], &["name"]).await;
    f.fetch("a", "User", &[id("User", 1)], &["name"]).await;
    assert_eq!(f.statements(), 1);
    tokio::time::sleep(Duration::from_millis(80)).await;
    f.fetch("a", "User", &[id("User", 1)], &["name"]).await;
    assert_eq!(f.statements(), 2);
}

#[tokio::test]
async fn a_read_that_a_write_overtook_is_not_kept() {
    let go = Arc::new(tokio::sync::Notify::new());
    let reached = Arc::new(tokio::sync::Notify::new());
    let hold = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let f = Arc::new(
        fixture_with(
            |db| {
                Arc::new(Paused {
                    inner: db,
                    go: Arc::clone(&go),
                    reached: Arc::clone(&reached),
                    hold: Arc::clone(&hold),
                })
            },
            Duration::from_secs(60),
        )
        .await,
    );
    // The read gets the old row from the database, then stalls before keeping it...
    let reader = {
        let f = Arc::clone(&f);
        tokio::spawn(async move { f.fetch("a", "User", &[id("User", 1)], &["name"]).await })
    };
    reached.notified().await;
    // ...while a write commits a new name...
    f.rename("a", 1, "Ada L.", true).await;
    go.notify_one();
    assert_eq!(
        reader.await.unwrap(),
        [some(&["Ada"])],
        "it answers what it read"
    );
    // ...so what it read is not kept: the next lookup reads the new name.
    assert_eq!(
        f.fetch("a", "User", &[id("User", 1)], &["name"]).await,
        [some(&["Ada L."])]
    );
    assert_eq!(
        f.cache.stats().stale_reads_dropped.load(Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn a_write_under_one_spelling_of_a_key_reaches_every_other() {
    let f = fixture().await;
    // A `@belongsTo` from an `Int` column looks the user up by an integer...
    let by_int = EntityKey::new(
        apollo_compiler::Name::new("User").unwrap(),
        KeyIndex(0),
        vec![KeyValue::Int(1)],
    );
    assert_eq!(
        f.fetch("a", "User", std::slice::from_ref(&by_int), &["name"])
            .await,
        [some(&["Ada"])]
    );
    // ...a mutation writes it by its `ID`, a string...
    f.rename("a", 1, "Ada L.", true).await;
    // ...and the integer spelling is not answered from memory with the old name.
    assert_eq!(
        f.fetch("a", "User", std::slice::from_ref(&by_int), &["name"])
            .await,
        [some(&["Ada L."])]
    );
}

#[tokio::test]
async fn a_destroyed_tenants_entries_are_forgotten_and_no_one_elses() {
    let f = fixture().await;
    f.fetch("a", "User", &[id("User", 1)], &["name"]).await;
    f.fetch("b", "User", &[id("User", 1)], &["name"]).await;
    assert_eq!(f.statements(), 2);
    f.cache
        .invalidate_tenant(&TenantId::new("a").unwrap())
        .await;
    f.fetch("a", "User", &[id("User", 1)], &["name"]).await;
    assert_eq!(f.statements(), 3, "a's entry is gone");
    f.fetch("b", "User", &[id("User", 1)], &["name"]).await;
    assert_eq!(f.statements(), 3, "b's stays");
}
