-- The users of the orgs example (the same rows as ../../../orgs/postgres/seed.sql): 10
-- organisations with 100 users each (u1 .. u100 exist in every organisation).
INSERT INTO org_users (org_id, user_id, name, email, active, created_at)
SELECT 'org-' || ((i - 1) / 100 + 1),
       'u' || ((i - 1) % 100 + 1),
       'User ' || ((i - 1) % 100 + 1) || ' of org-' || ((i - 1) / 100 + 1),
       CASE WHEN i % 10 = 0 THEN NULL ELSE 'u' || ((i - 1) % 100 + 1) || '@org-' || ((i - 1) / 100 + 1) || '.example' END,
       i % 7 <> 0,
       timestamptz '2026-01-01 09:00:00+00' + ((i % 28) * interval '1 day')
FROM generate_series(1, 1000) AS i;

ANALYZE org_users;
