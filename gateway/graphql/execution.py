"""graphql-core's executor with a shortcut for plain fields, the bulk of every list screen.

graphql-core executes each field of each object on its own: a resolve-info object, a
path, a resolver call, then type checks to complete the value, about 2–3 µs a field, so
a feed of 110 templates with eight fields and an author costs more than all of its SQL
and JSON together. Most of those fields are *plain*: a Strawberry field without a
resolver, arguments or directives, whose value is an attribute of the object and whose
type is a scalar, an enum, or an object made of plain fields again. ``PlainFieldsExecutor``
works such a selection out once (a *plan*, kept across requests since the parsed document
is) and completes each object with one small function made for the plan: it reads the
attributes, checks that each value already has the type it goes out as (or coerces the
other scalars) and builds the object's result in one go.

Anything else takes graphql-core's own path: fields with resolvers (``feed``,
``User.templates``), arguments, interfaces and unions. And whenever the shortcut meets a
value it would have to report as an error (a null for a non-null field, a scalar that
does not coerce), it drops what it did for that object and runs graphql-core's path for
it, so errors, their paths and null propagation are exactly graphql-core's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from graphql import (
    FieldNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_nullable_type,
    is_leaf_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from gateway.graphql.plans import (
    AS_IS,
    REMEMBERED,
    Plan,
    Step,
    remembering,
    run,
    run_list,
)

# Plans kept across requests, the least recently used dropped past this many.
PLANS_KEPT = 512


class PlainFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, taking the shortcut of the module docstring where it can."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[int, tuple[GroupedFieldSet, Plan | None]] = {}  # this request's
        manager = self.middleware_manager
        self.plain_allowed = manager is None or not manager.middlewares
        self._directive_free: bool | None = None

    def build_response(self, data: dict[str, Any] | None) -> Any:
        """graphql-core's response; then the executor lets go of its ``async_helpers``
        (bound methods of itself, a reference cycle that only the garbage collector
        would free: dozens of objects a request, collected in full-heap passes that
        cost more than the executor's work). The resolve infos made meanwhile keep
        their own reference to the helpers."""
        response = super().build_response(data)
        self.async_helpers = None  # type: ignore[assignment]
        return response

    # ---- where graphql-core completes objects and lists --------------------------------

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        plan = self._plan(parent_type, grouped_field_set) if position_context is None else None
        if plan is not None:
            try:
                return run(plan, source_value)
            except Exception:  # graphql-core's path below reports it
                pass
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        item_type = return_type.of_type
        non_null = isinstance(item_type, GraphQLNonNull)
        named = get_nullable_type(item_type)
        if position_context is None and isinstance(result, list | tuple) and is_object_type(named):
            plan = self.object_plan(named, field_details_list)
            if plan is not None:
                try:
                    return run_list(plan, result, non_null)
                except Exception:  # graphql-core's path below reports it
                    pass
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    # ---- plans ---------------------------------------------------------------------------

    def object_plan(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Plan | None:
        if object_type.is_type_of is not None:
            return None
        grouped, defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if defer_usages:
            return None
        return self._plan(object_type, grouped)

    def _plan(self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet) -> Plan | None:
        """The plan for these fields of ``parent_type``, or None if any is not plain."""
        if not self.plain_allowed:
            return None
        key = id(grouped)
        found = self._plans.get(key)
        if found is not None:
            return found[1]
        # Across requests a selection is known by the field nodes it takes, at every
        # depth (@skip/@include may leave some out; without any directive in the
        # operation, its own nodes tell the rest); they come from the cached document
        # and are kept with the plan, so their ids are not reused meanwhile.
        nodes: list[Any] = []
        if self.without_directives():
            nodes.extend(d.node for details in grouped.values() for d in details)
            known: Hashable = (parent_type, *map(id, nodes))
        else:
            known = self._shape(parent_type, grouped, nodes)
        entry = _kept.get(known)
        if entry is None:
            entry = (tuple(nodes), self._build_plan(parent_type, grouped))
            _kept[known] = entry
            while len(_kept) > PLANS_KEPT:
                _kept.popitem(last=False)
        else:
            _kept.move_to_end(known)
        plan = entry[1]
        # The grouped field set is kept with its plan so that its id is not reused.
        self._plans[key] = (grouped, plan)
        return plan

    def without_directives(self) -> bool:
        if self._directive_free is None:
            operation = self.operation
            known = _directive_free.get(id(operation))
            if known is None or known[0] is not operation:
                definitions = [operation, *(f.definition for f in self.fragments.values())]
                free = not any(
                    node.directives or _has_directives(node.selection_set)
                    for node in definitions
                )
                # Kept with the operation (from the cached document), so its id is not
                # reused meanwhile; its fragments come from the same document.
                known = _directive_free[id(operation)] = (operation, free)
                while len(_directive_free) > PLANS_KEPT:
                    del _directive_free[next(iter(_directive_free))]
            self._directive_free = known[1]
        return self._directive_free

    def _shape(
        self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet, nodes: list[Any]
    ) -> Hashable:
        shape: list[Any] = [parent_type]
        for response_key, details in grouped.items():
            nodes.extend(d.node for d in details)
            shape.append((response_key, *(id(d.node) for d in details)))
            field = self.schema.get_field(parent_type, details[0].node.name.value)
            named = get_nullable_type(field.type) if field else None
            if isinstance(named, GraphQLObjectType):
                sub, _, _ = self.collect_subfields(named, details)
                shape.append(self._shape(named, sub, nodes))
        return tuple(shape)

    def _build_plan(self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet) -> Plan | None:
        steps: list[Step] = []
        for response_key, details in grouped.items():
            node = details[0].node
            name = node.name.value
            if name == "__typename":
                return None  # rare in list screens; graphql-core answers it
            field = self.schema.get_field(parent_type, name)
            if field is None or field.args or any(d.node.arguments for d in details):
                return None
            if any(d.node.directives for d in details):
                return None
            if not getattr(field.resolve, "_is_default", False):
                return None  # a resolver of its own
            definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            attribute = getattr(definition, "python_name", None)
            read = getattr(definition, "default_resolver", None)
            if not isinstance(attribute, str) or not callable(read):
                return None
            field_type = field.type
            non_null = isinstance(field_type, GraphQLNonNull)
            named = get_nullable_type(field_type)
            if is_leaf_type(named):
                as_is = AS_IS.get(named) if isinstance(named, GraphQLScalarType) else None
                coerce = remembering(named) if named.name in REMEMBERED else (
                    named.coerce_output_value
                )
                steps.append((response_key, attribute, read, non_null, as_is, coerce, None))
            elif is_object_type(named):
                sub_plan = self.object_plan(named, details)
                if sub_plan is None:
                    return None
                steps.append((response_key, attribute, read, non_null, None, None, sub_plan))
            else:
                return None  # lists of values, interfaces, unions
        return Plan(steps)


def _has_directives(selection_set: SelectionSetNode | None) -> bool:
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if selection.directives:
            return True
        if isinstance(selection, FieldNode | InlineFragmentNode) and _has_directives(
            selection.selection_set
        ):
            return True
    return False


_kept: OrderedDict[Hashable, tuple[tuple[Any, ...], Plan | None]] = OrderedDict()
# Whether an operation (and its document's fragments) uses no directive, by id.
_directive_free: dict[int, tuple[OperationDefinitionNode, bool]] = {}
