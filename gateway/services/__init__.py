"""Every rule about who may do what, written once for all front doors (REST, GraphQL, CLI)."""
