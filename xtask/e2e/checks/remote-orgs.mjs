// Checks of the remote-orgs example (examples/remote-orgs/): `remote-users` on PostgreSQL and
// `remote-orders` on MariaDB, each resolving the other's entity type itself through a
// `[[remote]]` route: the orders subgraph reads OrgUser from the users database (db-then-http),
// the users subgraph reads Order from the orders database (db). The fields both can resolve are
// @shareable in both schemas, so they compose, in a supergraph of their own (`remote-orgs`: the
// same types as the orgs checks' subgraphs), and the gateway's query planner takes a field from
// the subgraph it is already asking.
//
// The point of every check is in the fetch log: where graft resolves the remote type itself,
// the gateway makes ONE subgraph request, and graft answers it with one statement per level,
// on whichever database the level lives (`statements` counts PostgreSQL and MariaDB alike),
// with no HTTP request and no fallback.

import { dataOf, expectEqual, expectFetches } from "../expect.mjs";
import { orderIdsOf, seedOrder, seedUser } from "../orgs-seed.mjs";

export const supergraph = "remote-orgs";

/** No HTTP request to another subgraph, no fallback: graft read the other database itself. */
const DIRECT = { requests: 0, fallbacks: [] };

export const checks = [
  {
    name: "remote-orgs: an order's user in one subgraph request",
    async run({ gatewayRequest, fetchLog }) {
      const response = await gatewayRequest(`{ order(id: "1") { total user { name email } } }`);
      const order = seedOrder(1);
      const { name, email } = seedUser(order.org, order.user);
      expectEqual(
        dataOf(response, "gateway"),
        { order: { total: order.total, user: { name, email } } },
        "order",
      );
      // remote-orders answers all of it: the order (MariaDB), then its user (PostgreSQL).
      expectFetches(fetchLog, [{ subgraph: "remote-orders", entities: false, statements: 2, ...DIRECT }]);
    },
  },
  {
    name: "remote-orgs: a user's orders in one subgraph request",
    async run({ gatewayRequest, fetchLog }) {
      const response = await gatewayRequest(
        `{ orgUser(orgId: "org-3", userId: "u7") { name orders { id total } } }`,
      );
      expectEqual(
        dataOf(response, "gateway"),
        {
          orgUser: {
            name: seedUser(3, 7).name,
            orders: orderIdsOf(3, 7).map((id) => ({ id: String(id), total: seedOrder(id).total })),
          },
        },
        "orgUser",
      );
      // remote-users answers all of it: the user (PostgreSQL), then its orders (MariaDB).
      expectFetches(fetchLog, [{ subgraph: "remote-users", entities: false, statements: 2, ...DIRECT }]);
    },
  },
  {
    name: "remote-orgs: 500 orders' users in one request and one statement per level",
    async run({ gatewayRequest, fetchLog }) {
      const count = 500;
      const response = await gatewayRequest(
        `query($first: Int) { orders(first: $first) { nodes { id total user { userId name email } } } }`,
        { first: count },
      );
      const nodes = Array.from({ length: count }, (_, i) => {
        const order = seedOrder(i + 1);
        const { userId, name, email } = seedUser(order.org, order.user);
        return { id: order.id, total: order.total, user: { userId, name, email } };
      });
      expectEqual(dataOf(response, "gateway"), { orders: { nodes } }, "orders");
      // The page (MariaDB) and the 100 distinct users in one PostgreSQL statement; no call to
      // remote-users, where the orgs checks need one `_entities` call to orgs-users.
      expectFetches(fetchLog, [{ subgraph: "remote-orders", entities: false, statements: 2, ...DIRECT }]);
    },
  },
  {
    name: "remote-orgs: a field only the owner serves still comes from the owner",
    async run({ gatewayRequest, fetchLog }) {
      // `active` is a field of remote-users only: the gateway asks it, by the key remote-orders
      // gives it. Order 1050 belongs to u10 of org-3, who has no email.
      const response = await gatewayRequest(`{ order(id: "1050") { user { userId email active } } }`);
      const order = seedOrder(1050);
      const { userId, email } = seedUser(order.org, order.user);
      expectEqual(email, null, "the seed model");
      // The seed makes every 7th user (by row) inactive: u10 of org-3 is row 210.
      expectEqual(
        dataOf(response, "gateway"),
        { order: { user: { userId, email, active: false } } },
        "order",
      );
      // remote-orders: the order and its user's key and email (its PostgreSQL row); then
      // remote-users: `active`, for that one key.
      expectFetches(fetchLog, [
        { subgraph: "remote-orders", entities: false, statements: 2, ...DIRECT },
        { subgraph: "remote-users", entities: true, statements: 1, uniqueKeys: 1, ...DIRECT },
      ]);
    },
  },
  {
    name: "remote-orgs: remote-orders answers _entities for OrgUser from the users database",
    async run({ subgraphRequest }) {
      const representations = [
        { __typename: "OrgUser", orgId: "org-2", userId: "u5" },
        { __typename: "OrgUser", orgId: "org-9", userId: "u100" },
        { __typename: "OrgUser", orgId: "org-404", userId: "u1" },
      ];
      const response = await subgraphRequest(
        "remote-orders",
        {
          query: `query($r: [_Any!]!) { _entities(representations: $r) { ... on OrgUser { userId name email } } }`,
          variables: { r: representations },
        },
        { "graft-debug": "true" },
      );
      const user = (org, u) => {
        const { userId, name, email } = seedUser(org, u);
        return { userId, name, email };
      };
      expectEqual(dataOf(response, "remote-orders")._entities, [user(2, 5), user(9, 100), null], "_entities");
      const { statements, requests, fallbacks } = response.body.extensions.graft.batch;
      expectEqual({ statements, requests, fallbacks }, { statements: 1, ...DIRECT }, "batch");
    },
  },
];
