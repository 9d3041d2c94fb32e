"""Customers' custom fields: their definitions (sensitive or not) and a customer's values."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from hub.api.framework import ApiRoutes, Call, Text
from hub.publishing import change
from hub.web_keys import HUB
from timeline.customer_fields import define_field, list_fields, set_values
from timeline.policy import Permission

routes = ApiRoutes()

FieldName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
"""A custom field's name: lower-case letters, digits and underscores, from a letter."""


class CustomFieldOut(BaseModel):
    name: str
    sensitive: bool = Field(description="seen and set only with customers.sensitive_fields")


class CustomFieldList(BaseModel):
    items: list[CustomFieldOut]


class CustomFieldIn(BaseModel):
    name: FieldName
    sensitive: bool = False


class FieldValuesIn(BaseModel):
    fields: dict[FieldName, Annotated[Text, Field(max_length=1000)] | None] = Field(
        max_length=50,
        description="values to set by field name; null clears one",
        # Names outside the pattern are refused, so the document says they are not allowed.
        json_schema_extra={"additionalProperties": False},
    )


class FieldValuesOut(BaseModel):
    attributes: dict[str, Any] = Field(description="the customer's values, as you may see them")


@routes.add(
    "GET",
    "/custom-fields",
    summary="List customers' custom fields",
    tag="customers",
    response=CustomFieldList,
    permission=Permission.CUSTOMERS_READ,
)
async def get_custom_fields(call: Call[Any, Any]) -> CustomFieldList:
    async with call.request.app[HUB].reads.connect() as conn:
        found = await list_fields(conn, call.principal.workspace_id)
    return CustomFieldList(
        items=[CustomFieldOut(name=f.name, sensitive=f.sensitive) for f in found]
    )


@routes.add(
    "POST",
    "/custom-fields",
    summary="Define a custom field of customers",
    tag="customers",
    response=CustomFieldOut,
    body=CustomFieldIn,
    status=201,
    permission=Permission.CUSTOM_FIELDS_MANAGE,
)
async def post_custom_field(call: Call[CustomFieldIn, Any]) -> CustomFieldOut:
    async with call.request.app[HUB].engine.begin() as conn:
        defined = await define_field(
            conn, call.principal.actor, call.body.name, sensitive=call.body.sensitive
        )
    return CustomFieldOut(name=defined.name, sensitive=defined.sensitive)


@routes.add(
    "PUT",
    "/customers/{customer_id}/fields",
    summary="Set or clear some of a customer's custom field values",
    tag="customers",
    response=FieldValuesOut,
    body=FieldValuesIn,
    permission=Permission.CUSTOMERS_WRITE,
)
async def put_field_values(call: Call[FieldValuesIn, Any]) -> FieldValuesOut:
    """A sensitive field is set only with customers.sensitive_fields (403 otherwise)."""
    hub = call.request.app[HUB]
    async with change(hub) as changing:
        changed = changing.caused(
            await set_values(
                changing.conn, call.principal.actor, call.ids["customer_id"], call.body.fields
            )
        )
    return FieldValuesOut(attributes=changed.values)
