//! Units of work against the three real databases, the same scenarios on each: every write
//! kind reads its rows back, every constraint is a typed error, and nothing is ever left half
//! written (a failed statement, a dropped or panicking or cancelled unit of work, a connection
//! killed mid-transaction).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{MyDatabase, PgSchema, Seen, SqliteFile, key, seen, unique_name};
use graft_db::mysql::{MysqlConfig, MysqlSource};
use graft_db::postgres::{PostgresConfig, PostgresSource};
use graft_db::sqlite::{SqliteConfig, SqliteSource};
use graft_keys::{EntityKey, KeyValue};
use graft_resolve::{
    ConstraintKind, DeleteRequest, EntitySource, InsertRequest, PageRequest, RequestContext,
    ResolveError, RowSet, SourceErrorKind, SourceEvent, SourceObserver, StatementKind, UnitOfWork,
    UpdateRequest, WriteValue,
};
use graft_schema::{EntityMapping, SubgraphSchema};

const SDL: &str = r#"
type User @key(fields: "id") @table(name: "users") { id: ID! email: String! name: String! age: Int }
type Order @key(fields: "id") @table(name: "orders") { id: ID! userId: Int! total: Int }
"#;

const SQLITE_DDL: &str = "
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL CONSTRAINT users_email UNIQUE,
  name TEXT NOT NULL, age INTEGER CONSTRAINT adult CHECK (age >= 0));
CREATE TABLE orders (id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL CONSTRAINT orders_user REFERENCES users (id), total INTEGER);";

const POSTGRES_DDL: &str = "
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL CONSTRAINT users_email UNIQUE,
  name text NOT NULL, age int CONSTRAINT adult CHECK (age >= 0));
CREATE TABLE orders (id serial PRIMARY KEY,
  user_id int NOT NULL CONSTRAINT orders_user REFERENCES users (id), total int);";

const MYSQL_DDL: &str = "
CREATE TABLE users (id int AUTO_INCREMENT PRIMARY KEY, email varchar(64) NOT NULL,
  name varchar(64) NOT NULL, age int, UNIQUE KEY users_email (email),
  CONSTRAINT adult CHECK (age >= 0)) ENGINE=InnoDB;
CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, user_id int NOT NULL, total int,
  CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id)) ENGINE=InnoDB;";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

/// What keeps a test's database alive, and removes it when dropped.
#[allow(dead_code)]
enum Guard {
    Sqlite(SqliteFile),
    Postgres(PgSchema),
    Mysql(MyDatabase),
}

struct Fixture {
    backend: Backend,
    source: Arc<dyn EntitySource>,
    schema: SubgraphSchema,
    /// The application name PostgreSQL connections carry, to find them.
    application: String,
    guard: Guard,
}

/// A database of `backend` with the tables of [`SDL`] and a pool of `pool` connections.
async fn fixture(backend: Backend, pool: usize) -> Fixture {
    let schema = SubgraphSchema::parse(SDL, "uow.graphql").expect("valid schema");
    let application = unique_name("uow");
    let (source, guard): (Arc<dyn EntitySource>, Guard) = match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("{application}.db"));
            let mut config = SqliteConfig::new(format!("sqlite://{}", path.display()));
            config.max_connections = u32::try_from(pool).expect("a small pool");
            let file = SqliteFile(path);
            let source = SqliteSource::connect("sqlite", &config)
                .await
                .expect("opens");
            source.run_script("ddl", SQLITE_DDL).await.expect("ddl");
            (Arc::new(source), Guard::Sqlite(file))
        }
        Backend::Postgres => {
            let db = PgSchema::create(POSTGRES_DDL).await;
            let mut config =
                PostgresConfig::new(format!("{}&application_name={application}", db.url()));
            config.max_connections = pool;
            let source = PostgresSource::connect("postgres", &config, &schema)
                .await
                .expect("connects");
            (Arc::new(source), Guard::Postgres(db))
        }
        Backend::Mysql => {
            let db = MyDatabase::create(MYSQL_DDL).await;
            let mut config = MysqlConfig::new(db.url());
            config.max_connections = pool;
            let source = MysqlSource::connect("mysql", &config, &schema)
                .await
                .expect("connects");
            (Arc::new(source), Guard::Mysql(db))
        }
    };
    Fixture {
        backend,
        source,
        schema,
        application,
        guard,
    }
}

impl Fixture {
    fn mapping(&self, type_name: &str) -> &EntityMapping {
        self.schema.mapping(type_name).expect("mapped")
    }

    fn columns(&self, type_name: &str) -> Vec<usize> {
        (0..self.mapping(type_name).columns.len()).collect()
    }

    async fn begin(&self) -> Box<dyn UnitOfWork> {
        self.source
            .begin(&RequestContext::new("uow"))
            .await
            .expect("begins")
    }

    /// Every committed row of `type_name`, in key order, outside any transaction.
    async fn committed(&self, type_name: &str) -> Vec<Vec<Seen>> {
        let columns = self.columns(type_name);
        let mapping = self.mapping(type_name);
        let request = PageRequest {
            mapping,
            key_columns: &mapping.key_columns[0],
            after: None,
            limit: 1000,
            columns: &columns,
        };
        let rows = self
            .source
            .page(&RequestContext::new("read"), request)
            .await
            .expect("pages");
        written(&rows)
    }

    /// The email of every committed user, in key order.
    async fn emails(&self) -> Vec<Seen> {
        self.committed("User")
            .await
            .into_iter()
            .map(|row| row[1].clone())
            .collect()
    }

    /// Kills every connection the source holds, on the server.
    async fn kill_connections(&self) {
        match &self.guard {
            Guard::Sqlite(_) => unreachable!("SQLite has no server"),
            Guard::Postgres(_) => {
                let admin = common::pg_admin().await;
                admin
                    .query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1",
                        &[&self.application],
                    )
                    .await
                    .expect("terminates");
            }
            Guard::Mysql(db) => {
                use mysql_async::prelude::Queryable;
                let mut admin = common::mysql_admin().await;
                let ids: Vec<u64> = admin
                    .exec(
                        "SELECT ID FROM information_schema.PROCESSLIST \
                         WHERE DB = ? AND ID <> CONNECTION_ID()",
                        (db.name().to_owned(),),
                    )
                    .await
                    .expect("lists connections");
                for id in ids {
                    let _ = admin.query_drop(format!("KILL {id}")).await;
                }
                let _ = admin.disconnect().await;
            }
        }
    }
}

/// The rows of every position, in order (a write's rows, a page's).
fn written(rows: &RowSet) -> Vec<Vec<Seen>> {
    (0..rows.len())
        .flat_map(|position| rows.rows_of(position))
        .map(|row| common::seen_row(rows, row))
        .collect()
}

fn text(value: &str) -> WriteValue {
    WriteValue::Text(value.to_owned())
}

fn user_key(id: i64) -> EntityKey {
    key("User", vec![KeyValue::Int(id)])
}

/// A user row as read back: id, email, name, age.
fn user(id: i64, email: &str, name: &str, age: Option<i64>) -> Vec<Seen> {
    vec![
        Seen::Int(id),
        Seen::Text(email.to_owned()),
        Seen::Text(name.to_owned()),
        age.map_or(Seen::Null, Seen::Int),
    ]
}

/// Inserts users `(email, name, age)` in one statement, reading back every column.
async fn insert_users(
    fixture: &Fixture,
    work: &mut dyn UnitOfWork,
    users: &[(&str, Option<&str>, Option<i64>)],
) -> Result<RowSet, ResolveError> {
    let mapping = fixture.mapping("User");
    let rows: Vec<Vec<WriteValue>> = users
        .iter()
        .map(|(email, name, age)| {
            vec![
                text(email),
                name.map_or(WriteValue::Null, text),
                age.map_or(WriteValue::Null, WriteValue::Int),
            ]
        })
        .collect();
    let returning = fixture.columns("User");
    work.insert(InsertRequest {
        mapping,
        columns: &[1, 2, 3],
        rows: &rows,
        returning: &returning,
    })
    .await
}

fn constraint(error: ResolveError) -> graft_resolve::ConstraintViolation {
    match error {
        ResolveError::Constraint { violation, .. } => violation,
        other => panic!("expected a constraint violation, got {other:?}"),
    }
}

/// Records the kind of every statement a source reports.
#[derive(Default)]
struct Kinds(std::sync::Mutex<Vec<StatementKind>>);

impl SourceObserver for Kinds {
    fn observe(&self, event: &SourceEvent<'_>) {
        if let SourceEvent::Statement { kind, failed, .. } = event {
            assert!(failed.is_none(), "{event:?}");
            self.0.lock().expect("not poisoned").push(*kind);
        }
    }
}

async fn every_write_kind_reads_its_rows_back(backend: Backend) {
    let fixture = fixture(backend, 2).await;
    let kinds = Arc::new(Kinds::default());
    let mut work = fixture
        .source
        .begin(&RequestContext::new("uow").observed_by(kinds.clone()))
        .await
        .expect("begins");
    let inserted = insert_users(
        &fixture,
        work.as_mut(),
        &[
            ("ada@x.io", Some("Ada"), Some(36)),
            ("grace@x.io", Some("Grace"), None),
        ],
    )
    .await
    .expect("inserts");
    assert_eq!(
        written(&inserted),
        vec![
            user(1, "ada@x.io", "Ada", Some(36)),
            user(2, "grace@x.io", "Grace", None)
        ],
        "generated keys, in insertion order"
    );
    let mapping = fixture.mapping("User");
    let returning = fixture.columns("User");
    let ada = user_key(1);
    let updated = work
        .update(UpdateRequest {
            mapping,
            match_columns: &mapping.key_columns[0],
            key: &ada,
            set: &[(2, text("Ada L.")), (3, WriteValue::Int(37))],
            returning: &returning,
        })
        .await
        .expect("updates");
    assert_eq!(
        written(&updated),
        vec![user(1, "ada@x.io", "Ada L.", Some(37))]
    );
    let grace = user_key(2);
    let deleted = work
        .delete(DeleteRequest {
            mapping,
            match_columns: &mapping.key_columns[0],
            key: &grace,
            returning: &returning,
        })
        .await
        .expect("deletes");
    assert_eq!(
        written(&deleted),
        vec![user(2, "grace@x.io", "Grace", None)]
    );
    // The transaction sees its own writes; nothing is visible outside before the commit.
    let keys = [&ada, &grace];
    let inside = work
        .fetch(graft_resolve::FetchRequest::by_key(
            mapping,
            graft_keys::KeyIndex(0),
            &keys,
            &returning,
        ))
        .await
        .expect("fetches inside");
    assert_eq!(
        seen(&inside, 0),
        Some(user(1, "ada@x.io", "Ada L.", Some(37)))
    );
    assert_eq!(seen(&inside, 1), None);
    assert!(fixture.committed("User").await.is_empty());
    work.commit().await.expect("commits");
    assert_eq!(
        fixture.committed("User").await,
        vec![user(1, "ada@x.io", "Ada L.", Some(37))]
    );
    // Every statement is reported, in order; MariaDB reads an updated row back.
    use StatementKind::{Delete, Fetch, Insert, ReadBack, Transaction, Update};
    let expected = match backend {
        Backend::Mysql => vec![
            Transaction,
            Insert,
            Update,
            ReadBack,
            Delete,
            Fetch,
            Transaction,
        ],
        _ => vec![Transaction, Insert, Update, Delete, Fetch, Transaction],
    };
    assert_eq!(*kinds.0.lock().expect("not poisoned"), expected);
}

async fn a_missing_key_or_one_its_column_cannot_hold_changes_nothing(backend: Backend) {
    let fixture = fixture(backend, 2).await;
    let mut work = fixture.begin().await;
    insert_users(&fixture, work.as_mut(), &[("ada@x.io", Some("Ada"), None)])
        .await
        .expect("inserts");
    let mapping = fixture.mapping("User");
    let returning = fixture.columns("User");
    for missing in [
        user_key(99),
        key("User", vec![KeyValue::String("abc".into())]),
    ] {
        let updated = work
            .update(UpdateRequest {
                mapping,
                match_columns: &mapping.key_columns[0],
                key: &missing,
                set: &[(2, text("Nobody"))],
                returning: &returning,
            })
            .await
            .expect("an update of no row is not an error");
        assert_eq!(updated.row_count(), 0);
        let deleted = work
            .delete(DeleteRequest {
                mapping,
                match_columns: &mapping.key_columns[0],
                key: &missing,
                returning: &returning,
            })
            .await
            .expect("a delete of no row is not an error");
        assert_eq!(deleted.row_count(), 0);
    }
    work.commit().await.expect("commits");
    assert_eq!(
        fixture.committed("User").await,
        vec![user(1, "ada@x.io", "Ada", None)]
    );
}

async fn each_constraint_is_a_typed_error_with_its_names(backend: Backend) {
    let fixture = fixture(backend, 2).await;
    let mut work = fixture.begin().await;
    insert_users(&fixture, work.as_mut(), &[("ada@x.io", Some("Ada"), None)])
        .await
        .expect("inserts");
    work.commit().await.expect("commits");

    let mut work = fixture.begin().await;
    let unique = constraint(
        insert_users(&fixture, work.as_mut(), &[("ada@x.io", Some("Twin"), None)])
            .await
            .expect_err("a duplicate email"),
    );
    assert_eq!(unique.kind, ConstraintKind::Unique);
    match backend {
        // SQLite names the column, not the constraint.
        Backend::Sqlite => assert_eq!(unique.column.as_deref(), Some("email")),
        _ => assert_eq!(unique.constraint.as_deref(), Some("users_email")),
    }
    work.rollback().await.expect("rolls back");

    let mut work = fixture.begin().await;
    let not_null = constraint(
        insert_users(&fixture, work.as_mut(), &[("b@x.io", None, None)])
            .await
            .expect_err("a missing name"),
    );
    assert_eq!(not_null.kind, ConstraintKind::NotNull);
    assert_eq!(not_null.column.as_deref(), Some("name"));
    work.rollback().await.expect("rolls back");

    let mut work = fixture.begin().await;
    let check = constraint(
        insert_users(&fixture, work.as_mut(), &[("c@x.io", Some("C"), Some(-1))])
            .await
            .expect_err("a negative age"),
    );
    assert_eq!(check.kind, ConstraintKind::Check);
    assert_eq!(check.constraint.as_deref(), Some("adult"));
    work.rollback().await.expect("rolls back");

    let mut work = fixture.begin().await;
    let orders = fixture.mapping("Order");
    let foreign = constraint(
        work.insert(InsertRequest {
            mapping: orders,
            columns: &[1, 2],
            rows: &[vec![WriteValue::Int(999), WriteValue::Int(5)]],
            returning: &[0],
        })
        .await
        .expect_err("an order of a missing user"),
    );
    assert_eq!(foreign.kind, ConstraintKind::ForeignKey);
    if backend != Backend::Sqlite {
        // SQLite names no foreign key.
        assert_eq!(foreign.constraint.as_deref(), Some("orders_user"));
    }
    work.rollback().await.expect("rolls back");

    if backend != Backend::Sqlite {
        // SQLite keeps a float in an INTEGER column of a table that is not STRICT.
        let mut work = fixture.begin().await;
        let value = constraint(
            work.insert(InsertRequest {
                mapping: orders,
                columns: &[1, 2],
                rows: &[vec![WriteValue::Int(1), WriteValue::Float(1e300)]],
                returning: &[0],
            })
            .await
            .expect_err("a total out of an int's range"),
        );
        assert_eq!(value.kind, ConstraintKind::Value);
        if backend == Backend::Mysql {
            assert_eq!(value.column.as_deref(), Some("total"));
        }
        work.rollback().await.expect("rolls back");
    }

    // A client is told the kind and the names, never the value that broke the constraint.
    let message = ResolveError::Constraint {
        source_name: "db".to_owned(),
        violation: unique,
    }
    .public_message();
    assert!(!message.contains("ada@x.io"), "{message}");
    assert_eq!(
        fixture.committed("User").await,
        vec![user(1, "ada@x.io", "Ada", None)]
    );
}

async fn a_multi_row_create_that_fails_on_row_k_leaves_no_row(backend: Backend) {
    let fixture = fixture(backend, 2).await;
    let mut work = fixture.begin().await;
    let error = insert_users(
        &fixture,
        work.as_mut(),
        &[
            ("a@x.io", Some("A"), None),
            ("b@x.io", Some("B"), None),
            ("a@x.io", Some("A again"), None),
        ],
    )
    .await
    .expect_err("row 3 repeats row 1's email");
    assert_eq!(constraint(error).kind, ConstraintKind::Unique);
    // Even a commit after the failed statement keeps none of its rows.
    work.commit()
        .await
        .expect("commits what the transaction holds");
    assert!(fixture.committed("User").await.is_empty());
}

async fn a_savepoint_undoes_only_what_came_after_it(backend: Backend) {
    let fixture = fixture(backend, 2).await;
    let mut work = fixture.begin().await;
    insert_users(&fixture, work.as_mut(), &[("a@x.io", Some("A"), None)])
        .await
        .expect("inserts");
    let savepoint = work.savepoint().await.expect("a savepoint");
    insert_users(&fixture, work.as_mut(), &[("b@x.io", Some("B"), None)])
        .await
        .expect("inserts");
    // After a failed statement too: PostgreSQL's transaction is usable again after the
    // rollback to the savepoint.
    insert_users(&fixture, work.as_mut(), &[("a@x.io", Some("A"), None)])
        .await
        .expect_err("a duplicate");
    work.rollback_to(&savepoint)
        .await
        .expect("rolls back to it");
    insert_users(&fixture, work.as_mut(), &[("c@x.io", Some("C"), None)])
        .await
        .expect("inserts after the rollback");
    work.commit().await.expect("commits");
    assert_eq!(
        fixture.emails().await,
        vec![Seen::Text("a@x.io".into()), Seen::Text("c@x.io".into())]
    );
}

/// With one pooled connection, a unit of work dropped open (as a cancelled request drops it)
/// writes nothing, and the connection the next one takes is not inside its transaction.
async fn a_dropped_unit_of_work_rolls_back_and_frees_its_connection(backend: Backend) {
    let fixture = fixture(backend, 1).await;
    let mut work = fixture.begin().await;
    insert_users(&fixture, work.as_mut(), &[("a@x.io", Some("A"), None)])
        .await
        .expect("inserts");
    drop(work);
    let mut next = tokio::time::timeout(Duration::from_secs(10), fixture.begin())
        .await
        .expect("the connection comes back");
    insert_users(&fixture, next.as_mut(), &[("b@x.io", Some("B"), None)])
        .await
        .expect("inserts");
    next.commit().await.expect("commits");
    assert_eq!(fixture.emails().await, vec![Seen::Text("b@x.io".into())]);
}

/// A request task that panics or is aborted mid-transaction leaves no row.
async fn a_panicking_or_cancelled_task_leaves_no_row(backend: Backend) {
    let fixture = Arc::new(fixture(backend, 2).await);
    let panicking = Arc::clone(&fixture);
    let panicked = tokio::spawn(async move {
        let mut work = panicking.begin().await;
        insert_users(&panicking, work.as_mut(), &[("a@x.io", Some("A"), None)])
            .await
            .expect("inserts");
        panic!("a bug in the middle of a mutation");
    })
    .await;
    assert!(panicked.is_err_and(|e| e.is_panic()));

    let (inserted, was_inserted) = tokio::sync::oneshot::channel();
    let cancelled = Arc::clone(&fixture);
    let task = tokio::spawn(async move {
        let mut work = cancelled.begin().await;
        insert_users(&cancelled, work.as_mut(), &[("b@x.io", Some("B"), None)])
            .await
            .expect("inserts");
        let _ = inserted.send(());
        std::future::pending::<()>().await;
        work.commit().await.expect("never reached");
    });
    was_inserted.await.expect("the insert ran");
    task.abort();
    assert!(task.await.is_err_and(|e| e.is_cancelled()));
    // The connections come back out of their transactions (SQLite's write lock is free
    // again): what the next units of work commit is theirs alone.
    for email in ["c@x.io", "d@x.io"] {
        let mut next = fixture.begin().await;
        insert_users(&fixture, next.as_mut(), &[(email, Some("N"), None)])
            .await
            .expect("inserts");
        next.commit().await.expect("commits");
    }
    assert_eq!(
        fixture.emails().await,
        vec![Seen::Text("c@x.io".into()), Seen::Text("d@x.io".into())]
    );
}

/// A connection killed between a write and the commit fails the commit; nothing is written.
async fn a_connection_killed_mid_transaction_is_an_error_never_a_half_commit(backend: Backend) {
    let fixture = fixture(backend, 2).await;
    let mut work = fixture.begin().await;
    insert_users(&fixture, work.as_mut(), &[("a@x.io", Some("A"), None)])
        .await
        .expect("inserts");
    fixture.kill_connections().await;
    let error = work.commit().await.expect_err("the commit fails");
    assert!(
        matches!(
            error,
            ResolveError::Source {
                kind: SourceErrorKind::Connection,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(fixture.committed("User").await.is_empty());
    assert_eq!(fixture.backend, backend);
}

/// The idempotency ledger: a claim is taken once, a crashed holder's key is taken over after
/// its lease, a holder whose key was taken over cannot record (its transaction rolls back),
/// and a kept response and operation results come back with the next claim.
async fn idempotency_keys_are_claimed_once_and_fenced(backend: Backend) {
    use graft_resolve::{KeyClaim, LedgerKey, TenantId};
    let fixture = fixture(backend, 2).await;
    let key = LedgerKey {
        tenant: TenantId::new("t").unwrap(),
        caller: "jwt:alice".to_owned(),
        key: "k-1".to_owned(),
    };
    let claim = |holder: &'static str, now_ms: u64, lease_ms: u64| KeyClaim {
        key: &key,
        body_hash: "h",
        holder,
        now_ms,
        leased_until_ms: now_ms + lease_ms,
        expires_at_ms: now_ms + 1_000_000,
    };
    async fn claimed(fixture: &Fixture, claim: KeyClaim<'_>) -> graft_resolve::LedgerEntry {
        let mut work = fixture.begin().await;
        let entry = work.claim_key(claim).await.expect("claims");
        work.commit().await.expect("commits");
        entry
    }
    let first = claimed(&fixture, claim("a", 1_000, 100)).await;
    assert_eq!((first.holder.as_str(), first.response), ("a", None));
    // Held, lease running: another request sees it held by `a`.
    let busy = claimed(&fixture, claim("b", 1_050, 100)).await;
    assert_eq!(busy.holder, "a");
    // `a` commits one operation's result.
    let mut work = fixture.begin().await;
    work.record_key(&key, "a", "op1", "{\"r\":1}", 1_001_000)
        .await
        .expect("records");
    work.commit().await.expect("commits");
    // `a`'s lease ran out: `b` takes the key over, with `a`'s kept result.
    let taken = claimed(&fixture, claim("b", 2_000, 100)).await;
    assert_eq!(taken.holder, "b");
    assert_eq!(
        taken.operations,
        [("op1".to_owned(), "{\"r\":1}".to_owned())]
    );
    // `a` wakes up: it cannot record any more.
    let mut late = fixture.begin().await;
    let fenced = late.record_key(&key, "a", "", "{}", 1_001_000).await;
    assert!(fenced.is_err(), "{fenced:?}");
    drop(late);
    // `b` finishes: the next claim gets its response.
    let mut work = fixture.begin().await;
    work.record_key(&key, "b", "", "{\"done\":true}", 1_001_000)
        .await
        .expect("records");
    work.commit().await.expect("commits");
    let replay = claimed(&fixture, claim("c", 3_000, 100)).await;
    assert_eq!(replay.response.as_deref(), Some("{\"done\":true}"));
    // Expired, the key and everything kept with it is forgotten.
    let fresh = claimed(&fixture, claim("d", 2_000_000, 100)).await;
    assert_eq!(
        (
            fresh.holder.as_str(),
            fresh.response,
            fresh.operations.len()
        ),
        ("d", None, 0)
    );
    // Released (nothing written), it can be claimed at once.
    let mut work = fixture.begin().await;
    work.release_key(&key, "d").await.expect("releases");
    work.commit().await.expect("commits");
    assert_eq!(
        claimed(&fixture, claim("e", 2_000_001, 100)).await.holder,
        "e"
    );
}

macro_rules! on {
    ($backend:ident: $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(super::Backend::$backend).await;
            }
        )*
    };
}

/// Each scenario once per backend; the `servers` ones need a server connection to kill.
macro_rules! on_every_backend {
    (all: [$($all:ident),* $(,)?], servers: [$($server:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            on!(Sqlite: $($all),*);
        }
        mod postgres {
            on!(Postgres: $($all,)* $($server),*);
        }
        mod mysql {
            on!(Mysql: $($all,)* $($server),*);
        }
    };
}

on_every_backend!(
    all: [
        every_write_kind_reads_its_rows_back,
        a_missing_key_or_one_its_column_cannot_hold_changes_nothing,
        each_constraint_is_a_typed_error_with_its_names,
        a_multi_row_create_that_fails_on_row_k_leaves_no_row,
        a_savepoint_undoes_only_what_came_after_it,
        a_dropped_unit_of_work_rolls_back_and_frees_its_connection,
        a_panicking_or_cancelled_task_leaves_no_row,
        idempotency_keys_are_claimed_once_and_fenced,
    ],
    servers: [a_connection_killed_mid_transaction_is_an_error_never_a_half_commit],
);
