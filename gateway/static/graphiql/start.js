// GraphiQL for the endpoint that served this page. Kept out of the page so the
// Content-Security-Policy can forbid inline scripts. The standard fetcher sends
// whatever JSON the user types in the Headers tab, e.g. {"x-access-token": "..."}.
(function () {
  var endpoint = window.location.pathname;
  var fetcher = GraphiQL.createFetcher({ url: endpoint });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: "headers",
      defaultQuery:
        "# Put your token in the Headers tab below: {\"x-access-token\": \"...\"}\n" +
        "{\n  me { username admin }\n  feed(limit: 5) { id title author { username } }\n}\n",
    })
  );
})();
