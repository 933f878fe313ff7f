-- Tables of the orgs example, for MariaDB and MySQL.
CREATE TABLE org_users (
    org_id     varchar(64)  NOT NULL,
    user_id    varchar(64)  NOT NULL,
    name       varchar(200) NOT NULL,
    email      varchar(200),
    active     tinyint(1)   NOT NULL DEFAULT 1,
    created_at datetime,
    PRIMARY KEY (org_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE orders (
    id      bigint        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    org_id  varchar(64)   NOT NULL,
    user_id varchar(64)   NOT NULL,
    total   decimal(10,2) NOT NULL,
    status  varchar(16)   NOT NULL,
    KEY orders_by_user (org_id, user_id),
    CONSTRAINT orders_total_not_negative CHECK (total >= 0),
    FOREIGN KEY (org_id, user_id) REFERENCES org_users (org_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
