"""Parsing and validation under the abuse limits, and the documents kept per query text
(a frontend sends the same few operations over and over)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension


@dataclass(slots=True)
class Entry:
    """A parsed document, its validation errors, and its operations by the name a
    request picks them with (``None``: the one operation of a document with one);
    ``outlines`` keeps what the short way works out for each (gateway.graphql.outlines)."""

    document: DocumentNode
    errors: list[GraphQLError]
    operations: dict[str | None, OperationDefinitionNode] = field(init=False)
    outlines: dict[str | None, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        found = [d for d in self.document.definitions if isinstance(d, OperationDefinitionNode)]
        self.operations = {d.name.value: d for d in found if d.name is not None}
        if len(found) == 1:
            self.operations[None] = found[0]


class Documents:
    """The documents of one schema (one token limit, one set of validation rules), the
    least recently used dropped past ``size``. Only documents that parsed are kept: a
    text that does not parse (or is over the token limit) is parsed again, and refused
    again, each time."""

    def __init__(
        self,
        size: int,
        *,
        max_tokens: int | None = None,
        rules: Sequence[type[ASTValidationRule]] = (),
    ) -> None:
        self.size = size
        self.max_tokens = max_tokens
        self.rules = tuple(rules)
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
    so it neither parses nor validates; otherwise sets the token limit and adds the
    validation rules (what Strawberry's MaxTokensLimiter and AddValidationRules do, in
    one extension: each costs every request), lets it do both (inside its own error
    handling) and keeps the outcome."""

    def __init__(self, documents: Documents) -> None:
        self.documents = documents
        self.entry: Entry | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None:
            self.entry = self.documents.get(context.query)
        if self.entry is not None:
            context.graphql_document = self.entry.document
        elif self.documents.max_tokens is not None:  # Strawberry parses after this hook
            context.parse_options["max_tokens"] = self.documents.max_tokens
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self.entry is not None:
            context.pre_execution_errors = list(self.entry.errors)
            yield
            return
        if self.documents.rules:  # Strawberry validates after this hook
            context.validation_rules = (*context.validation_rules, *self.documents.rules)
        yield
        if context.query is not None and context.graphql_document is not None:
            errors = list(context.pre_execution_errors or [])
            self.documents.put(context.query, Entry(context.graphql_document, errors))
