-- Tables of the orgs example, for PostgreSQL.
CREATE TABLE org_users (
    org_id     varchar(64)  NOT NULL,
    user_id    varchar(64)  NOT NULL,
    name       varchar(200) NOT NULL,
    email      varchar(200),
    active     boolean      NOT NULL DEFAULT true,
    created_at timestamptz,
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE orders (
    id      bigint        PRIMARY KEY,
    org_id  varchar(64)   NOT NULL,
    user_id varchar(64)   NOT NULL,
    total   numeric(10,2) NOT NULL,
    status  varchar(16)   NOT NULL,
    FOREIGN KEY (org_id, user_id) REFERENCES org_users (org_id, user_id)
);

CREATE INDEX orders_by_user ON orders (org_id, user_id);
