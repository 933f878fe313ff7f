-- The users of the remote-orgs example, for PostgreSQL: the orgs example's org_users table.
-- Orders live in the orders subgraph's MariaDB database (../../orders/mysql/schema.sql).
CREATE TABLE org_users (
    org_id     varchar(64)  NOT NULL,
    user_id    varchar(64)  NOT NULL,
    name       varchar(200) NOT NULL,
    email      varchar(200),
    active     boolean      NOT NULL DEFAULT true,
    created_at timestamptz,
    PRIMARY KEY (org_id, user_id)
);
