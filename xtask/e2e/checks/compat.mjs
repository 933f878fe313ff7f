// Apollo Federation subgraph compatibility checks, run against graft's `products` subgraph
// (examples/compat-products/) composed with the reference `users` and `inventory` subgraphs
// (reference.mjs) under the gateway.
//
// These are the fifteen checks of Apollo's subgraph compatibility suite
// (apollographql/apollo-federation-subgraph-compatibility), written here from its published test
// cases: the same requests, the same expectations. Some ask the products subgraph directly (its
// `_service { sdl }` and `_entities`), some go through the gateway, where the answer needs the
// other subgraphs too (`@requires`, `@override`, `@shareable`, `@interfaceObject`).
//
// A checks module exports `checks`: an array of { name, async run(ctx) }; a check passes when
// `run` resolves and fails with the first line of what it throws. `ctx` (see run.mjs):
// gatewayRequest(query, variables?), subgraphRequest(name, body, headers?) -> { status, headers,
// body }; subgraphSdl(name); subgraphNames; fetchLog.

import { Kind, parse, print, stripIgnoredCharacters } from "graphql";

import { dataOf, expectEqual, expectTrue, show } from "../expect.mjs";

const PRODUCTS = "products";

/** The products subgraph's fields the suite compares, type by type, as the suite's schema has them. */
const EXPECTED_FIELDS = {
  Product: {
    id: "ID!",
    sku: "String",
    package: "String",
    variation: "ProductVariation",
    dimensions: "ProductDimension",
    createdBy: "User",
    notes: "String",
    research: "[ProductResearch!]!",
  },
  DeprecatedProduct: {
    sku: "String!",
    package: "String!",
    reason: "String",
    createdBy: "User",
  },
  ProductVariation: { id: "ID!" },
  ProductResearch: { study: "CaseStudy!", outcome: "String" },
  CaseStudy: { caseNumber: "ID!", description: "String" },
  ProductDimension: { size: "String", weight: "Float", unit: "String" },
  User: {
    averageProductsCreatedPerYear: "Int",
    email: "ID!",
    name: "String",
    totalProductsCreated: "Int",
    yearsOfEmployment: "Int!",
  },
  Query: {
    "product(id: ID!)": "Product",
    "deprecatedProduct(sku: String!, package: String!)": "DeprecatedProduct",
  },
};

/** The federation directives and definitions a `@link` to the federation spec may import. */
const FEDERATION_IMPORTS = new Set([
  "@authenticated",
  "@composeDirective",
  "@extends",
  "@external",
  "@inaccessible",
  "@interfaceObject",
  "@key",
  "@override",
  "@policy",
  "@provides",
  "@requires",
  "@requiresScopes",
  "@shareable",
  "@tag",
  "FieldSet",
  "Scope",
  "Policy",
]);

/** The products subgraph's `_service { sdl }`, with ignored characters stripped as the suite does. */
async function productsSdl(ctx) {
  const data = dataOf(
    await ctx.subgraphRequest(PRODUCTS, { query: "query { _service { sdl } }" }),
    "_service",
  );
  const sdl = data?._service?.sdl;
  expectTrue(typeof sdl === "string", `_service.sdl is not a string: ${show(data)}`);
  return { sdl, normalized: stripIgnoredCharacters(sdl) };
}

/** Throws unless `text` matches `pattern`. */
function expectMatch(text, pattern, what) {
  expectTrue(pattern.test(text), `${what}: ${pattern} does not match ${show(text)}`);
}

/** `_entities` on the products subgraph with `representations`, selecting `selection`. */
async function entities(ctx, selection, representations) {
  const data = dataOf(
    await ctx.subgraphRequest(PRODUCTS, {
      query: `query ($representations: [_Any!]!) { _entities(representations: $representations) { ${selection} } }`,
      variables: { representations },
    }),
    "_entities",
  );
  return data._entities;
}

/** The `@link(...)` applications of the schema, each as { url, imports }. */
function links(normalized) {
  return [...normalized.matchAll(/@link\(([\s\S]+?)\)/g)].map(([, args]) => {
    const url = args.match(/url:("[^"]+")/);
    const imports = args.match(/import:\[(.*?)\]/);
    return {
      url: url ? JSON.parse(url[1]) : null,
      imports: imports ? imports[1].split(/\s+/).map((i) => i.replaceAll('"', "")) : [],
    };
  });
}

/** Every definition and extension of object type `name` in `document`, fields merged. */
function objectFields(document, name) {
  const fields = new Map();
  for (const definition of document.definitions) {
    const isObject =
      definition.kind === Kind.OBJECT_TYPE_DEFINITION ||
      definition.kind === Kind.OBJECT_TYPE_EXTENSION;
    if (!isObject || definition.name.value !== name) continue;
    for (const field of definition.fields ?? []) {
      const args = field.arguments?.length
        ? `(${field.arguments.map((a) => `${a.name.value}: ${print(a.type)}`).join(", ")})`
        : "";
      fields.set(field.name.value, { signature: `${field.name.value}${args}`, type: print(field.type) });
    }
  }
  return fields;
}

export const checks = [
  {
    name: "compat-service-sdl",
    async run(ctx) {
      const { sdl } = await productsSdl(ctx);
      expectTrue(sdl.includes("type Query") || sdl.includes("extend type Query"), "no Query type");
      const document = parse(sdl);
      const problems = [];
      for (const [type, expected] of Object.entries(EXPECTED_FIELDS)) {
        const actual = objectFields(document, type);
        if (actual.size === 0) {
          problems.push(`${type} is not defined`);
          continue;
        }
        for (const [field, type_] of Object.entries(expected)) {
          const name = field.split("(")[0];
          const found = actual.get(name);
          if (!found) problems.push(`${type}.${name} is missing`);
          else if (found.signature !== field) problems.push(`${type}.${name} is ${found.signature}, expected ${field}`);
          else if (found.type !== type_) problems.push(`${type}.${name}: ${found.type}, expected ${type_}`);
        }
      }
      expectTrue(problems.length === 0, problems.join("; "));
    },
  },
  {
    name: "compat-link",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      const federation = links(normalized).filter((l) =>
        l.url?.startsWith("https://specs.apollo.dev/federation/"),
      );
      expectEqual(federation.length, 1, "federation @link count");
      expectMatch(federation[0].url, /\/federation\/v2\.[0-7]$/, "federation version (v2.0 to v2.7)");
      const unexpected = federation[0].imports.filter((i) => !FEDERATION_IMPORTS.has(i));
      expectEqual(unexpected, [], "unexpected federation imports");
    },
  },
  {
    name: "compat-key-single",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      expectMatch(
        normalized,
        /type User(@extends|@federation__extends)?(@key|@federation__key)\(fields:"email"( resolvable:true)?\)/,
        "User @key",
      );
      const found = await entities(ctx, "... on User { email name }", [
        { __typename: "User", email: "support@apollographql.com" },
      ]);
      expectEqual(found, [{ email: "support@apollographql.com", name: "Jane Smith" }], "User by email");
    },
  },
  {
    name: "compat-key-multiple",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      expectMatch(normalized, /type DeprecatedProduct(@key|@federation__key)\(fields:"sku package"/, "DeprecatedProduct @key");
      const found = await entities(ctx, "... on DeprecatedProduct { sku package reason }", [
        { __typename: "DeprecatedProduct", sku: "apollo-federation-v1", package: "@apollo/federation-v1" },
      ]);
      expectEqual(
        found,
        [{ sku: "apollo-federation-v1", package: "@apollo/federation-v1", reason: "Migrate to Federation V2" }],
        "DeprecatedProduct by sku and package",
      );
    },
  },
  {
    name: "compat-key-composite",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      expectMatch(normalized, /type ProductResearch(@key|@federation__key)\(fields:"study { caseNumber }"/, "ProductResearch @key");
      const found = await entities(ctx, "... on ProductResearch { study { caseNumber description } }", [
        { __typename: "ProductResearch", study: { caseNumber: "1234" } },
      ]);
      expectEqual(found, [{ study: { caseNumber: "1234", description: "Federation Study" } }], "ProductResearch by study");
    },
  },
  {
    name: "compat-key-repeatable",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      expectMatch(normalized, /type Product.*(@key|@federation__key)\(fields:"id"( resolvable:true)?\).*\{/, "Product @key id");
      expectMatch(normalized, /type Product.*(@key|@federation__key)\(fields:"sku package"( resolvable:true)?\).*variation/, "Product @key sku package");
      expectMatch(normalized, /type Product.*(@key|@federation__key)\(fields:"sku variation { id }"( resolvable:true)?\).*\{/, "Product @key sku variation");
      const found = await entities(ctx, "... on Product { id sku }", [
        { __typename: "Product", id: "apollo-federation" },
        { __typename: "Product", sku: "federation", package: "@apollo/federation" },
        { __typename: "Product", sku: "studio", variation: { id: "platform" } },
      ]);
      expectEqual(
        found,
        [
          { id: "apollo-federation", sku: "federation" },
          { id: "apollo-federation", sku: "federation" },
          { id: "apollo-studio", sku: "studio" },
        ],
        "Product by each key",
      );
    },
  },
  {
    name: "compat-requires",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      expectMatch(
        normalized,
        /averageProductsCreatedPerYear:Int(@requires|@federation__requires)\(fields:"totalProductsCreated yearsOfEmployment"\)/,
        "@requires",
      );
      const data = dataOf(
        await ctx.gatewayRequest(
          "query ($id: ID!) { product(id: $id) { createdBy { averageProductsCreatedPerYear email } } }",
          { id: "apollo-federation" },
        ),
        "gateway",
      );
      const createdBy = data?.product?.createdBy;
      expectTrue(Number.isInteger(createdBy?.averageProductsCreatedPerYear), `no computed value: ${show(data)}`);
      expectEqual(createdBy.email, "support@apollographql.com", "createdBy.email");
      const products = ctx.fetchLog.filter((f) => f.subgraph === PRODUCTS && /_entities/.test(f.query));
      expectTrue(products.length === 1, `expected one _entities call to products, got ${show(ctx.fetchLog)}`);
      expectTrue(
        products[0].variables?.representations?.every((r) => "yearsOfEmployment" in r),
        `the gateway did not pass the @requires fields: ${show(products[0].variables)}`,
      );
    },
  },
  {
    name: "compat-provides",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      expectMatch(normalized, /createdBy:User(@provides|@federation__provides)\(fields:"totalProductsCreated"\)/, "@provides");
      const data = dataOf(
        await ctx.subgraphRequest(PRODUCTS, {
          query: "query ($id: ID!) { product(id: $id) { createdBy { email totalProductsCreated } } }",
          variables: { id: "apollo-federation" },
        }),
        "products",
      );
      const createdBy = data?.product?.createdBy;
      expectEqual(createdBy?.email, "support@apollographql.com", "createdBy.email");
      expectTrue(typeof createdBy.totalProductsCreated === "number", `totalProductsCreated: ${show(createdBy)}`);
      expectTrue(createdBy.totalProductsCreated !== 4, "totalProductsCreated must be the products subgraph's own value");
    },
  },
  {
    name: "compat-ftv1",
    async run(ctx) {
      const response = await ctx.subgraphRequest(
        PRODUCTS,
        { query: "query { __typename }" },
        { "apollo-federation-include-trace": "ftv1" },
      );
      const body = response.body;
      expectEqual(Object.keys(body ?? {}), ["data", "extensions"], "response keys");
      expectEqual(body.data, { __typename: "Query" }, "data");
      expectEqual(Object.keys(body.extensions), ["ftv1"], "extensions");
      expectTrue(typeof body.extensions.ftv1 === "string" && body.extensions.ftv1.length > 0, "ftv1 is no string");
      expectTrue(Buffer.from(body.extensions.ftv1, "base64").length > 0, "ftv1 is not base64");
    },
  },
  {
    name: "compat-inaccessible",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      expectTrue(!normalized.includes("@federation__inaccessible"), "@federation__inaccessible in the SDL");
      expectTrue(normalized.includes("unit:String@inaccessible"), "unit:String@inaccessible missing");
      const data = dataOf(
        await ctx.subgraphRequest(PRODUCTS, {
          query: "query ($id: ID!) { product(id: $id) { dimensions { unit } } }",
          variables: { id: "apollo-federation" },
        }),
        "products",
      );
      expectEqual(data, { product: { dimensions: { unit: "kg" } } }, "inaccessible field, asked directly");
    },
  },
  {
    name: "compat-override",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      expectMatch(normalized, /(@override|@federation__override)\(from:"users"\)/, "@override");
      const data = dataOf(
        await ctx.gatewayRequest("query ($id: ID!) { product(id: $id) { createdBy { name } } }", {
          id: "apollo-federation",
        }),
        "gateway",
      );
      expectEqual(data, { product: { createdBy: { name: "Jane Smith" } } }, "overridden name");
    },
  },
  {
    name: "compat-tag",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      expectTrue(!normalized.includes("@federation__tag"), "@federation__tag in the SDL");
      expectTrue(normalized.includes('@tag(name:"internal")'), '@tag(name:"internal") missing');
    },
  },
  {
    name: "compat-shareable",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      expectMatch(normalized, /type ProductDimension(@shareable|@federation__shareable)/, "@shareable");
      const data = dataOf(
        await ctx.gatewayRequest("query ($id: ID!) { product(id: $id) { dimensions { size weight } } }", {
          id: "apollo-federation",
        }),
        "gateway",
      );
      expectEqual(data, { product: { dimensions: { size: "small", weight: 1 } } }, "shareable dimensions");
    },
  },
  {
    name: "compat-compose-directive",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      const custom = links(normalized).filter((l) => l.url?.startsWith("https://myspecs.dev/myCustomDirective/v"));
      expectEqual(custom.length, 1, "@link to the custom spec");
      expectEqual(custom[0].imports, ["@custom"], "custom spec imports");
      expectMatch(normalized, /schema.*(@composeDirective|@federation__composeDirective)\(name:.*"@custom"\)/, "@composeDirective");
      expectMatch(normalized, /directive.*@custom on OBJECT/, "@custom definition");
      expectMatch(normalized, /type Product.*@custom.*\{/, "@custom on Product");
    },
  },
  {
    name: "compat-interface-object",
    async run(ctx) {
      const { normalized } = await productsSdl(ctx);
      expectMatch(normalized, /type Inventory.*(@interfaceObject|@federation__interfaceObject)/, "@interfaceObject");
      expectMatch(normalized, /type Inventory.*(@key|@federation__key)\(fields:"id"( resolvable:true)?\)/, "Inventory @key");
      const data = dataOf(
        await ctx.gatewayRequest("query ($id: ID!) { inventory(id: $id) { deprecatedProducts { sku reason } } }", {
          id: "apollo-oss",
        }),
        "gateway",
      );
      expectEqual(
        data,
        { inventory: { deprecatedProducts: [{ sku: "apollo-federation-v1", reason: "Migrate to Federation V2" }] } },
        "interface object fields",
      );
    },
  },
];
