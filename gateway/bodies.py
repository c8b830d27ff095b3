"""JSON request bodies, decoded in one place for both doors: strictly UTF-8, nesting bounded.

Every JSON text a client sends (a REST body, a GraphQL body, GraphQL ``variables`` and
``extensions`` in a GET query string) goes through ``json_value``, so no shape of input
can reach a decoder that fails in some other way than ``BadInput``: orjson stops at 1024
levels of nesting with a clean error where ``json.loads`` recursed into a RecursionError
(a 500), and refuses lone surrogates, invalid UTF-8, ``NaN`` and ``Infinity``, none of
which any database or client of this API could use. Each door renders ``BadInput`` in
its own format.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import BadInput

MALFORMED = "Malformed JSON body"
NOT_UTF8 = "The JSON body must be UTF-8 text"
NOT_AN_OBJECT = "The JSON body must be an object"
# RFC 8259 §8.1: a parser may ignore a leading byte order mark; json.loads did.
BOM = b"\xef\xbb\xbf"


def json_value(raw: bytes | str) -> Any:
    """The decoded JSON text; BadInput (MALFORMED or NOT_UTF8) for anything else."""
    if isinstance(raw, bytes) and raw.startswith(BOM):
        raw = raw[len(BOM):]
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadInput(NOT_UTF8 if not _utf8(raw) else MALFORMED) from None


def json_object(raw: bytes | str) -> dict[str, Any]:
    """Like ``json_value``, and BadInput(NOT_AN_OBJECT) unless it is a JSON object."""
    value = json_value(raw)
    if not isinstance(value, dict):
        raise BadInput(NOT_AN_OBJECT)
    return value


def _utf8(raw: bytes | str) -> bool:
    try:
        raw.decode("utf-8") if isinstance(raw, bytes) else raw.encode("utf-8")
    except UnicodeError:
        return False
    return True
