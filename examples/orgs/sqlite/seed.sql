-- Seed data of the orgs example: 10 organisations (org-1 .. org-10) with 100 users each
-- (u1 .. u100: every userId exists in every organisation), and 5 orders per user.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT INTO org_users (org_id, user_id, name, email, active, created_at)
SELECT 'org-' || ((i - 1) / 100 + 1),
       'u' || ((i - 1) % 100 + 1),
       'User ' || ((i - 1) % 100 + 1) || ' of org-' || ((i - 1) / 100 + 1),
       CASE WHEN i % 10 = 0 THEN NULL ELSE 'u' || ((i - 1) % 100 + 1) || '@org-' || ((i - 1) / 100 + 1) || '.example' END,
       CASE WHEN i % 7 = 0 THEN 0 ELSE 1 END,
       '2026-01-' || printf('%02d', (i % 28) + 1) || 'T09:00:00Z'
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO orders (id, org_id, user_id, total, status)
SELECT i,
       'org-' || (((i - 1) / 5) / 100 + 1),
       'u' || (((i - 1) / 5) % 100 + 1),
       round(((i * 37) % 10000) / 100.0, 2),
       CASE i % 3 WHEN 0 THEN 'shipped' WHEN 1 THEN 'paid' ELSE 'cancelled' END
FROM n;
