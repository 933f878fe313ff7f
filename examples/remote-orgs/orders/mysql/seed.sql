-- The orders of the orgs example (the same rows as ../../../orgs/mysql/seed.sql): 5 orders per
-- user, for the 100 users of each of 10 organisations.
-- MariaDB stops recursive CTEs at 1,000 rows by default (MySQL: SET cte_max_recursion_depth).
SET SESSION max_recursive_iterations = 1000000;
INSERT INTO orders (id, org_id, user_id, total, status)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
SELECT i,
       CONCAT('org-', ((i - 1) DIV 5) DIV 100 + 1),
       CONCAT('u', ((i - 1) DIV 5) % 100 + 1),
       ROUND(((i * 37) % 10000) / 100.0, 2),
       CASE i % 3 WHEN 0 THEN 'shipped' WHEN 1 THEN 'paid' ELSE 'cancelled' END
FROM n;
