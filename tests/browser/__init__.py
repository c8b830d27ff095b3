"""Pages in Debian's Chromium: GraphiQL, Swagger UI and the example feed page."""
