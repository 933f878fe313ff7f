-- The data the compatibility suite expects of the products subgraph.
INSERT INTO users (email, name, total_products_created) VALUES
    ('support@apollographql.com', 'Jane Smith', 1337);

INSERT INTO products (id, sku, package, variation_id, dimensions_size, dimensions_weight, dimensions_unit, created_by, notes) VALUES
    ('apollo-federation', 'federation', '@apollo/federation', 'OSS', 'small', 1, 'kg', 'support@apollographql.com', NULL),
    ('apollo-studio', 'studio', '', 'platform', 'small', 1, 'kg', 'support@apollographql.com', NULL);

INSERT INTO product_research (study_case_number, study_description, outcome, product_id) VALUES
    ('1234', 'Federation Study', NULL, 'apollo-federation'),
    ('1235', 'Studio Study', NULL, 'apollo-studio');

INSERT INTO inventories (id) VALUES ('apollo-oss');

INSERT INTO deprecated_products (sku, package, reason, created_by, inventory_id) VALUES
    ('apollo-federation-v1', '@apollo/federation-v1', 'Migrate to Federation V2', 'support@apollographql.com', 'apollo-oss');
