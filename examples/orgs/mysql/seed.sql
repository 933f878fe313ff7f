-- Seed data of the orgs example (the same rows as sqlite/seed.sql): 10 organisations with 100
-- users each (u1 .. u100 exist in every organisation), and 5 orders per user.
-- MariaDB stops recursive CTEs at 1,000 rows by default (MySQL: SET cte_max_recursion_depth).
SET SESSION max_recursive_iterations = 1000000;
INSERT INTO org_users (org_id, user_id, name, email, active, created_at)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
SELECT CONCAT('org-', (i - 1) DIV 100 + 1),
       CONCAT('u', (i - 1) % 100 + 1),
       CONCAT('User ', (i - 1) % 100 + 1, ' of org-', (i - 1) DIV 100 + 1),
       CASE WHEN i % 10 = 0 THEN NULL ELSE CONCAT('u', (i - 1) % 100 + 1, '@org-', (i - 1) DIV 100 + 1, '.example') END,
       CASE WHEN i % 7 = 0 THEN 0 ELSE 1 END,
       TIMESTAMP('2026-01-01 09:00:00') + INTERVAL (i % 28) DAY
FROM n;

INSERT INTO orders (id, org_id, user_id, total, status)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
SELECT i,
       CONCAT('org-', ((i - 1) DIV 5) DIV 100 + 1),
       CONCAT('u', ((i - 1) DIV 5) % 100 + 1),
       ROUND(((i * 37) % 10000) / 100.0, 2),
       CASE i % 3 WHEN 0 THEN 'shipped' WHEN 1 THEN 'paid' ELSE 'cancelled' END
FROM n;
