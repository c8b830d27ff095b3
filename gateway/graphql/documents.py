"""Parsed and validated documents, kept per query text: a frontend sends the same few."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator

from graphql import DocumentNode, GraphQLError
from strawberry.extensions import SchemaExtension

Entry = tuple[DocumentNode, list[GraphQLError]]


class Documents:
    """The documents of one schema (one set of validation rules), the least recently
    used dropped past ``size``. Only documents that parsed are kept: a text that does not
    parse (or is over the token limit) is parsed again, and refused again, each time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, Entry] = OrderedDict()

    def get(self, query: str) -> Entry | None:
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
        return entry

    def put(self, query: str, entry: Entry) -> None:
        self._entries[query] = entry
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def extension(self) -> Callable[[], SchemaExtension]:
        """A factory of the extension that reads and fills this cache."""
        return lambda: DocumentCache(self)


class DocumentCache(SchemaExtension):
    """On a known text, hands Strawberry the parsed document and its validation errors,
    so it neither parses nor validates; otherwise lets it do both (inside its own error
    handling) and keeps the outcome."""

    def __init__(self, documents: Documents) -> None:
        self.documents = documents
        self.entry: Entry | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None:
            self.entry = self.documents.get(context.query)
        if self.entry is not None:
            context.graphql_document = self.entry[0]
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self.entry is not None:
            context.pre_execution_errors = list(self.entry[1])
            yield
            return
        yield
        if context.query is not None and context.graphql_document is not None:
            errors = list(context.pre_execution_errors or [])
            self.documents.put(context.query, (context.graphql_document, errors))
