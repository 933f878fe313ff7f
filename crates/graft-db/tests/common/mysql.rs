//! What the MariaDB tests share: the tables of most of them, their schema, a source over them,
//! and the connections busy on the server.

use super::MyDatabase;

/// The tables most MariaDB tests start from.
pub const DDL: &str = r#"
CREATE TABLE org_users (
    org_id varchar(64) NOT NULL, user_id varchar(64) NOT NULL, name text NOT NULL, email text,
    small smallint, big bigint, ubig bigint unsigned, score double, ratio float,
    price decimal(12, 2), active boolean, born date, seen_at datetime, stamp timestamp NULL,
    at time, meta json, feeling enum('happy', 'sad'),
    PRIMARY KEY (org_id, user_id)
);
INSERT INTO org_users VALUES
  ('org-1', 'u1', 'Ada', 'ada@example.org', 1, 9007199254740993, 18446744073709551615, 1.5,
   0.1, 12.50, true, '1815-12-10', '2026-01-02 09:00:00', '2026-01-02 09:00:00', '-838:59:59',
   '{"k": [1, 2]}', 'happy'),
  ('org-2', 'u1', 'Grace', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL),
  ('o#1', 'u:2', 'Zoë "Z" Ünal 😀', '', -5, -1, 0, -0.25, -2, 0.00, false, NULL, NULL, NULL,
   '10:11:12', 'null', 'sad'),
  ('', '', 'empty keys', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL);
CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL);
INSERT INTO items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_1000;
CREATE TABLE small_items (id int PRIMARY KEY, code varchar(3) CHARACTER SET utf8mb3 NOT NULL);
INSERT INTO small_items VALUES (2147483647, 'max'), (0, 'zer'), (2, 'two');
ANALYZE TABLE org_users, items, small_items;
CREATE VIEW slow_items AS SELECT id, label, IF(id = 1, SLEEP(2), 0) AS z FROM items;
"#;

/// Their schema.
pub const SDL: &str = r#"
scalar JSON
enum Mood { happy sad }
type OrgUser @key(fields: "orgId userId") @table(name: "org_users") {
  orgId: String! userId: String! name: String! email: String small: Int big: String ubig: String
  score: Float ratio: Float price: Float active: Boolean born: String seenAt: String stamp: String
  at: String meta: JSON feeling: Mood
}
type Item @key(fields: "id") @table(name: "items") { id: ID! label: String! }
type SmallItem @key(fields: "id") @key(fields: "code") @table(name: "small_items") {
  id: ID! code: String!
}
type SlowItem @key(fields: "id") @table(name: "slow_items") { id: ID! label: String! z: Int }
"#;

/// A MariaDB source named `my` on `db`, for `schema`.
pub async fn source(
    db: &MyDatabase,
    schema: &graft_schema::SubgraphSchema,
) -> graft_db::mysql::MysqlSource {
    graft_db::mysql::MysqlSource::connect(
        "my",
        &graft_db::mysql::MysqlConfig::new(db.url()),
        schema,
    )
    .await
    .expect("connects")
}

/// The ids of `db`'s MariaDB connections running a statement now.
pub async fn busy_connections(db: &MyDatabase) -> Vec<u64> {
    use mysql_async::prelude::Queryable;
    let mut admin = super::mysql_admin().await;
    let ids = admin
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST \
             WHERE DB = ? AND COMMAND <> 'Sleep' AND ID <> CONNECTION_ID()",
            (db.name().to_owned(),),
        )
        .await
        .expect("lists connections");
    let _ = admin.disconnect().await;
    ids
}
