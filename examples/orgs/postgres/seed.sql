-- Seed data of the orgs example (the same rows as sqlite/seed.sql): 10 organisations with 100
-- users each (u1 .. u100 exist in every organisation), and 5 orders per user.
INSERT INTO org_users (org_id, user_id, name, email, active, created_at)
SELECT 'org-' || ((i - 1) / 100 + 1),
       'u' || ((i - 1) % 100 + 1),
       'User ' || ((i - 1) % 100 + 1) || ' of org-' || ((i - 1) / 100 + 1),
       CASE WHEN i % 10 = 0 THEN NULL ELSE 'u' || ((i - 1) % 100 + 1) || '@org-' || ((i - 1) / 100 + 1) || '.example' END,
       i % 7 <> 0,
       timestamptz '2026-01-01 09:00:00+00' + ((i % 28) * interval '1 day')
FROM generate_series(1, 1000) AS i;

INSERT INTO orders (id, org_id, user_id, total, status)
SELECT i,
       'org-' || (((i - 1) / 5) / 100 + 1),
       'u' || (((i - 1) / 5) % 100 + 1),
       round(((i * 37) % 10000) / 100.0, 2),
       CASE i % 3 WHEN 0 THEN 'shipped' WHEN 1 THEN 'paid' ELSE 'cancelled' END
FROM generate_series(1, 5000) AS i;

-- Ids the database generates start after the seeded ones.
SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders));

ANALYZE org_users;
ANALYZE orders;
