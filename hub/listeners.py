"""Which listeners hear the domain-event log: the one list, composed here from their packages."""

from __future__ import annotations

from reports.response_times import RESPONSE_TIMES
from timeline.domain import Listener

LISTENERS: tuple[Listener, ...] = (RESPONSE_TIMES,)
