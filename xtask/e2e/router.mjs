// Apollo Router (the `router` binary of the apollo-router crate) in place of @apollo/gateway,
// for `cargo xtask e2e --router PATH` (run.mjs with GRAFT_E2E_ROUTER=PATH).
//
// Per supergraph:
// 1. a recording proxy per subgraph on an ephemeral port: it forwards the Router's requests
//    byte for byte (compressed bodies, batches and all) with `graft-debug: true` added, passes
//    the answers back as graft sent them (compressed when the Router asked), and records each request in the fetch log the checks read
//    (decompressing a copy of both bodies to read them);
// 2. the supergraph composed with the proxies' URLs (compose.mjs), written to
//    target/e2e/<supergraph>.supergraph.graphql with its router.yaml beside it: subgraph
//    request compression on (`traffic_shaping.all.compression: gzip`), subgraph errors passed
//    through, homepage, sandbox and Apollo telemetry off;
// 3. the Router started on it, its log in target/e2e/<supergraph>.router.log, ready once its
//    health check answers.

import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer, request as httpRequest } from "node:http";
import { createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";

import { compose } from "./compose.mjs";

/** How long the Router may take to answer its health check. */
const START_TIMEOUT_MS = 60_000;

/** A free TCP port on 127.0.0.1 (closed again, so the Router can take it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** `bytes` decoded from `encoding` (gzip, br, deflate, or none). */
function decode(bytes, encoding) {
  switch ((encoding ?? "identity").trim()) {
    case "gzip":
      return gunzipSync(bytes);
    case "br":
      return brotliDecompressSync(bytes);
    case "deflate":
      return inflateSync(bytes);
    default:
      return bytes;
  }
}

/** Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

/** `headers` without the hop-by-hop ones, those `Connection` names included, and `host`. */
function endToEnd(headers) {
  const named = String(headers.connection ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  const kept = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name !== "host" && !HOP_BY_HOP.includes(name) && !named.includes(name)) kept[name] = value;
  }
  return kept;
}

/** Parsed JSON, or null. */
function parsed(bytes) {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    return null;
  }
}

/** Sends `body` to `target` as it is (node:http, which decompresses nothing either way). */
function forward(target, method, headers, body) {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(target, { method, headers: { ...headers, "content-length": body.length } }, (incoming) => {
      const chunks = [];
      incoming.on("data", (chunk) => chunks.push(chunk));
      incoming.on("end", () => {
        const received = Buffer.concat(chunks);
        const passed = { ...endToEnd(incoming.headers), "content-length": String(received.length) };
        resolve({ status: incoming.statusCode, headers: passed, body: received });
      });
      incoming.on("error", reject);
    });
    outgoing.setTimeout(30_000, () => outgoing.destroy(new Error("no answer within 30 s")));
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

/** Records one entry per GraphQL request of an exchange (a batch records each of its entries). */
function recordExchange(name, requestHeaders, body, upstream, record) {
  const requestEncoding = requestHeaders["content-encoding"] ?? null;
  const acceptEncoding = requestHeaders["accept-encoding"] ?? null;
  const responseEncoding = upstream.headers["content-encoding"] ?? null;
  const sent = parsed(decode(body, requestEncoding));
  const answer = parsed(decode(upstream.body, responseEncoding));
  const batched = Array.isArray(sent);
  const requests = batched ? sent : [sent];
  requests.forEach((entry, i) => {
    // A batch refused as a whole answers one object: its errors belong to every entry.
    const got = batched && Array.isArray(answer) ? answer[i] : answer;
    record({
      subgraph: name,
      operationName: entry?.operationName ?? null,
      query: entry?.query ?? "",
      variables: entry?.variables ?? null,
      status: upstream.status,
      batch: got?.extensions?.graft?.batch ?? null,
      errors: got?.errors ?? null,
      requestEncoding,
      acceptEncoding,
      responseEncoding,
      batched,
    });
  });
}

/**
 * A proxy in front of subgraph `name` at `target`; every request it forwards is passed to
 * `record` (one entry per GraphQL request, so a batch records each of its entries).
 */
async function startProxy(name, target, record) {
  const server = createServer(async (request, response) => {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const headers = { ...endToEnd(request.headers), "graft-debug": "true" };
    let upstream;
    try {
      upstream = await forward(target, request.method, headers, body);
    } catch (error) {
      response.writeHead(502, { "content-type": "text/plain" });
      response.end(`proxy for ${name}: ${error.message}`);
      return;
    }
    // The answer goes back first; a body the log cannot read only leaves a poorer log entry.
    response.writeHead(upstream.status, upstream.headers);
    response.end(upstream.body);
    try {
      recordExchange(name, request.headers, body, upstream, record);
    } catch (error) {
      record({ subgraph: name, query: "", status: upstream.status, batch: null, errors: [{ message: `proxy: ${error.message}` }] });
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  const stop = () =>
    new Promise((resolve) => {
      server.close(resolve);
      // The Router keeps its connections alive: close them, or `close` waits for them.
      server.closeAllConnections();
    });
  return { url: `http://127.0.0.1:${port}/graphql`, stop };
}

/** router.yaml for a Router on `port`, its health check on `healthPort`. */
function routerConfig(port, healthPort) {
  return `# Written by xtask/e2e/router.mjs for one e2e run.
supergraph:
  listen: 127.0.0.1:${port}
  path: /
  introspection: true
health_check:
  enabled: true
  listen: 127.0.0.1:${healthPort}
homepage:
  enabled: false
sandbox:
  enabled: false
include_subgraph_errors:
  all: true
traffic_shaping:
  all:
    compression: gzip
`;
}

/** Waits until `url` answers 200, or `child` exits, or the time runs out. */
async function waitForHealth(url, child, logPath) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the Router exited (${child.exitCode}); see ${logPath}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the Router did not answer ${url} within ${START_TIMEOUT_MS / 1000} s; see ${logPath}`);
}

/**
 * Starts the Router at `binary` for `supergraph` (its subgraphs `names`, at `urls`, with SDLs
 * `sdls`), writing its files into `work`. Returns its URL and a function that stops it all.
 */
export async function startRouter(binary, work, supergraph, names, urls, sdls, record) {
  const proxies = new Map();
  for (const name of names) proxies.set(name, await startProxy(name, urls.get(name), record));
  const stopProxies = () => Promise.allSettled([...proxies.values()].map((proxy) => proxy.stop()));
  try {
    const supergraphSdl = compose(
      names.map((name) => ({ name, url: proxies.get(name).url, sdl: sdls.get(name) })),
    );
    const [port, healthPort] = [await freePort(), await freePort()];
    const sdlPath = join(work, `${supergraph}.supergraph.graphql`);
    const configPath = join(work, `${supergraph}.router.yaml`);
    const logPath = join(work, `${supergraph}.router.log`);
    await writeFile(sdlPath, supergraphSdl);
    await writeFile(configPath, routerConfig(port, healthPort));
    const log = createWriteStream(logPath);
    const child = spawn(binary, ["--supergraph", sdlPath, "--config", configPath, "--log", "info"], {
      env: { ...process.env, APOLLO_TELEMETRY_DISABLED: "true", APOLLO_ROUTER_LOG: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const stop = async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      await stopProxies();
    };
    try {
      await waitForHealth(`http://127.0.0.1:${healthPort}/health`, child, logPath);
    } catch (error) {
      await stop();
      throw error;
    }
    const url = `http://127.0.0.1:${port}/`;
    console.log(`${supergraph}: Apollo Router at ${url} (log: ${logPath})`);
    return { url, stop };
  } catch (error) {
    await stopProxies();
    throw error;
  }
}
