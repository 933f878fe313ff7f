// Federation e2e: graft subgraphs composed with reference subgraphs and queried through a real
// Apollo gateway (@apollo/gateway under @apollo/server), without Docker. `cargo xtask e2e`
// installs the packages into target/e2e/, starts the graft subgraphs and runs this file there.
//
// Usage:
//
//   node run.mjs [--subgraphs FILE] [FILTER...]
//
// The graft subgraphs to compose come from FILE, or else from the environment variable
// GRAFT_E2E_SUBGRAPHS; both hold one JSON object mapping a subgraph name to its GraphQL URL:
//
//   {"orgs-users": "http://127.0.0.1:41234/graphql", "orgs-orders": "http://127.0.0.1:41235/graphql"}
//
// The environment variable GRAFT_E2E_SUPERGRAPHS, when set, groups graft subgraphs into
// supergraphs of their own: one JSON object mapping a supergraph name to its subgraphs' names.
// Subgraphs it does not name, and the reference subgraphs, form the supergraph `default`:
//
//   {"remote-orgs": ["remote-users", "remote-orders"]}
//
// FILTERs, when given, run only the checks whose name contains one of them.
//
// With GRAFT_E2E_ROUTER set to the path of Apollo Router's `router` binary, each supergraph is
// served by the Router instead of @apollo/gateway, behind recording proxies (router.mjs), with
// subgraph request compression on.
//
// What it does:
//
// 1. starts the reference subgraphs of reference.mjs in process on ephemeral ports: `users`
//    always, `inventory` only when a subgraph named `products` is given (it extends `Product`);
// 2. fetches every subgraph's `_service { sdl }` and composes each supergraph's subgraphs with
//    `composeServices` from @apollo/composition (compose.mjs); composition errors are printed in full and the
//    run exits 1;
// 3. starts an ApolloGateway per supergraph on its supergraph SDL, under ApolloServer on an
//    ephemeral port. Every subgraph request carries `graft-debug: true`, and is recorded in the
//    fetch log with graft's batch statistics from the response (`extensions.graft.batch`);
// 4. runs the checks of every module in checks/ (see checks/compat.mjs for the module shape),
//    one at a time, each against the supergraph its module exports as `supergraph` (else
//    `default`), and prints `PASS <name>` or `FAIL <name>: <reason>` per check, then
//    `N/M checks passed`. It exits 0 when every check passed, 1 otherwise (also when no check
//    ran), 2 on bad usage.
//
// A check gets a context with:
//
//   gatewayRequest(query, variables?)        POST to its supergraph's gateway -> { status, headers, body }
//   subgraphRequest(name, body, headers?)    POST `body` (an object, sent as JSON) to a subgraph
//                                            by name, graft or reference -> { status, headers, body }
//   subgraphUrl(name)                        the subgraph's GraphQL URL
//   subgraphSdl(name)                        the subgraph's `_service { sdl }`, as composed
//   subgraphNames                            the names of its supergraph's subgraphs
//   gateway                                  "apollo-gateway", or "router" under Apollo Router
//   fetchLog                                 the subgraph requests the gateway sent during this
//                                            check, in order: { subgraph, operationName, query,
//                                            variables, status, batch, errors }; `batch` is
//                                            graft's `extensions.graft.batch` (`representations`,
//                                            `invalid`, `uniqueKeys`, `duplicates`, `groups`,
//                                            `largestGroup`, `splits`, `statements`) or null;
//                                            under the Router also `requestEncoding`,
//                                            `acceptEncoding`, `responseEncoding`, `batched`
//
// `body` is the parsed JSON response, or its text when it is not JSON.

import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { CompositionError, compose, fetchSdl } from "./compose.mjs";
import { startReferenceSubgraphs } from "./reference.mjs";
import { startRouter } from "./router.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
/** How long one HTTP request may take. */
const REQUEST_TIMEOUT_MS = 30_000;
/** How long one check may take. */
const CHECK_TIMEOUT_MS = 60_000;

/** The supergraph of the subgraphs GRAFT_E2E_SUPERGRAPHS does not name, and of the checks that name none. */
const DEFAULT_SUPERGRAPH = "default";

/** A usage error: printed without a stack, exit code 2. */
class UsageError extends Error {}

/** Reads the command line: the graft subgraphs and the check filters. */
async function readArguments(argv) {
  let file = null;
  const filters = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--subgraphs") {
      file = argv[++i];
      if (!file) throw new UsageError("--subgraphs needs a file name");
    } else if (argv[i].startsWith("--")) {
      throw new UsageError(`unknown option ${argv[i]}`);
    } else {
      filters.push(argv[i]);
    }
  }
  let text;
  let source;
  if (file) {
    source = file;
    text = await readFile(file, "utf8");
  } else if (process.env.GRAFT_E2E_SUBGRAPHS) {
    source = "GRAFT_E2E_SUBGRAPHS";
    text = process.env.GRAFT_E2E_SUBGRAPHS;
  } else {
    throw new UsageError("give the graft subgraphs with --subgraphs FILE or GRAFT_E2E_SUBGRAPHS");
  }
  let subgraphs;
  try {
    subgraphs = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${source}: not JSON: ${error.message}`);
  }
  if (!subgraphs || typeof subgraphs !== "object" || Array.isArray(subgraphs)) {
    throw new UsageError(`${source}: expected an object of subgraph name to URL`);
  }
  for (const [name, url] of Object.entries(subgraphs)) {
    if (typeof url !== "string" || !/^https?:\/\//.test(url)) {
      throw new UsageError(`${source}: subgraph ${name}: expected an http(s) URL, got ${JSON.stringify(url)}`);
    }
  }
  let supergraphs = {};
  if (process.env.GRAFT_E2E_SUPERGRAPHS) {
    try {
      supergraphs = JSON.parse(process.env.GRAFT_E2E_SUPERGRAPHS);
    } catch (error) {
      throw new UsageError(`GRAFT_E2E_SUPERGRAPHS: not JSON: ${error.message}`);
    }
    if (!supergraphs || typeof supergraphs !== "object" || Array.isArray(supergraphs)) {
      throw new UsageError("GRAFT_E2E_SUPERGRAPHS: expected an object of supergraph name to subgraph names");
    }
    for (const [supergraph, names] of Object.entries(supergraphs)) {
      if (supergraph === DEFAULT_SUPERGRAPH) {
        throw new UsageError(`GRAFT_E2E_SUPERGRAPHS: ${DEFAULT_SUPERGRAPH} is made of the subgraphs it does not name`);
      }
      if (!Array.isArray(names) || names.some((name) => !(name in subgraphs))) {
        throw new UsageError(
          `GRAFT_E2E_SUPERGRAPHS: ${supergraph}: expected names of given subgraphs, got ${JSON.stringify(names)}`,
        );
      }
    }
  }
  return { subgraphs, supergraphs, filters };
}

/** POSTs `body` as JSON to `url`; returns the status, headers and parsed (or text) body. */
async function postJson(url, body, headers = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, headers: Object.fromEntries(response.headers), body: parsed };
}

/** Prints a supergraph's composition errors in full and exits 1. */
function failComposition(supergraph, error) {
  console.error(`${supergraph}: ${error.message}`);
  process.exit(1);
}

/** Loads every checks/*.mjs module's `checks`, in file name order, each with its module's `supergraph`. */
async function loadChecks() {
  const directory = join(HERE, "checks");
  const files = (await readdir(directory)).filter((file) => file.endsWith(".mjs")).sort();
  const checks = [];
  const names = new Set();
  for (const file of files) {
    const module = await import(pathToFileURL(join(directory, file)).href);
    if (!Array.isArray(module.checks)) {
      throw new Error(`checks/${file}: must export \`checks\`, an array of { name, run }`);
    }
    const supergraph = module.supergraph ?? DEFAULT_SUPERGRAPH;
    if (typeof supergraph !== "string") throw new Error(`checks/${file}: \`supergraph\` must be a name`);
    for (const check of module.checks) {
      if (typeof check?.name !== "string" || typeof check.run !== "function") {
        throw new Error(`checks/${file}: every check needs a string \`name\` and a function \`run\``);
      }
      if (names.has(check.name)) throw new Error(`checks/${file}: check ${check.name} is defined twice`);
      names.add(check.name);
      checks.push({ ...check, supergraph });
    }
  }
  return checks;
}

/** Runs `promise` but rejects after `ms` milliseconds. */
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The first line of an error's message (checks keep theirs to one line). */
function reason(error) {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] || (error?.name ?? "error");
}

/**
 * Composes `names` (with their SDLs from `sdls` and URLs from `urls`) and serves the supergraph
 * with a gateway whose subgraph requests are recorded with `record`. Returns the gateway's URL
 * and a function that stops it.
 */
async function startGateway(supergraph, names, urls, sdls, record) {
  let supergraphSdl;
  try {
    supergraphSdl = compose(names.map((name) => ({ name, url: urls.get(name), sdl: sdls.get(name) })));
  } catch (error) {
    if (error instanceof CompositionError) failComposition(supergraph, error);
    throw error;
  }
  console.log(`${supergraph}: composed ${names.length} subgraphs: ${names.join(", ")}`);

  class RecordingDataSource extends RemoteGraphQLDataSource {
    constructor(name, url) {
      super({ url });
      this.subgraphName = name;
    }
    willSendRequest({ request }) {
      request.http?.headers.set("graft-debug", "true");
    }
    didReceiveResponse({ response, request }) {
      record({
        subgraph: this.subgraphName,
        operationName: request.operationName ?? null,
        query: request.query,
        variables: request.variables ?? null,
        status: response.http?.status ?? null,
        batch: response.extensions?.graft?.batch ?? null,
        errors: response.errors ?? null,
      });
      return response;
    }
  }

  const gateway = new ApolloGateway({
    supergraphSdl,
    buildService: ({ name, url }) => new RecordingDataSource(name, url),
  });
  const server = new ApolloServer({ gateway, includeStacktraceInErrorResponses: false });
  const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: 0 } });
  console.log(`${supergraph}: gateway at ${url}`);
  return { url, stop: () => server.stop() };
}

async function main() {
  const { subgraphs: graftSubgraphs, supergraphs, filters } = await readArguments(process.argv.slice(2));
  const graftNames = Object.keys(graftSubgraphs);

  const referenceNames = ["users"];
  if (graftNames.includes("products")) referenceNames.push("inventory");
  for (const name of referenceNames) {
    if (graftNames.includes(name)) {
      throw new UsageError(`subgraph name ${name} is taken by a reference subgraph; rename it`);
    }
  }

  const stops = [];
  const stopAll = () => Promise.allSettled(stops.map((stop) => stop()));
  try {
    const references = await startReferenceSubgraphs(referenceNames);
    stops.push(...references.map((reference) => reference.stop));

    /** Every subgraph: name -> URL. */
    const urls = new Map(Object.entries(graftSubgraphs));
    for (const reference of references) urls.set(reference.name, reference.url);

    /** Every subgraph's SDL, fetched the way a composition tool would. */
    const sdls = new Map();
    await Promise.all(
      [...urls].map(async ([name, url]) => sdls.set(name, await fetchSdl(name, url))),
    );

    /** Each supergraph's subgraphs: the named ones, and `default` with all the others. */
    const grouped = Object.values(supergraphs).flat();
    const members = new Map([
      [DEFAULT_SUPERGRAPH, [...urls.keys()].filter((name) => !grouped.includes(name))],
      ...Object.entries(supergraphs),
    ]);

    /** The fetch log of the running check, whichever gateway sent the requests. */
    let fetchLog = [];
    const record = (entry) => fetchLog.push(entry);
    const gateways = new Map();
    const router = process.env.GRAFT_E2E_ROUTER || null;
    for (const [supergraph, names] of members) {
      const gateway = router
        ? await startRouter(router, HERE, supergraph, names, urls, sdls, record)
        : await startGateway(supergraph, names, urls, sdls, record);
      stops.unshift(gateway.stop);
      gateways.set(supergraph, gateway.url);
    }

    const contextFor = (supergraph) => {
      const gatewayUrl = gateways.get(supergraph);
      return {
        gatewayRequest: (query, variables) => postJson(gatewayUrl, { query, variables }),
        subgraphRequest: (name, body, headers) => {
          const url = urls.get(name);
          if (!url) throw new Error(`no subgraph named ${name} (have ${[...urls.keys()].join(", ")})`);
          return postJson(url, body, headers);
        },
        subgraphUrl: (name) => {
          const url = urls.get(name);
          if (!url) throw new Error(`no subgraph named ${name} (have ${[...urls.keys()].join(", ")})`);
          return url;
        },
        subgraphSdl: (name) => {
          if (!sdls.has(name)) throw new Error(`no subgraph named ${name}`);
          return sdls.get(name);
        },
        subgraphNames: members.get(supergraph),
        gateway: router ? "router" : "apollo-gateway",
        get fetchLog() {
          return fetchLog;
        },
      };
    };

    const checks = (await loadChecks()).filter(
      (check) => filters.length === 0 || filters.some((filter) => check.name.includes(filter)),
    );
    for (const check of checks) {
      if (!gateways.has(check.supergraph)) {
        throw new Error(
          `check ${check.name}: no supergraph ${check.supergraph} (have ${[...gateways.keys()].join(", ")})`,
        );
      }
    }
    let passed = 0;
    for (const check of checks) {
      fetchLog = [];
      try {
        const context = contextFor(check.supergraph);
        await withTimeout(Promise.resolve().then(() => check.run(context)), CHECK_TIMEOUT_MS, check.name);
        passed++;
        console.log(`PASS ${check.name}`);
      } catch (error) {
        console.log(`FAIL ${check.name}: ${reason(error)}`);
      }
    }
    console.log(`${passed}/${checks.length} checks passed`);
    if (checks.length === 0) console.log("no check ran: that is a failure");
    return passed === checks.length && checks.length > 0 ? 0 : 1;
  } finally {
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    if (error instanceof UsageError) {
      console.error(`run.mjs: ${error.message}`);
      process.exit(2);
    }
    console.error(`run.mjs: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
