// Assertions for the e2e checks. Each throws an Error whose message is one short line, which
// run.mjs prints after `FAIL <check>:`.

/** The longest rendering of a value kept in a message. */
const MAX_SHOWN = 600;

/** A value as compact JSON, shortened to MAX_SHOWN characters. */
export function show(value) {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…(${text.length} chars)` : text;
}

/** Where `actual` and `expected` first differ (a JSON path), or null when they are equal. */
export function firstDifference(actual, expected, path = "$") {
  if (Object.is(actual, expected)) return null;
  if (typeof actual !== "object" || typeof expected !== "object" || !actual || !expected) {
    return path;
  }
  if (Array.isArray(actual) !== Array.isArray(expected)) return path;
  if (Array.isArray(actual)) {
    if (actual.length !== expected.length) return `${path} (length ${actual.length}, expected ${expected.length})`;
    for (let i = 0; i < actual.length; i++) {
      const difference = firstDifference(actual[i], expected[i], `${path}[${i}]`);
      if (difference) return difference;
    }
    return null;
  }
  const keys = Object.keys(expected);
  const actualKeys = Object.keys(actual);
  if (actualKeys.length !== keys.length || keys.some((key, i) => actualKeys[i] !== key)) {
    return `${path} (keys ${show(actualKeys)}, expected ${show(keys)})`;
  }
  for (const key of keys) {
    const difference = firstDifference(actual[key], expected[key], `${path}.${key}`);
    if (difference) return difference;
  }
  return null;
}

/** Throws unless `actual` deep-equals `expected` (object keys in the same order, as GraphQL). */
export function expectEqual(actual, expected, what) {
  const difference = firstDifference(actual, expected);
  if (difference) {
    throw new Error(`${what}: differs at ${difference}: got ${show(actual)}, expected ${show(expected)}`);
  }
}

/** Throws with `message` unless `condition` holds. */
export function expectTrue(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * The `data` of a GraphQL response after checking it has no `errors` and HTTP status 200.
 * `response` is what `gatewayRequest`/`subgraphRequest` return.
 */
export function dataOf(response, what) {
  const { status, body } = response;
  if (body?.errors?.length) throw new Error(`${what}: errors ${show(body.errors)}`);
  if (status !== 200) throw new Error(`${what}: HTTP ${status}: ${show(body)}`);
  if (!body || typeof body !== "object" || !("data" in body)) {
    throw new Error(`${what}: no data in ${show(body)}`);
  }
  return body.data;
}

/**
 * Checks the subgraph requests of one gateway request against `expected`, in order: each
 * `{ subgraph, entities, statements, ... }`, where `entities` says whether it is an `_entities`
 * call, and `statements` and any other field (`uniqueKeys`, `groups`, ...) are what graft must
 * report in `extensions.graft.batch`.
 */
export function expectFetches(fetchLog, expected) {
  for (const entry of fetchLog) {
    if (entry.errors?.length) throw new Error(`${entry.subgraph} answered with errors ${show(entry.errors)}`);
    if (!entry.batch) throw new Error(`${entry.subgraph} reported no extensions.graft.batch for ${show(entry.query)}`);
  }
  const got = fetchLog.map((entry, i) => {
    const { subgraph, entities, ...figures } = expected[i] ?? { statements: null };
    return {
      subgraph: entry.subgraph,
      entities: /\b_entities\s*\(/.test(entry.query),
      ...Object.fromEntries(Object.keys(figures).map((figure) => [figure, entry.batch[figure]])),
    };
  });
  const log = fetchLog.map(({ subgraph, query, batch }) => ({ subgraph, query, batch }));
  expectEqual(got, expected, `subgraph requests (log: ${show(log)})`);
}
