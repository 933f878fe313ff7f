// Checks of the federated orgs example (examples/federated-orgs/): two graft subgraphs over the
// orgs data, `orgs-users` (OrgUser: name, email) and `orgs-orders` (Order, and OrgUser's
// orders), joined by the gateway through the composite key `orgId userId`.
//
// Expected answers come from a model of examples/orgs/sqlite/seed.sql (../orgs-seed.mjs), so
// they follow the seed without a database client here. Every check also reads the fetch log:
// the gateway must send one request per subgraph and level, and graft must answer each with
// the number of SQL statements its plan needs (one per entity group and per relation level),
// however many entities there are: no N+1, neither in the gateway nor in graft.

import { dataOf, expectEqual, expectFetches } from "../expect.mjs";
import { ORDERS_PER_USER, orderIdsOf, seedOrder, seedUser } from "../orgs-seed.mjs";

export const checks = [
  {
    name: "orgs: a user's orders across subgraphs",
    async run({ gatewayRequest, fetchLog }) {
      const response = await gatewayRequest(
        `{ orgUser(orgId: "org-3", userId: "u7") { name orders { id total } } }`,
      );
      const user = seedUser(3, 7);
      expectEqual(
        dataOf(response, "gateway"),
        {
          orgUser: {
            name: user.name,
            orders: orderIdsOf(3, 7).map((id) => ({ id: String(id), total: seedOrder(id).total })),
          },
        },
        "orgUser",
      );
      // The user by key in orgs-users (1 statement), then its orders in orgs-orders: the OrgUser
      // group and the `orders` level (2 statements).
      expectFetches(fetchLog, [
        { subgraph: "orgs-users", entities: false, statements: 1 },
        { subgraph: "orgs-orders", entities: true, statements: 2, uniqueKeys: 1 },
      ]);
    },
  },
  {
    name: "orgs: an order's user by composite key",
    async run({ gatewayRequest, fetchLog }) {
      const response = await gatewayRequest(`{ order(id: "1") { total user { name email } } }`);
      const order = seedOrder(1);
      const user = seedUser(order.org, order.user);
      expectEqual(
        dataOf(response, "gateway"),
        { order: { total: order.total, user: { name: user.name, email: user.email } } },
        "order",
      );
      // The order by key with its `user` level (the OrgUser key columns) in orgs-orders, then
      // the user's name and email from orgs-users by the composite key.
      expectFetches(fetchLog, [
        { subgraph: "orgs-orders", entities: false, statements: 2 },
        { subgraph: "orgs-users", entities: true, statements: 1, uniqueKeys: 1 },
      ]);
    },
  },
  {
    name: "orgs: a null email travels through the gateway",
    async run({ gatewayRequest }) {
      // Order 1050 belongs to u10 of org-3, the seed's 210th user: no email.
      const order = seedOrder(1050);
      const user = seedUser(order.org, order.user);
      expectEqual(user.email, null, "the seed model");
      const response = await gatewayRequest(`{ order(id: "1050") { user { orgId userId name email } } }`);
      expectEqual(dataOf(response, "gateway"), { order: { user } }, "order");
    },
  },
  {
    name: "orgs: a user's orders and their users, one statement per level",
    async run({ gatewayRequest, fetchLog }) {
      const response = await gatewayRequest(
        `{ orgUser(orgId: "org-3", userId: "u7") { orders { id user { name } } } }`,
      );
      const user = seedUser(3, 7);
      expectEqual(
        dataOf(response, "gateway"),
        { orgUser: { orders: orderIdsOf(3, 7).map((id) => ({ id: String(id), user: { name: user.name } })) } },
        "orgUser",
      );
      // orgs-orders answers the OrgUser group, its `orders` level and their `user` level (3
      // statements for any number of orders); orgs-users then names the user (1 statement).
      expectFetches(fetchLog, [
        { subgraph: "orgs-users", entities: false, statements: 1 },
        { subgraph: "orgs-orders", entities: true, statements: 3, uniqueKeys: 1 },
        { subgraph: "orgs-users", entities: true, statements: 1, uniqueKeys: 1 },
      ]);
    },
  },
  {
    name: "orgs: 500 orders' users in one _entities call and one statement",
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
      // The page and its `user` level in orgs-orders (2 statements), then all 100 distinct users
      // in one `_entities` call to orgs-users, answered by one statement.
      expectFetches(fetchLog, [
        { subgraph: "orgs-orders", entities: false, statements: 2 },
        {
          subgraph: "orgs-users",
          entities: true,
          statements: 1,
          uniqueKeys: count / ORDERS_PER_USER,
          groups: 1,
        },
      ]);
    },
  },
  {
    name: "orgs: a mutation through the gateway, its user from the other subgraph",
    async run({ gatewayRequest, fetchLog }) {
      const user = seedUser(2, 5);
      const response = await gatewayRequest(
        `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id total status user { name } } }`,
        { input: { orgId: "org-2", userId: "u5", total: 9.5, status: "new" } },
      );
      const created = dataOf(response, "gateway").createOrder;
      if (!(Number(created?.id) > 5000)) throw new Error(`a generated id after the seed's: ${JSON.stringify(created)}`);
      expectEqual(created, { id: created.id, total: 9.5, status: "new", user: { name: user.name } }, "createOrder");
      // The insert and the `user` level in orgs-orders (2 statements), then the user's name from
      // orgs-users by the composite key.
      expectFetches(fetchLog, [
        { subgraph: "orgs-orders", entities: false, statements: 2 },
        { subgraph: "orgs-users", entities: true, statements: 1, uniqueKeys: 1 },
      ]);
      // Leave the seed as it was for the other checks.
      const deleted = await gatewayRequest(`mutation($id: ID!) { deleteOrder(id: $id) { id } }`, { id: created.id });
      expectEqual(dataOf(deleted, "gateway"), { deleteOrder: { id: created.id } }, "deleteOrder");
    },
  },
];
