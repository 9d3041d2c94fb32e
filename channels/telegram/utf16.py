"""Converting between Telegram's UTF-16 code-unit offsets and Python string indices."""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate


class Utf16Index:
    """The UTF-16 offset of every index of one string, for converting positions both ways."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._units = [0, *accumulate(2 if ord(char) > 0xFFFF else 1 for char in text)]
        """_units[i]: the UTF-16 offset at which text[i] starts (and the total at len(text))."""

    @property
    def length(self) -> int:
        return self._units[-1]

    def units_at(self, index: int) -> int:
        """The UTF-16 offset of the string index `index` (0 to len(text))."""
        return self._units[index]

    def index_of(self, units: int) -> int:
        """The string index at UTF-16 offset `units`; ValueError when `units` is beyond the
        text or falls between the two halves of a surrogate pair (no character starts there)."""
        if not 0 <= units <= self.length:
            raise ValueError(f"UTF-16 offset {units} is outside the text's {self.length} units")
        index = bisect_left(self._units, units)
        if self._units[index] != units:
            raise ValueError(f"UTF-16 offset {units} falls inside a surrogate pair")
        return index
