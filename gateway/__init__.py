"""Gateway: the original Flask meme API over REST and GraphQL, on one async data layer."""
