"""Hashing over UTF-16 code units changes nothing for ids inside the Basic Multilingual Plane."""

from __future__ import annotations

import random

from pertinent.experiments.hashing import FNV32_OFFSET, FNV32_PRIME, fnv1a32, gb_hash


def _code_point_fnv(text: str) -> int:
    """The hash before the fix: one step per code point."""
    value = FNV32_OFFSET
    for char in text:
        value = ((value ^ ord(char)) * FNV32_PRIME) % 2**32
    return value


def test_bmp_ids_hash_as_before() -> None:
    rnd = random.Random(9)
    alphabet = "abcxyz0189-_éüßñ中文日本한국Ωπ\u00a0\ufffd\uffff"
    ids = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 16))) for _ in range(20_000)]
    assert all(fnv1a32(uid) == _code_point_fnv(uid) for uid in ids)


def test_non_bmp_characters_count_as_their_surrogate_pair() -> None:
    # U+1F600 is D83D DE00 in UTF-16: GrowthBook's SDKs hash those two units
    assert fnv1a32("u-😀") == _code_point_fnv("u-\ud83d\ude00")
    assert fnv1a32("u-😀") != _code_point_fnv("u-😀")
    assert gb_hash("exp", "u-😀", 2) != gb_hash("exp", "u-😁", 2)


def test_lone_surrogates_are_one_unit_each() -> None:
    assert fnv1a32("\ud83d") == _code_point_fnv("\ud83d")
