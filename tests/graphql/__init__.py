"""The GraphQL door: schema, screens, feeds, cursors, persisted queries, the executor."""
