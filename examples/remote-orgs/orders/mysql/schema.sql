-- The orders of the remote-orgs example, for MariaDB and MySQL: the orgs example's orders
-- table, without the foreign key, since the users live in the users subgraph's PostgreSQL
-- database (../../users/postgres/schema.sql).
CREATE TABLE orders (
    id      bigint        NOT NULL PRIMARY KEY,
    org_id  varchar(64)   NOT NULL,
    user_id varchar(64)   NOT NULL,
    total   decimal(10,2) NOT NULL,
    status  varchar(16)   NOT NULL,
    KEY orders_by_user (org_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
