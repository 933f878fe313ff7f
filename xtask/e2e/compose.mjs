// Composition of running subgraphs into a supergraph, the way a composition tool does it: fetch
// every subgraph's `_service { sdl }`, then `composeServices` from @apollo/composition. run.mjs
// composes its supergraphs with it; `cargo xtask compose` runs it as a command:
//
//   node compose.mjs [--output FILE] NAME=URL...
//
// prints (or writes to FILE) the supergraph SDL of the named subgraphs, for Apollo Router's
// `--supergraph` or Apollo Gateway's `supergraphSdl`. Composition errors are printed in full,
// each with its subgraph and position, and the command exits 1; bad usage exits 2.

import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { composeServices } from "@apollo/composition";
import { Source, getLocation, parse } from "graphql";

/** How long one HTTP request may take. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Composition failed: `lines` say why, one error (and its positions) after another. */
export class CompositionError extends Error {
  constructor(lines) {
    super(lines.join("\n"));
    this.lines = lines;
  }
}

/** A subgraph's `_service { sdl }`, fetched from its GraphQL URL. */
export async function fetchSdl(name, url) {
  let response;
  let text;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query: "{ _service { sdl } }" }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    text = await response.text();
  } catch (error) {
    throw new Error(`subgraph ${name} (${url}): _service request failed: ${error.message}`);
  }
  let sdl;
  try {
    sdl = JSON.parse(text)?.data?._service?.sdl;
  } catch {
    sdl = undefined;
  }
  if (response.status !== 200 || typeof sdl !== "string") {
    throw new Error(`subgraph ${name} (${url}): no _service { sdl } (HTTP ${response.status}): ${text.slice(0, 500)}`);
  }
  return sdl;
}

/**
 * Composes `subgraphs` (an array of { name, url, sdl }) and returns the supergraph SDL; throws a
 * CompositionError that lists every composition error otherwise.
 */
export function compose(subgraphs) {
  const services = subgraphs.map(({ name, url, sdl }) => ({
    name,
    url,
    typeDefs: parse(new Source(sdl, `subgraph ${name}`)),
  }));
  const composition = composeServices(services);
  if (!composition.errors?.length) return composition.supergraphSdl;
  const lines = [`composition failed with ${composition.errors.length} error(s):`];
  for (const error of composition.errors) {
    const code = error.extensions?.code ? `[${error.extensions.code}] ` : "";
    lines.push(`- ${code}${error.message}`);
    for (const node of error.nodes ?? []) {
      const source = node.loc?.source;
      if (!source) continue;
      const { line, column } = getLocation(source, node.loc.start);
      lines.push(`    at ${source.name}:${line}:${column}`);
    }
  }
  throw new CompositionError(lines);
}

/** A usage error: printed without a stack, exit code 2. */
class UsageError extends Error {}

/** Reads `[--output FILE] NAME=URL...`. */
function readArguments(argv) {
  let output = null;
  const subgraphs = [];
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i];
    if (argument === "--output") {
      output = argv[++i];
      if (!output) throw new UsageError("--output needs a file name");
    } else if (argument.startsWith("--")) {
      throw new UsageError(`unknown option ${argument}`);
    } else {
      const at = argument.indexOf("=");
      const name = argument.slice(0, at);
      const url = argument.slice(at + 1);
      if (at <= 0 || !/^https?:\/\//.test(url)) {
        throw new UsageError(`expected NAME=URL (an http(s) GraphQL URL), got ${JSON.stringify(argument)}`);
      }
      if (subgraphs.some((subgraph) => subgraph.name === name)) {
        throw new UsageError(`subgraph ${name} is given twice`);
      }
      subgraphs.push({ name, url });
    }
  }
  if (subgraphs.length === 0) throw new UsageError("give at least one subgraph as NAME=URL");
  return { output, subgraphs };
}

async function main() {
  const { output, subgraphs } = readArguments(process.argv.slice(2));
  const fetched = await Promise.all(
    subgraphs.map(async (subgraph) => ({ ...subgraph, sdl: await fetchSdl(subgraph.name, subgraph.url) })),
  );
  const supergraph = compose(fetched);
  if (output) {
    await writeFile(output, supergraph);
    console.error(`composed ${subgraphs.length} subgraph(s) into ${output}`);
  } else {
    process.stdout.write(supergraph.endsWith("\n") ? supergraph : `${supergraph}\n`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    if (error instanceof UsageError) {
      console.error(`compose: ${error.message}\nusage: compose [--output FILE] NAME=URL...`);
      process.exit(2);
    }
    console.error(error instanceof CompositionError ? error.message : `compose: ${error.message}`);
    process.exit(1);
  });
}
