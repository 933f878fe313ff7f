// A model of the orgs example's seed (examples/orgs/*/seed.sql, also examples/remote-orgs/):
// 10 organisations with 100 users each (u1 .. u100 in every organisation), and 5 orders per
// user, so that the e2e checks know the expected answers without a database client.

/** Users per organisation and orders per user in the seed. */
export const USERS_PER_ORG = 100;
export const ORDERS_PER_USER = 5;

/** The seed's user `u<user>` of `org-<org>`, with the fields orgs-users serves. */
export function seedUser(org, user) {
  const row = (org - 1) * USERS_PER_ORG + user;
  return {
    orgId: `org-${org}`,
    userId: `u${user}`,
    name: `User ${user} of org-${org}`,
    email: row % 10 === 0 ? null : `u${user}@org-${org}.example`,
  };
}

/** The seed's order `id` (1-based): its owner (org and user numbers) and total. */
export function seedOrder(id) {
  const owner = Math.floor((id - 1) / ORDERS_PER_USER);
  return {
    id: String(id),
    org: Math.floor(owner / USERS_PER_ORG) + 1,
    user: (owner % USERS_PER_ORG) + 1,
    total: ((id * 37) % 10000) / 100,
  };
}

/** The ids of the orders of user `user` of `org`, in id order. */
export function orderIdsOf(org, user) {
  const owner = (org - 1) * USERS_PER_ORG + (user - 1);
  return Array.from({ length: ORDERS_PER_USER }, (_, k) => owner * ORDERS_PER_USER + k + 1);
}
