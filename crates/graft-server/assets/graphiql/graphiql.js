// Starts GraphiQL on graft's page (graphiql.html). GraphiQL sends queries to the URL the page
// was served from, with the headers of its Headers tab (a tenant's header or a bearer token).
(function () {
  "use strict";
  var endpoint = window.location.origin + window.location.pathname;
  var fetcher = GraphiQL.createFetcher({ url: endpoint });
  var defaultQuery = [
    "# graft serves this subgraph's schema: the Docs button (top left) explores it,",
    "# and Ctrl-Space completes a field or an argument where the cursor is.",
    "# Variables and headers (a tenant's header, a bearer token) go in the tabs below.",
    "",
    "query Service {",
    "  _service {",
    "    sdl",
    "  }",
    "}",
    "",
  ].join("\n");
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultEditorToolsVisibility: true,
      // Headers can hold secrets (tokens, API keys): not kept in the browser's storage.
      shouldPersistHeaders: false,
    })
  );
})();
