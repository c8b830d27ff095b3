"""Plans: how the executor's shortcut completes a selection of plain fields.

A plan lists a selection's fields (``Step``s) and carries ``complete``, a function made
for them: its Python source is written out once (attribute reads, a type check per value,
one dict, an object field's own fields inline) and compiled, so an object's result costs
about what building the dict by hand would. Whatever it would have to report as an error,
it leaves to ``_fields`` (field by field, coercing what is not sent as it is) and, if
that cannot either (NotPlain), to graphql-core.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from typing import Any

from graphql import GraphQLBoolean, GraphQLInt, GraphQLScalarType, GraphQLString
from graphql.pyutils import Undefined

# One field of a plan: (response key, attribute, how to read it (Strawberry's default
# resolver: getattr), non-null?, the Python type a leaf's value is sent as it is, how to
# coerce any other leaf value, or the sub-plan of an object).
Step = tuple[
    str,
    str,
    Callable[[Any, str], Any],
    bool,
    type | None,
    Callable[[Any], Any] | None,
    "Plan | None",
]
# graphql-core's String and Boolean send a str or a bool as it is, and Int an int in range.
AS_IS: dict[GraphQLScalarType, type] = {GraphQLString: str, GraphQLBoolean: bool, GraphQLInt: int}
INT_RANGE = range(-(2**31), 2**31)
# Scalars whose serialisation is a pure function of an immutable value, and whose values
# repeat from request to request (the same rows' times): each value is coerced once.
REMEMBERED = frozenset({"DateTime", "Date", "Time"})

class NotPlain(Exception):
    """The shortcut cannot (or must not) produce this object's value itself."""


class Plan:
    """The plain fields of one selection: ``steps`` in response order, and ``complete``,
    a function made for them that answers an object's result or raises NotPlain where
    a value is not simply sent as it is (``_fields`` then takes it field by field)."""

    __slots__ = ("complete", "steps")

    def __init__(self, steps: list[Step]) -> None:
        self.steps = tuple(steps)
        self.complete = _compiled(self.steps)


@cache
def remembering(scalar: GraphQLScalarType) -> Callable[[Any], Any]:
    return lru_cache(maxsize=4096)(scalar.coerce_output_value)


def _compiled(steps: tuple[Step, ...]) -> Callable[[Any], dict[str, Any]] | None:
    """The function completing an object of these steps, written out as Python source
    (attribute reads, type checks, one dict; an object field's own fields inline) and
    compiled once. None when an attribute is not a plain Python name or is read
    otherwise than by getattr."""
    namespace: dict[str, Any] = {"NotPlain": NotPlain, "INT_RANGE": INT_RANGE,
                                 "Undefined": Undefined}
    lines = ["def complete(source):"]
    result = _emit(steps, "source", "v", "    ", lines, namespace)
    if result is None:
        return None
    lines.append(f"    return {result}")
    exec(compile("\n".join(lines), "<plain fields>", "exec"), namespace)
    complete: Callable[[Any], dict[str, Any]] = namespace["complete"]
    return complete


def _emit(
    steps: tuple[Step, ...],
    source: str,
    prefix: str,
    indent: str,
    lines: list[str],
    namespace: dict[str, Any],
) -> str | None:
    """Append the lines reading ``steps`` from the variable ``source``; return the dict
    expression of the result (None if a step cannot be written out)."""
    for i, (_, attribute, read, non_null, as_is, coerce, sub_plan) in enumerate(steps):
        if read is not getattr or not attribute.isidentifier() or keyword.iskeyword(attribute):
            return None
        value = f"{prefix}{i}"
        lines.append(f"{indent}{value} = {source}.{attribute}")
        if as_is is not None:
            wrong = f"type({value}) is not {as_is.__name__}"
            if as_is is int:
                wrong += f" or {value} not in INT_RANGE"
            if not non_null:
                wrong = f"{value} is not None and ({wrong})"
            lines.append(f"{indent}if {wrong}: raise NotPlain")
            continue
        if non_null:
            lines.append(f"{indent}if {value} is None: raise NotPlain")
        lines.append(f"{indent}if {value} is not None:")
        if coerce is not None:
            namespace[f"coerce_{value}"] = coerce
            lines += [
                f"{indent}    {value} = coerce_{value}({value})",
                f"{indent}    if {value} is None or {value} is Undefined: raise NotPlain",
            ]
        else:
            assert sub_plan is not None
            inner = _emit(sub_plan.steps, value, f"{value}_", indent + "    ", lines, namespace)
            if inner is None:
                return None
            lines.append(f"{indent}    {value} = {inner}")
    entries = ", ".join(f"{step[0]!r}: {prefix}{i}" for i, step in enumerate(steps))
    return f"{{{entries}}}"


def run(plan: Plan, source: Any) -> dict[str, Any]:
    if plan.complete is not None:
        try:
            return plan.complete(source)
        except NotPlain:
            pass
    return _fields(plan, source)


def _fields(plan: Plan, source: Any) -> dict[str, Any]:
    """The plan's fields one by one, as graphql-core would complete them."""
    result: dict[str, Any] = {}
    for response_key, attribute, read, non_null, as_is, coerce, sub_plan in plan.steps:
        value = read(source, attribute)
        if value is None:
            if non_null:
                raise NotPlain  # graphql-core reports it, with its path
            result[response_key] = None
        elif type(value) is as_is and (as_is is not int or value in INT_RANGE):
            result[response_key] = value
        elif coerce is not None:
            coerced = coerce(value)
            if coerced is None or coerced is Undefined:
                raise NotPlain
            result[response_key] = coerced
        else:
            assert sub_plan is not None
            result[response_key] = run(sub_plan, value)
    return result


def run_list(plan: Plan, items: Iterable[Any], non_null: bool) -> list[Any]:
    complete = plan.complete
    if complete is not None:
        try:  # every item plain (a None item has no attributes: NotPlain or AttributeError)
            return [complete(item) for item in items]
        except Exception:
            pass  # item by item below: what is not plain is reported as graphql-core would
    completed: list[Any] = []
    for item in items:
        if item is None:
            if non_null:
                raise NotPlain
            completed.append(None)
        else:
            completed.append(run(plan, item))
    return completed
