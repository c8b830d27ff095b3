"""``@admin``: a schema directive printed in the SDL, enforced by a permission class."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema_directive import Location

from gateway.graphql.context import Info


@strawberry.schema_directive(
    name="admin",
    locations=[Location.FIELD_DEFINITION],
    description="Only an admin may use this field.",
)
class Admin:
    pass


class IsAdmin(BasePermission):
    """Calls the same ``Caller.require_admin`` the services call: a missing or bad token
    raises Unauthenticated, a non-admin Forbidden("Cannot perform that function!"),
    and the error extension gives each its code."""

    _schema_directive = Admin()

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        caller = info.context.caller
        await caller.require_admin()  # the reader alone: no lock needed
        return True


def admin_only() -> list[FieldExtension]:
    """Field extensions for an @admin field: ``strawberry.field(extensions=admin_only())``."""
    return [PermissionExtension(permissions=[IsAdmin()])]
