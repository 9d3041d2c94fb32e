"""Tests for channels.email.uid_sets: UID ranges, their wire form, clipping and batching."""

from __future__ import annotations

import pytest

from channels.email.uid_sets import (
    batch_ranges,
    batches_within,
    chunk_ranges,
    clip_ranges,
    format_uid_set,
    parse_uid_set,
    uid_ranges,
)


def test_uid_sets_and_batches() -> None:
    assert uid_ranges([5, 1, 2, 3, 9, 3]) == [(1, 3), (5, 5), (9, 9)]
    assert format_uid_set([(1, 3), (5, 5)]) == "1:3,5"
    assert parse_uid_set("1:3,5,9:7") == [(1, 3), (5, 5), (7, 9)]
    assert clip_ranges([(3, 3)], after=7) == []
    assert clip_ranges([(1, 10), (12, 12)], after=4) == [(5, 10), (12, 12)]
    batches = list(batch_ranges([(1, 1_000_000)], 100_000))
    assert len(batches) == 10 and batches[-1] == [(900_001, 1_000_000)]
    assert list(batch_ranges([(1, 2), (5, 7), (9, 9)], 2)) == [[(1, 2)], [(5, 6)], [(7, 7), (9, 9)]]
    with pytest.raises(ValueError):
        uid_ranges([0])


def test_chunk_ranges_groups_ranges_per_command() -> None:
    ranges = [(1, 1), (3, 5), (7, 7), (9, 12), (20, 20)]
    assert list(chunk_ranges(ranges, 2)) == [[(1, 1), (3, 5)], [(7, 7), (9, 12)], [(20, 20)]]
    assert list(chunk_ranges([], 2)) == []


def test_batches_within_a_byte_budget() -> None:
    sizes = [(7, 10), (1, 40), (2, 50), (3, 20), (4, 500), (5, 30), (8, 60)]
    assert list(batches_within(sizes, 100)) == [
        [(1, 2)],  # 90 bytes; with UID 3's 20 it would be 110
        [(3, 3)],  # the next one, 500 bytes, comes alone
        [(4, 4)],
        [(5, 5), (7, 8)],
    ]
    assert list(batches_within([], 100)) == []
