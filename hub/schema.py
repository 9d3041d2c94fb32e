"""Collects every package's models into the one metadata that migrations describe."""

from hub import models as _hub_models  # noqa: F401  (registers api_tokens)
from timeline.models import Base

metadata = Base.metadata
