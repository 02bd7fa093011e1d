"""Deterministic bucketing compatible with GrowthBook's SDKs (FNV-1a 32-bit, hash versions 1 and 2).

The formulas follow GrowthBook's published SDK code (``hash``, ``inNamespace``, ``getBucketRanges``,
``chooseVariation``), so a unit bucketed here lands in the same variation as in their SDKs.

>>> gb_hash("seed", "a", 2)
0.0505
>>> choose_variation(gb_hash("seed", "a", 2), get_bucket_ranges(2))
0
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

FNV32_OFFSET = 0x811C9DC5
FNV32_PRIME = 0x01000193
_UTF16_NATIVE = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"

BucketRange = tuple[float, float]


def fnv1a32(text: str) -> int:
    """FNV-1a 32-bit over the string's UTF-16 code units, as GrowthBook's JS SDK (``charCodeAt``) and Python SDK
    (``utf-16-le``) do. A character above U+FFFF counts as its two surrogates; every other character is one code
    unit equal to its code point, so ids without such characters hash as they always did.

    >>> fnv1a32("a")
    3826002220
    >>> fnv1a32("u-\\U0001F600") == fnv1a32("u-\\ud83d\\ude00")  # the emoji is hashed as its surrogate pair
    True
    """
    value = FNV32_OFFSET
    if text.isascii():
        for byte in text.encode():
            value = ((value ^ byte) * FNV32_PRIME) & 0xFFFFFFFF
        return value
    # "surrogatepass": a lone surrogate (possible in a Python str, and in JS) is one code unit, as in the SDKs
    units = text.encode(_UTF16_NATIVE, "surrogatepass")
    for unit in memoryview(units).cast("H"):  # native-order 16-bit code units
        value = ((value ^ unit) * FNV32_PRIME) & 0xFFFFFFFF
    return value


def gb_hash(seed: str, value: str, version: int = 2) -> float | None:
    """Map ``value`` to [0, 1). Version 2: ``fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000``.

    Version 1 (legacy, biased): ``fnv1a32(value + seed) % 1000 / 1000``. Unknown versions give None,
    as in GrowthBook.
    """
    if version == 2:
        return fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000
    if version == 1:
        return fnv1a32(value + seed) % 1000 / 1000
    return None


def in_namespace(unit_id: str, namespace_id: str, start: float, end: float) -> bool:
    """GrowthBook ``inNamespace``: hash v1 of ``unit_id + "__" + namespace_id`` falls in [start, end).

    Experiments sharing a namespace id with non-overlapping ranges are mutually exclusive.
    """
    n = gb_hash("__" + namespace_id, unit_id, 1)
    return n is not None and start <= n < end


def get_equal_weights(num_variations: int) -> list[float]:
    """Equal weights; empty for fewer than one variation."""
    if num_variations < 1:
        return []
    return [1 / num_variations] * num_variations


def get_bucket_ranges(
    num_variations: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[BucketRange]:
    """GrowthBook ``getBucketRanges``: one [start, start + coverage * weight) range per variation.

    Coverage is clamped to [0, 1]; weights of the wrong length or not summing to 1 (+-0.01) fall back to
    equal weights, exactly like the SDKs.

    >>> get_bucket_ranges(2, 0.5)
    [(0.0, 0.25), (0.5, 0.75)]
    """
    coverage = min(max(coverage, 0.0), 1.0)
    chosen = list(weights) if weights is not None else get_equal_weights(num_variations)
    if len(chosen) != num_variations or not 0.99 <= sum(chosen) <= 1.01:
        chosen = get_equal_weights(num_variations)
    ranges: list[BucketRange] = []
    cumulative = 0.0
    for weight in chosen:
        start = cumulative
        cumulative += weight
        ranges.append((float(start), float(start + coverage * weight)))
    return ranges


def choose_variation(n: float, ranges: Sequence[BucketRange]) -> int:
    """Index of the range holding ``n`` (start inclusive, end exclusive), or -1 when none does."""
    for index, (start, end) in enumerate(ranges):
        if start <= n < end:
            return index
    return -1
