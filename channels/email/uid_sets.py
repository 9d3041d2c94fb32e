"""IMAP UID sets: ranges from UIDs, their `1:3,7` wire form both ways, clipping and batching."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

UidRange = tuple[int, int]
"""An inclusive range of UIDs: (first, last)."""


def uid_ranges(uids: Iterable[int]) -> list[UidRange]:
    """Sorted, merged inclusive ranges covering the given UIDs."""
    ranges: list[UidRange] = []
    for uid in sorted(set(uids)):
        if uid < 1:
            raise ValueError(f"UIDs start at 1, got {uid}")
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], uid)
        else:
            ranges.append((uid, uid))
    return ranges


def format_uid_set(ranges: Iterable[UidRange]) -> str:
    """`[(1, 3), (7, 7)]` -> `1:3,7`."""
    return ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in ranges)


def parse_uid_set(text: str) -> list[UidRange]:
    """`1:3,7` -> `[(1, 3), (7, 7)]`; the server's answer, so no `*`."""
    ranges: list[UidRange] = []
    for part in filter(None, text.strip().split(",")):
        lo, _, hi = part.partition(":")
        first, last = int(lo), int(hi or lo)
        ranges.append((min(first, last), max(first, last)))
    return ranges


def clip_ranges(ranges: Iterable[UidRange], after: int) -> list[UidRange]:
    """Only the UIDs above `after`: `n:*` also answers the highest UID when it is below n."""
    return [(max(lo, after + 1), hi) for lo, hi in ranges if hi > after]


def batch_ranges(ranges: Iterable[UidRange], size: int) -> Iterator[list[UidRange]]:
    """Split ranges into groups of at most `size` UIDs each, in ascending order."""
    batch: list[UidRange] = []
    room = size
    for lo, hi in sorted(ranges):
        while lo <= hi:
            take = min(room, hi - lo + 1)
            batch.append((lo, lo + take - 1))
            lo += take
            room -= take
            if room == 0:
                yield batch
                batch, room = [], size
    if batch:
        yield batch


def batches_within(sizes: Iterable[tuple[int, int]], budget: int) -> Iterator[list[UidRange]]:
    """Group (uid, size) pairs, in ascending UID order, into batches whose sizes add up to at
    most `budget`; a message larger than the budget is a batch of its own."""
    batch: list[int] = []
    total = 0
    for uid, size in sorted(sizes):
        if batch and total + size > budget:
            yield uid_ranges(batch)
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield uid_ranges(batch)


def chunk_ranges(ranges: list[UidRange], size: int) -> Iterator[list[UidRange]]:
    """Split a list of ranges into lists of at most `size` ranges (one command's worth each)."""
    for start in range(0, len(ranges), size):
        yield ranges[start : start + size]
