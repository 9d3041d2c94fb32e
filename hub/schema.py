"""Collects every package's models into the one metadata that migrations describe."""

from hub import models as _hub_models  # noqa: F401  (registers api_tokens, listener_cursors)
from reports import models as _reports_models  # noqa: F401  (registers response-time facts)
from timeline.models import Base

metadata = Base.metadata
