// Reference subgraphs for the federation e2e, served in process by @apollo/subgraph under
// @apollo/server on ephemeral ports: `users` and `inventory`, the two subgraphs the Apollo
// Federation subgraph compatibility suite composes around the `products` subgraph under test.
//
// `users` composes on its own. `inventory` extends `Product`, whose fields it marks @external, so
// it only composes next to a subgraph that defines `Product` (run.mjs adds it when a subgraph
// named `products` is given).
//
// startReferenceSubgraphs() -> [{ name, url, sdl, stop() }]

import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { GraphQLError, parse } from "graphql";

const USERS_SDL = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])

type User @key(fields: "email") {
  email: ID!
  name: String
  totalProductsCreated: Int @shareable
  yearsOfEmployment: Int!
}
`;

const USERS = [
  {
    email: "support@apollographql.com",
    name: "Apollo Studio Support",
    totalProductsCreated: 10,
    yearsOfEmployment: 10,
  },
];

const usersResolvers = {
  User: {
    __resolveReference(reference) {
      return USERS.find((user) => user.email === reference.email) ?? null;
    },
  },
};

const INVENTORY_SDL = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@requires", "@shareable", "@provides", "@external", "@tag"])

extend type Product @key(fields: "id") {
  id: ID! @external
  dimensions: ProductDimension @external
  delivery(zip: String): DeliveryEstimates @requires(fields: "dimensions { size weight }")
}

type ProductDimension @shareable {
  size: String
  weight: Float
}

type DeliveryEstimates {
  estimatedDelivery: String
  fastestDelivery: String
}

interface Inventory @key(fields: "id") {
  id: ID!
  products: [Product!]!
}

type OpenSourceInventory implements Inventory @key(fields: "id") {
  id: ID!
  products: [Product!]!
}

type Query {
  inventory(id: ID!): Inventory
}
`;

const INVENTORIES = [{ id: "apollo-oss", products: [{ id: "apollo-federation" }] }];

/** The inventory with `id`, or null. */
function inventoryById(id) {
  return INVENTORIES.find((inventory) => inventory.id === id) ?? null;
}

const inventoryResolvers = {
  Query: {
    inventory(_root, { id }) {
      return inventoryById(id);
    },
  },
  Inventory: {
    __resolveType(inventory) {
      return inventory.id === "apollo-oss" ? "OpenSourceInventory" : null;
    },
    __resolveReference(reference) {
      return inventoryById(reference.id);
    },
  },
  OpenSourceInventory: {
    __resolveReference(reference) {
      return inventoryById(reference.id);
    },
  },
  Product: {
    // `product` is the representation the gateway sent: `id` plus the required `dimensions`.
    delivery(product, { zip }) {
      const { id, dimensions } = product;
      if (
        id === "apollo-federation" &&
        dimensions?.size === "small" &&
        dimensions?.weight === 1 &&
        zip === "94111"
      ) {
        return { estimatedDelivery: "5/1/2019", fastestDelivery: "5/1/2019" };
      }
      throw new GraphQLError(
        `no delivery estimate for product ${JSON.stringify(id)} with dimensions ` +
          `${JSON.stringify(dimensions ?? null)} to zip ${JSON.stringify(zip ?? null)}`,
      );
    },
  },
};

/** The reference subgraphs: name, SDL and resolvers. */
export const REFERENCE_SUBGRAPHS = [
  { name: "users", sdl: USERS_SDL, resolvers: usersResolvers },
  { name: "inventory", sdl: INVENTORY_SDL, resolvers: inventoryResolvers },
];

/** Starts one reference subgraph on 127.0.0.1 and an ephemeral port. */
async function startOne({ name, sdl, resolvers }) {
  const schema = buildSubgraphSchema([{ typeDefs: parse(sdl), resolvers }]);
  // No federated tracing (ftv1): the gateway does not report usage, and it would only log.
  const server = new ApolloServer({
    schema,
    introspection: true,
    includeStacktraceInErrorResponses: false,
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: 0 } });
  return { name, url, sdl, stop: () => server.stop() };
}

/** Starts every reference subgraph whose name is in `names`. */
export async function startReferenceSubgraphs(names) {
  const wanted = REFERENCE_SUBGRAPHS.filter((subgraph) => names.includes(subgraph.name));
  return Promise.all(wanted.map(startOne));
}
