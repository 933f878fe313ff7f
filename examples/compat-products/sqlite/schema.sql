-- Tables of the compatibility suite's products subgraph (see ../schema.graphql).
CREATE TABLE users (
    email TEXT PRIMARY KEY,
    name TEXT,
    total_products_created INTEGER
);

CREATE TABLE products (
    id TEXT PRIMARY KEY,
    sku TEXT,
    package TEXT,
    variation_id TEXT,
    dimensions_size TEXT,
    dimensions_weight REAL,
    dimensions_unit TEXT,
    created_by TEXT REFERENCES users (email),
    notes TEXT
);
CREATE UNIQUE INDEX products_sku_package ON products (sku, package);
CREATE UNIQUE INDEX products_sku_variation ON products (sku, variation_id);

CREATE TABLE product_research (
    study_case_number TEXT PRIMARY KEY,
    study_description TEXT,
    outcome TEXT,
    product_id TEXT REFERENCES products (id)
);
CREATE INDEX product_research_product ON product_research (product_id);

CREATE TABLE inventories (
    id TEXT PRIMARY KEY
);

CREATE TABLE deprecated_products (
    sku TEXT NOT NULL,
    package TEXT NOT NULL,
    reason TEXT,
    created_by TEXT REFERENCES users (email),
    inventory_id TEXT REFERENCES inventories (id),
    PRIMARY KEY (sku, package)
);
CREATE INDEX deprecated_products_inventory ON deprecated_products (inventory_id);
