"""A known query's root fields, resolved and completed without graphql-core's executor.

``GatewayGraphQL.run_known`` runs a query whose text is parsed and valid past
Strawberry's view. What was left around its resolvers on every request was graphql-core's
executor: building it (the operation, its fragments and variables), collecting the root
fields, a resolve info and coerced arguments for each, Strawberry's wrapper converting
those arguments again (their names to camel case included), a task per root field, and
collecting each list's selection again before a plan completed it. For a screen of two
root fields that cost about as much as the REST feed's own handler.

An *outline* is what of that does not change from one request of an operation to the
next, worked out at its first request on the short way and kept with the parsed
document: the root fields (definitions, paths, Strawberry fields, and their arguments
converted once where no variable is used in them) and, for each, the executor's plan
that completes its value. A request then builds each root field's resolve info, calls
the resolvers, awaits them together as graphql-core does (a failing non-null field
cancels its siblings) and completes each value with its plan.

Only an answer whose resolvers all returned and whose values all completed the plain
way is built here. Any other is built by graphql-core's executor from the same outcomes
(``Replay`` hands each root field's recorded value or exception to it in place of its
resolver, so no resolver runs twice): its errors, their paths and the nulls they leave
are graphql-core's own.

An operation has no outline, and runs through graphql-core's executor every time, when
it uses a directive or a fragment variable, or a root field that is not an async
Strawberry resolver free of field extensions (the admin-only permission is one), or
whose type is not an object or a list of objects the plans complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import Enum
from typing import Any, Literal

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLResolveInfoHelpers,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    ValueNode,
    VariableNode,
    get_nullable_type,
)
from graphql.execution.collect_fields import collect_fields
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.pyutils import Path, gather_with_cancel
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.schema_converter import GraphQLCoreConverter, get_arguments
from strawberry.types.field import StrawberryField
from strawberry.types.unset import UnsetType

from gateway.graphql.execution import PlainFieldsExecutor
from gateway.graphql.plans import NotPlain, run, run_list

# Argument values converted once may be shared by every request only if none can change.
IMMUTABLE = (int, float, str, bool, type(None), datetime, date, time, Enum, UnsetType)
# graphql-core's own bound on variable coercion errors (``Executor.build``).
MAX_COERCION_ERRORS = 50


@dataclass(frozen=True, slots=True)
class RootField:
    """One root field of an outline: how to call its resolver and complete its value."""

    key: str  # the response key (an alias or the name)
    name: str
    definition: GraphQLField
    nodes: list[FieldNode]
    path: Path
    field: StrawberryField
    non_null: bool
    complete: Callable[[Any], Any]  # the value as sent; raises where graphql-core reports
    # The resolver's positional and keyword arguments converted once (without its info),
    # when no variable is used in them; else None: converted on every request.
    converted: tuple[list[Any], dict[str, Any]] | None
    info_name: str | None  # the resolver's info parameter

    def arguments(
        self, info: Any, variables: Any, outline: Outline
    ) -> tuple[list[Any], dict[str, Any]]:
        if self.converted is not None:
            args, kwargs = self.converted[0], dict(self.converted[1])
        else:
            raw = get_argument_values(self.definition, self.nodes[0], variables)
            args, kwargs = get_arguments(
                field=self.field, source=None, info=info, kwargs=raw,
                config=outline.config, scalar_registry=outline.scalar_registry,
            )
        if self.info_name is not None:
            kwargs[self.info_name] = info
        return args, kwargs


class Failed:
    """A root field's resolver raised ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


CANCELLED = object()  # a root field's resolver cancelled as a non-null sibling failed


class Replay:
    """graphql-core middleware handing each root field its recorded outcome instead of
    calling its resolver (``run_known`` executes with it after a failure)."""

    def __init__(self, outcomes: dict[str, Any]) -> None:
        self.outcomes = outcomes

    def resolve(self, next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any],
                **args: Any) -> Any:
        if info.path.prev is not None:
            return next_(root, info, **args)
        return _replayed(self.outcomes[str(info.path.key)])


async def _replayed(outcome: Any) -> Any:
    if isinstance(outcome, Failed):
        raise outcome.error
    if outcome is CANCELLED:  # graphql-core cancels it again, as its sibling fails again
        await asyncio.get_running_loop().create_future()
    return outcome


class Outline:
    """The root fields of one query operation, worked out once (module docstring)."""

    def __init__(self, view: Any, operation: OperationDefinitionNode,
                 executor: PlainFieldsExecutor, fields: list[RootField]) -> None:
        self.core = view.graphql_core_schema
        self.config = view.gateway_schema.config
        self.scalar_registry = view.gateway_schema.schema_converter.scalar_registry
        self.operation = operation
        self.parent_type = self.core.query_type
        self.fragments = executor.fragment_definitions
        self.no_variables = None if operation.variable_definitions else executor.variable_values
        self.fields = tuple(fields)

    async def answer(self, context: Any, raw_variables: dict[str, Any] | None
                     ) -> dict[str, Any] | Replay | None:
        """The data of a request that went through (module docstring); a Replay of the
        outcomes otherwise; None, before any resolver ran, for a request graphql-core
        refuses (its variables or arguments do not coerce)."""
        variables = self.no_variables
        if variables is None:
            coerced = get_variable_values(
                self.core, self.operation.variable_definitions or (), raw_variables or {},
                max_errors=MAX_COERCION_ERRORS,
            )
            if isinstance(coerced, list):
                return None
            variables = coerced
        calls = []
        for root in self.fields:
            raw_info = GraphQLResolveInfo(  # as graphql-core's executor builds it
                root.name, root.nodes, root.definition.type, self.parent_type, root.path,
                self.core, self.fragments, None, self.operation, variables, context,
                optimized_is_awaitable, None, HELPERS,  # type: ignore[arg-type]
            )
            info = self.config.info_class(_raw_info=raw_info, _field=root.field)
            try:
                args, kwargs = root.arguments(info, variables, self)
            except Exception:
                return None
            calls.append((root, info, args, kwargs))
        outcomes: dict[str, Any] = dict.fromkeys((root.key for root in self.fields), CANCELLED)
        failed = False  # a non-null field failed: what fails after it stays unreported

        async def settle(
            root: RootField, info: Any, args: list[Any], kwargs: dict[str, Any]
        ) -> None:
            nonlocal failed
            try:
                outcomes[root.key] = await root.field.get_result(
                    None, info=info, args=args, kwargs=kwargs
                )
            except Exception as error:
                if failed:
                    return  # graphql-core drops it: the answer's data is null already
                outcomes[root.key] = Failed(error)
                if root.non_null:
                    failed = True
                    raise

        try:
            if len(calls) == 1:
                await settle(*calls[0])
            else:
                await gather_with_cancel(*(settle(*call) for call in calls))
        except Exception:  # a non-null field failed; its siblings were cancelled
            return Replay(outcomes)
        data: dict[str, Any] = {}
        for root in self.fields:
            value = outcomes[root.key]
            if isinstance(value, Failed):
                return Replay(outcomes)
            try:
                data[root.key] = root.complete(value)
            except Exception:  # graphql-core reports it, with its path
                return Replay(outcomes)
        return data


def _track(values: Sequence[Any]) -> None:
    """graphql-core's ``track_async_work``: what a resolver hands over is still awaited."""
    for value in values:
        if optimized_is_awaitable(value):
            task = asyncio.ensure_future(value)
            _tracked.add(task)
            task.add_done_callback(_settled)


def _settled(task: asyncio.Future[Any]) -> None:
    _tracked.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: no "never retrieved" warning


_tracked: set[asyncio.Future[Any]] = set()
# What a resolver finds in ``info.async_helpers``, as under graphql-core's executor.
HELPERS = GraphQLResolveInfoHelpers(
    gather=lambda values: gather_with_cancel(*values),
    track=_track,
)


def outline(view: Any, document: DocumentNode, operation_name: str | None,
            raw_variables: dict[str, Any] | None) -> Outline | None | Literal[False]:
    """The outline of the named query operation of ``document`` for ``view`` (the
    GatewayGraphQL app); None if it cannot have one; False if that cannot be told from
    this request (its variables do not coerce)."""
    executor = view.executor_class.build(
        view.graphql_core_schema, document, operation_name=operation_name,
        raw_variable_values=raw_variables, is_awaitable=optimized_is_awaitable,
    )
    if isinstance(executor, list):
        return False
    try:
        return _outline(view, executor)
    finally:
        executor.async_helpers = None  # see PlainFieldsExecutor.build_response


def _outline(view: Any, executor: PlainFieldsExecutor) -> Outline | None:
    if not executor.plain_allowed or not executor.without_directives():
        return None
    if any(f.variable_signatures for f in executor.fragments.values()):
        return None
    schema = view.graphql_core_schema
    root_type = schema.query_type
    collected = collect_fields(
        schema, executor.fragments, executor.variable_values, root_type, executor.operation
    )
    if collected.new_defer_usages or collected.forbidden_directive_instances:
        return None
    converter = view.gateway_schema.schema_converter
    handlers = getattr(converter, "_get_field_exception_handlers", None)
    fields = []
    for key, details in collected.grouped_field_set.items():
        node = details[0].node
        definition = root_type.fields.get(node.name.value)
        if definition is None or any(d.fragment_variable_values for d in details):
            return None
        field = definition.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if (
            not isinstance(field, StrawberryField)
            or field.base_resolver is None
            or not field.is_async
            or field.extensions
            or handlers is None
            or handlers(field)
        ):
            return None
        complete = _completion(executor, definition, details)
        if complete is None:
            return None
        info_parameter = field.base_resolver.info_parameter
        info_name = info_parameter.name if info_parameter is not None else None
        converted = None
        if not any(_uses_variables(argument.value) for argument in node.arguments or ()):
            try:
                raw = get_argument_values(definition, node, executor.variable_values)
                args, kwargs = get_arguments(
                    field=field, source=None, info=None, kwargs=raw,  # type: ignore[arg-type]
                    config=view.gateway_schema.config,
                    scalar_registry=converter.scalar_registry,
                )
            except Exception:
                return None  # graphql-core reports it, on every request alike
            if info_name is not None:
                kwargs.pop(info_name, None)
            if all(isinstance(v, IMMUTABLE) for v in (*args, *kwargs.values())):
                converted = (args, kwargs)
        fields.append(RootField(
            key=key, name=node.name.value, definition=definition, nodes=[d.node for d in details],
            path=Path(None, key, root_type.name), field=field,
            non_null=isinstance(definition.type, GraphQLNonNull), complete=complete,
            converted=converted, info_name=info_name,
        ))
    return Outline(view, executor.operation, executor, fields)


def _completion(executor: PlainFieldsExecutor, definition: GraphQLField,
                details: Any) -> Callable[[Any], Any] | None:
    """How a root field's value (an object or a list of objects) is completed with the
    executor's plans, raising where graphql-core would report an error; None where the
    plans cannot complete it."""
    named = get_nullable_type(definition.type)
    listed = isinstance(named, GraphQLList)
    item_type: Any = named.of_type if isinstance(named, GraphQLList) else named
    item = get_nullable_type(item_type)
    plan = executor.object_plan(item, details) if isinstance(item, GraphQLObjectType) else None
    if plan is None:
        return None
    non_null = isinstance(definition.type, GraphQLNonNull)
    items_non_null = isinstance(item_type, GraphQLNonNull)

    def complete(value: Any) -> Any:
        if value is None:
            if non_null:
                raise NotPlain
            return None
        if not listed:
            return run(plan, value)
        if not isinstance(value, list | tuple):
            raise NotPlain
        return run_list(plan, value, items_non_null)

    return complete


def _uses_variables(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_uses_variables(v) for v in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_uses_variables(f.value) for f in value.fields)
    return False
