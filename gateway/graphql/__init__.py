"""The GraphQL door: the same services as REST, served by Strawberry at /graphql."""
