// What Apollo Router sends a subgraph beyond the JavaScript gateway's requests, sent to the
// graft subgraph `orgs-users` directly, in the shapes the Router documents: a batch (a JSON
// array of requests, `batching.subgraph`), a gzip request body (`traffic_shaping.all.
// compression`), `Accept-Encoding` on a large `_entities` answer; and `_entities` errors that
// carry their paths, so that a gateway places each on its entity instead of every entity.

import { gzipSync } from "node:zlib";

import { dataOf, expectEqual, expectTrue, show } from "../expect.mjs";
import { seedOrder, seedUser } from "../orgs-seed.mjs";

const ENTITIES = `query($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on OrgUser { userId name email } }
}`;

/** The user of representation `i` among the seed's 1,000 (10 organisations of 100). */
function representation(i) {
  return { __typename: "OrgUser", orgId: `org-${(i % 10) + 1}`, userId: `u${(Math.floor(i / 10) % 100) + 1}` };
}

function expected(i) {
  const { userId, name, email } = seedUser((i % 10) + 1, (Math.floor(i / 10) % 100) + 1);
  return { userId, name, email };
}

/** POSTs `body` (bytes or a string) to `url` with `headers`; the raw response's parts. */
async function post(url, body, headers) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status}, not JSON: ${text.slice(0, 300)}`);
  }
  return { status: response.status, headers: response.headers, json };
}

export const checks = [
  {
    name: "interop: a batch in the Router's shape is answered in order, each entry alone",
    async run({ subgraphUrl }) {
      const batch = [
        { query: ENTITIES, operationName: null, variables: { representations: [representation(0)] }, extensions: {} },
        { query: "{ nope }", variables: {} },
        { query: ENTITIES, variables: { representations: [representation(11), representation(12)] } },
      ];
      const { status, json } = await post(subgraphUrl("orgs-users"), JSON.stringify(batch), {});
      expectEqual(status, 200, "status");
      expectTrue(Array.isArray(json) && json.length === 3, `three answers: ${show(json)}`);
      expectEqual(json[0], { data: { _entities: [expected(0)] } }, "entry 0");
      expectEqual(json[1].errors?.[0]?.extensions?.code, "GRAPHQL_VALIDATION_FAILED", "entry 1");
      expectEqual(json[2], { data: { _entities: [expected(11), expected(12)] } }, "entry 2");
    },
  },
  {
    name: "interop: a gzip request body, as the Router's traffic shaping sends it",
    async run({ subgraphUrl }) {
      const body = gzipSync(JSON.stringify({ query: ENTITIES, variables: { representations: [representation(7)] } }));
      const { status, json } = await post(subgraphUrl("orgs-users"), body, { "content-encoding": "gzip" });
      expectEqual(status, 200, "status");
      expectEqual(json, { data: { _entities: [expected(7)] } }, "answer");
    },
  },
  {
    name: "interop: a 5,000-entity _entities answer comes compressed",
    async run({ subgraphUrl }) {
      const count = 5_000;
      const representations = Array.from({ length: count }, (_, i) => representation(i));
      const body = JSON.stringify({ query: ENTITIES, variables: { representations } });
      for (const encoding of ["gzip", "br"]) {
        // fetch decompresses; the header says what crossed the network.
        const { status, headers, json } = await post(subgraphUrl("orgs-users"), body, { "accept-encoding": encoding });
        expectEqual(status, 200, "status");
        expectEqual(headers.get("content-encoding"), encoding, "content-encoding");
        const found = json.data?._entities;
        expectTrue(Array.isArray(found) && found.length === count, `${count} entities`);
        found.forEach((entity, i) => expectEqual(entity, expected(i), `entity ${i}`));
      }
    },
  },
  {
    name: "interop: _entities errors carry their paths",
    async run({ subgraphUrl }) {
      const representations = [
        representation(0),
        { __typename: "OrgUser", orgId: "org-1" },
        representation(1),
        { __typename: "Nope", id: "1" },
      ];
      const { status, json } = await post(
        subgraphUrl("orgs-users"),
        JSON.stringify({ query: ENTITIES, variables: { representations } }),
        {},
      );
      expectEqual(status, 200, "status");
      expectEqual(json.data, { _entities: [expected(0), null, expected(1), null] }, "data");
      const paths = (json.errors ?? []).map((error) => error.path);
      expectEqual(paths, [["_entities", 1], ["_entities", 3]], `error paths (${show(json.errors)})`);
    },
  },
  {
    name: "interop: 1,000 orders' users through the gateway, compressed both ways under the Router",
    async run({ gatewayRequest, fetchLog, gateway }) {
      const count = 1_000;
      const response = await gatewayRequest(
        `query($first: Int) { orders(first: $first) { nodes { id user { name } } } }`,
        { first: count },
      );
      const nodes = Array.from({ length: count }, (_, i) => {
        const order = seedOrder(i + 1);
        return { id: order.id, user: { name: seedUser(order.org, order.user).name } };
      });
      expectEqual(dataOf(response, "gateway"), { orders: { nodes } }, "orders");
      const entities = fetchLog.find((entry) => /\b_entities\s*\(/.test(entry.query));
      expectTrue(entities?.batch?.statements === 1, `one statement for the users: ${show(entities?.batch)}`);
      if (gateway === "router") {
        for (const entry of fetchLog) {
          expectEqual(entry.requestEncoding, "gzip", `${entry.subgraph}: the request's content-encoding`);
        }
        expectTrue(
          ["gzip", "br", "deflate", "zstd"].includes(entities.responseEncoding),
          `the users' answer came compressed (accept-encoding ${entities.acceptEncoding}, content-encoding ${entities.responseEncoding})`,
        );
        console.log(
          `  the Router sent gzip, asked for ${entities.acceptEncoding}, got ${entities.responseEncoding}`,
        );
      }
    },
  },
];
