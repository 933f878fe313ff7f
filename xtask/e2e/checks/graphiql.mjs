// GraphiQL in a real browser: headless Chromium (Debian's package, at GRAFT_E2E_CHROMIUM, which
// `cargo xtask e2e` sets) driven by playwright-core. The check opens the page graft serves at
// the `orgs-users` subgraph's GET /graphql, opens the schema's docs, asks for completion, types a
// query with a variable and its variables, runs it and reads the answer from GraphiQL's result
// pane. Any console error (a content security policy violation among them) or request to another
// origin fails it. A screenshot of the page with its answer is kept at target/e2e/graphiql.png.

import { resolve } from "node:path";

import { chromium } from "playwright-core";

import { expectEqual, expectTrue } from "../expect.mjs";
import { seedUser } from "../orgs-seed.mjs";

/** Where the screenshot is written (run.mjs runs in target/e2e/). */
const SCREENSHOT = "graphiql.png";
/** Where the screenshot of a failed check is written. */
const FAILURE_SCREENSHOT = "graphiql-failure.png";
/** How long the page may take to show an element or an answer. */
const WAIT_MS = 15_000;

/** The query typed into the editor, on one line, as a user types it (brackets close themselves). */
const QUERY = `query User($org: String!) { orgUser(orgId: $org, userId: "u2") { name email } }`;
const VARIABLES = `{"org": "org-1"}`;

export const checks = [
  {
    name: "graphiql: a query with a variable runs in the browser",
    async run({ subgraphUrl }) {
      const executablePath = process.env.GRAFT_E2E_CHROMIUM;
      if (!executablePath) throw new Error("GRAFT_E2E_CHROMIUM is not set (cargo xtask e2e sets it)");
      const url = subgraphUrl("orgs-users");
      const browser = await chromium.launch({ executablePath, headless: true });
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        const problems = [];
        page.on("console", (message) => {
          if (message.type() === "error") problems.push(`console error: ${message.text()}`);
        });
        page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
        page.on("response", (response) => {
          if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
        });
        const origin = new URL(url).origin;
        page.on("request", (request) => {
          const to = request.url();
          if (!to.startsWith(`${origin}/`) && !to.startsWith("data:")) {
            problems.push(`request to another origin: ${to}`);
          }
        });

        try {
          await drive(page, url, problems);
        } catch (error) {
          await page.screenshot({ path: FAILURE_SCREENSHOT, fullPage: true }).catch(() => {});
          throw new Error(`${error.message} (the page then: ${resolve(FAILURE_SCREENSHOT)})`);
        }
      } finally {
        await browser.close();
      }
    },
  },
];

/** Drives the page at `url` through the check; `problems` collects console errors and requests elsewhere. */
async function drive(page, url, problems) {
  const response = await page.goto(url, { waitUntil: "load" });
  expectEqual(response.status(), 200, "status of the page");
  const policy = response.headers()["content-security-policy"] ?? "";
  expectTrue(policy.includes("script-src 'self'"), `content security policy: ${policy}`);
  const editor = page.locator(".graphiql-query-editor .CodeMirror");
  await editor.waitFor({ timeout: WAIT_MS });

  // The docs explorer lists the schema's root fields.
  await page.getByRole("button", { name: "Show Documentation Explorer" }).click();
  const docs = page.locator(".graphiql-doc-explorer");
  await docs.getByText("Query", { exact: true }).first().click({ timeout: WAIT_MS });
  await docs.getByText("orgUser", { exact: true }).first().waitFor({ timeout: WAIT_MS });

  // Completion offers the schema's root fields.
  await editor.click();
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.type("{ ");
  await page.keyboard.press("Control+Space");
  const hints = page.locator(".CodeMirror-hints");
  await hints.getByText("orgUser", { exact: true }).first().waitFor({ timeout: WAIT_MS });
  await hints.getByText("_entities", { exact: true }).first().waitFor({ timeout: WAIT_MS });
  await page.keyboard.press("Escape");

  // The query, typed.
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.type(QUERY);
  await page.keyboard.press("Escape");
  expectEqual(await editorValue(page, ".graphiql-query-editor"), QUERY, "the query as typed");

  // Its variables, typed into the variables editor (open: the editor tools are shown).
  const variables = page.locator(".graphiql-editor-tool .CodeMirror").first();
  await variables.click();
  await page.keyboard.type(VARIABLES);
  await page.keyboard.press("Escape");
  expectEqual(
    JSON.parse(await editorValue(page, ".graphiql-editor-tool")),
    JSON.parse(VARIABLES),
    "the variables as typed",
  );

  await page.locator("button.graphiql-execute-button").click();
  const result = page.locator(".graphiql-response .CodeMirror");
  await result.getByText('"name"').first().waitFor({ timeout: WAIT_MS });
  const answer = JSON.parse(await editorValue(page, ".graphiql-response"));
  const user = seedUser(1, 2);
  expectEqual(answer, { data: { orgUser: { name: user.name, email: user.email } } }, "the answer");

  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(`graphiql: screenshot at ${resolve(SCREENSHOT)}`);
  expectEqual(problems, [], "console errors and requests to other origins");
}

/** The text of the CodeMirror editor inside the element `selector` names. */
function editorValue(page, selector) {
  return page.evaluate(
    (selector) => document.querySelector(`${selector} .CodeMirror`).CodeMirror.getValue(),
    selector,
  );
}
