"""The REST door: routes, messages, paging, filters, the OpenAPI document."""
