"""The file formats of an export, one line at a time: CSV (spreadsheet-safe cells) and
NDJSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import date
from enum import StrEnum
from typing import Any


class ExportFormat(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"

    @property
    def media_type(self) -> str:
        return "text/csv" if self is ExportFormat.CSV else "application/x-ndjson"


def header_line(export_format: ExportFormat, columns: Sequence[str]) -> bytes:
    """What the file starts with: CSV's header row; nothing for NDJSON."""
    return _csv_line(columns) if export_format is ExportFormat.CSV else b""


def row_line(export_format: ExportFormat, columns: Sequence[str], row: Mapping[str, Any]) -> bytes:
    """One record: a CSV row of `columns` (a list's items joined by spaces), or a JSON object."""
    if export_format is ExportFormat.CSV:
        return _csv_line([_cell(row[column]) for column in columns])
    record = {column: row[column] for column in columns}
    return json.dumps(record, default=_json_value).encode() + b"\n"


def _csv_line(cells: Sequence[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A value as a CSV cell that a spreadsheet shows as text, never runs as a formula (a
    customer named `=HYPERLINK(...)`): such a cell gets a leading `'`; a phone number
    (`+` and digits) stays as it is, harmless as a number."""
    if value is None:
        return ""
    if isinstance(value, list):
        text = " ".join(str(item) for item in value)
    else:
        text = _json_value(value) if isinstance(value, date) else str(value)
    if text.startswith(_FORMULA_STARTS) and not (text[0] == "+" and text[1:].isdecimal()):
        return "'" + text
    return text


def _json_value(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot export a {type(value).__name__}")
