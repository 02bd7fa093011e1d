"""GrowthBook's own Python SDK (``growthbook``) and Pertinent bucket every id into the same variant.

The ids mix ASCII, accented and CJK characters of the Basic Multilingual Plane and characters above U+FFFF
(emoji, mathematical letters, CJK extension B), which GrowthBook hashes as two UTF-16 code units. Each id runs
through 2- and 3-variant experiments with weights, partial coverage, explicit seeds, namespaces and both hash
versions; every (id, experiment) pair must agree: enrolled or not, and in which variant.
"""

from __future__ import annotations

import random

import pytest

from pertinent.experiments.assignment import assign
from pertinent.experiments.config import Experiment, Namespace

growthbook = pytest.importorskip("growthbook", reason="the growthbook SDK is not installed (pip install -e '.[dev]')")

N_IDS = 20_000
_ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz0123456789-_",
    "éèàüößçñøåæœ",  # Latin-1 and Latin Extended (one UTF-16 unit each)
    "中文日本語한국어Ωπ",  # BMP CJK, Hangul, Greek
    "😀🎉🚀👍🏽💡",  # emoji: two code units each
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",  # mathematical fraktur (U+1D5xx)
    "𠀀𠀁𪜀",  # CJK extension B
]

# (key, variants, weights, coverage, seed, namespace, hash version)
Spec = tuple[str, list[str], list[float] | None, float, str | None, tuple[str, float, float] | None, int]
EXPERIMENTS: list[Spec] = [
    ("two-equal", ["a", "b"], None, 1.0, None, None, 2),
    ("three-weighted", ["a", "b", "c"], [0.2, 0.3, 0.5], 1.0, None, None, 2),
    ("two-covered", ["a", "b"], [0.7, 0.3], 0.6, "seed-😀", None, 2),
    ("three-namespaced", ["a", "b", "c"], None, 0.9, "s3", ("pricing", 0.25, 0.75), 2),
    ("two-legacy-v1", ["a", "b"], [0.4, 0.6], 0.8, None, ("ns-中文", 0.0, 0.5), 1),
    ("three-seeded", ["x", "y", "z"], [0.34, 0.33, 0.33], 0.5, "checkout-2024", None, 2),
]


def _ids(n: int) -> list[str]:
    rnd = random.Random(16)
    out = [f"u-{i}" for i in range(n // 4)]
    out += ["u-😀", "😀", "u-\U0010ffff", "é", "u-𠀀x"]
    while len(out) < n:
        chars = "".join(rnd.choice(rnd.choice(_ALPHABETS)) for _ in range(rnd.randint(1, 12)))
        out.append(f"{rnd.choice(['u-', 'anon-', ''])}{chars}")
    return out


def _non_bmp(uid: str) -> bool:
    return any(ord(c) > 0xFFFF for c in uid)


@pytest.mark.slow
def test_growthbook_sdk_and_pertinent_agree_on_every_id() -> None:
    ids = _ids(N_IDS)
    assert sum(map(_non_bmp, ids)) > 5_000  # a real share of ids with characters above U+FFFF
    gb = growthbook.GrowthBook(attributes={"id": ""})
    mismatches: list[tuple[str, str, int, int]] = []
    enrolled = 0
    for key, variants, weights, coverage, seed, ns, version in EXPERIMENTS:
        ours = Experiment(
            key=key,
            variants=variants,
            weights=weights,
            coverage=coverage,
            seed=seed,
            hash_version=version,
            namespace=Namespace(id=ns[0], start=ns[1], end=ns[2]) if ns else None,
        ).start()
        theirs = growthbook.Experiment(
            key=key,
            variations=list(range(len(variants))),
            weights=weights,
            coverage=coverage,
            seed=seed,
            namespace=ns,
            hashVersion=version,
        )
        for uid in ids:
            gb.set_attributes({"id": uid})
            result = gb.run(theirs)
            expected = result.variationId if result.inExperiment else -1
            got = assign(ours, uid).variation_id
            enrolled += got >= 0
            if got != expected:
                mismatches.append((key, uid, got, expected))
    gb.destroy()
    assert mismatches == [], f"{len(mismatches)} mismatches, first: {mismatches[:5]}"
    assert enrolled > N_IDS  # the experiments enrol a good part of the ids, not nobody
