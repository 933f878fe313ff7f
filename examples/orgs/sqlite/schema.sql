-- Tables of the orgs example, for SQLite.
CREATE TABLE org_users (
    org_id     TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    email      TEXT,
    active     INTEGER NOT NULL DEFAULT 1,
    created_at TEXT,
    PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;

CREATE TABLE orders (
    id      INTEGER PRIMARY KEY,
    org_id  TEXT    NOT NULL,
    user_id TEXT    NOT NULL,
    total   REAL    NOT NULL CONSTRAINT orders_total_not_negative CHECK (total >= 0),
    status  TEXT    NOT NULL,
    FOREIGN KEY (org_id, user_id) REFERENCES org_users (org_id, user_id)
);

CREATE INDEX orders_by_user ON orders (org_id, user_id);
