"""A workspace's own roles (named permission sets) and customers' custom field definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models.base import Base, BigId, utcnow


class CustomRole(Base):
    """A role a workspace built from named permissions (timeline.policy.Permission values);
    users name it in their `role`, as they name a built-in one."""

    __tablename__ = "custom_roles"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(20))
    permissions: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomField(Base):
    """A field customers may carry a value for (kept in `customers.attributes` by its name);
    a sensitive one is seen and set only with customers.sensitive_fields."""

    __tablename__ = "custom_fields"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(64))
    sensitive: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
