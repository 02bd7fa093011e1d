"""Assignment hashing (GrowthBook vectors), bucket ranges, namespaces, holdout and sticky records."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pertinent.experiments.assignment import StickyRecord, assign, carry_over, sticky_record
from pertinent.experiments.config import Experiment, Holdout, Namespace
from pertinent.experiments.hashing import choose_variation, fnv1a32, gb_hash, get_bucket_ranges, in_namespace

# Test vectors published in GrowthBook's SDK test suite (cases.json): [seed, value, version, expected].
GB_HASH = [
    ("", "a", 1, 0.22),
    ("", "b", 1, 0.077),
    ("b", "a", 1, 0.946),
    ("ef", "d", 1, 0.652),
    ("asdf", "8952klfjas09ujk", 1, 0.549),
    ("", "123", 1, 0.011),
    ("", '___)((*":&', 1, 0.563),
    ("seed", "a", 2, 0.0505),
    ("seed", "b", 2, 0.2696),
    ("foo", "ab", 2, 0.2575),
    ("foo", "def", 2, 0.2019),
    ("89123klj", "8952klfjas09ujkasdf", 2, 0.124),
    ("90850943850283058242805", "123", 2, 0.7516),
    ("()**(%$##$%#$#", '___)((*":&', 2, 0.0128),
]
# cases.json "inNamespace": (user, namespace id, start, end, expected)
GB_NAMESPACE = [
    ("1", "namespace1", 0, 0.4, False),
    ("1", "namespace1", 0.4, 1, True),
    ("1", "namespace2", 0, 0.4, False),
    ("1", "namespace2", 0.4, 1, True),
    ("2", "namespace1", 0, 0.4, False),
    ("2", "namespace1", 0.4, 1, True),
    ("3", "namespace2", 0, 0.4, True),
    ("3", "namespace2", 0.4, 1, False),
    ("4", "namespace2", 0, 0.4, True),
    ("4", "namespace2", 0.4, 1, False),
]
# cases.json "getBucketRange": ((numVariations, coverage, weights), expected)
GB_RANGES = [
    ((2, 1, None), [(0, 0.5), (0.5, 1)]),
    ((2, 0.5, None), [(0, 0.25), (0.5, 0.75)]),
    ((2, 0, None), [(0, 0), (0.5, 0.5)]),
    ((2, 1, [0.4, 0.6]), [(0, 0.4), (0.4, 1)]),
    ((3, 0.2, [0.2, 0.3, 0.5]), [(0, 0.04), (0.2, 0.26), (0.5, 0.6)]),
    ((2, -0.2, None), [(0, 0), (0.5, 0.5)]),
    ((2, 1.5, None), [(0, 0.5), (0.5, 1)]),
    ((2, 1, [0.4, 0.1]), [(0, 0.5), (0.5, 1)]),
    ((4, 1, [0.4, 0.4, 0.2]), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
]


def test_fnv1a32_reference_values():
    # Landon Curt Noll's FNV-1a 32-bit reference values.
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


@pytest.mark.parametrize(("seed", "value", "version", "expected"), GB_HASH)
def test_growthbook_hash_vectors(seed, value, version, expected):
    assert gb_hash(seed, value, version) == pytest.approx(expected, abs=1e-9)


def test_unknown_hash_version_is_none():
    assert gb_hash("s", "v", 3) is None


@pytest.mark.parametrize(("user", "ns", "start", "end", "expected"), GB_NAMESPACE)
def test_growthbook_namespace_vectors(user, ns, start, end, expected):
    assert in_namespace(user, ns, start, end) is expected


@pytest.mark.parametrize(("args", "expected"), GB_RANGES)
def test_growthbook_bucket_ranges(args, expected):
    got = get_bucket_ranges(*args)
    assert len(got) == len(expected)
    for (a, b), (c, d) in zip(got, expected, strict=True):
        assert a == pytest.approx(c) and b == pytest.approx(d)


def test_choose_variation_edges():
    ranges = [(0, 0.25), (0.5, 0.75)]
    assert choose_variation(0.2, ranges) == 0
    assert choose_variation(0.5, ranges) == 1
    assert choose_variation(0.25, ranges) == -1  # end is exclusive
    assert choose_variation(0.5, [(0, 0.5), (0.5, 0.5), (0.5, 1)]) == 2  # zero-width range skipped


def test_full_growthbook_experiment_case():
    # cases.json evalFeature "creates experiments properly": seed 'feature', hashVersion 2, anonId '123',
    # weights [0.1, 0.9], coverage 0.99 -> bucket 0.5231, variation 1.
    exp = Experiment(key="hello", seed="feature", variants=["v0", "v1"], weights=[0.1, 0.9], coverage=0.99).start()
    a = assign(exp, "123")
    assert a.bucket == pytest.approx(0.5231)
    assert a.variation_id == 1
    # and the v1 "empty experiment rule" cases: 3 equal variations, seed = key 'feature'
    exp1 = Experiment(key="feature", variants=["a", "b", "c"], hash_version=1).start()
    assert [assign(exp1, u).variant for u in ("123", "456", "fds")] == ["c", "a", "b"]


def test_assignment_is_deterministic_and_follows_weights():
    exp = Experiment(key="w", variants=["a", "b", "c"], weights=[0.5, 0.3, 0.2]).start()
    ids = [f"user-{i}" for i in range(20000)]
    first = [assign(exp, u).variant for u in ids]
    assert first == [assign(exp, u).variant for u in ids]
    counts = Counter(first)
    n = len(ids)
    for variant, w in zip(exp.variants, exp.weights, strict=True):
        sd = (w * (1 - w) / n) ** 0.5
        assert abs(counts[variant] / n - w) < 5 * sd


def test_coverage_excludes_share_of_units():
    exp = Experiment(key="cov", variants=["a", "b"], coverage=0.3).start()
    results = [assign(exp, f"u{i}") for i in range(10000)]
    share = sum(r.in_experiment for r in results) / len(results)
    assert abs(share - 0.3) < 5 * (0.3 * 0.7 / 10000) ** 0.5
    assert {r.reason for r in results if not r.in_experiment} == {"not_covered"}


def test_namespaces_are_mutually_exclusive():
    left = Experiment(key="e1", variants=["a", "b"], namespace=Namespace(id="pricing", start=0, end=0.5)).start()
    right = Experiment(key="e2", variants=["a", "b"], namespace=Namespace(id="pricing", start=0.5, end=1)).start()
    both = 0
    in_any = 0
    for i in range(5000):
        a, b = assign(left, f"u{i}"), assign(right, f"u{i}")
        both += a.in_experiment and b.in_experiment
        in_any += a.in_experiment or b.in_experiment
    assert both == 0
    assert in_any == 5000  # the two halves cover everyone


def test_holdout_is_shared_across_experiments():
    hold = Holdout(key="global", share=0.1)
    e1 = Experiment(key="one", variants=["a", "b"], holdout=hold).start()
    e2 = Experiment(key="two", variants=["a", "b"], holdout=hold).start()
    held1 = {f"u{i}" for i in range(5000) if assign(e1, f"u{i}").reason == "holdout"}
    held2 = {f"u{i}" for i in range(5000) if assign(e2, f"u{i}").reason == "holdout"}
    assert held1 == held2
    assert abs(len(held1) / 5000 - 0.1) < 5 * (0.09 / 5000) ** 0.5


def test_status_gates_assignment():
    exp = Experiment(key="s", variants=["a", "b"])
    assert assign(exp, "u1").reason == "not_running"
    running = exp.start()
    assert running.started_at is not None and assign(running, "u1").in_experiment
    stopped = running.stop()
    assert assign(stopped, "u1").reason == "not_running"
    assert assign(running, "").reason == "no_unit_id"
    assert assign(running, None).reason == "no_unit_id"


def test_sticky_assignment_survives_identify():
    exp = Experiment(key="sticky", variants=["a", "b"]).start()
    # find an anonymous id and a known id that hash to different variants
    anon = "anon-0"
    va = assign(exp, anon).variant
    known = next(f"user-{i}" for i in range(1000) if assign(exp, f"user-{i}").variant != va)
    record = sticky_record(assign(exp, anon))
    moved = carry_over(record, known)
    assert moved.unit_id == known and moved.variant == va
    result = assign(exp, known, prior=moved)
    assert result.variant == va and result.reason == "sticky"
    # without the prior the known id would land elsewhere
    assert assign(exp, known).variant != va
    # a record from another experiment or a removed variant is ignored
    other = StickyRecord(experiment_key="other", unit_id=known, variant=va)
    assert assign(exp, known, prior=other).reason == "assigned"
    gone = StickyRecord(experiment_key="sticky", unit_id=known, variant="deleted")
    assert assign(exp, known, prior=gone).reason == "assigned"
    # bumping bucket_version re-buckets
    bumped = exp.model_copy(update={"bucket_version": 1})
    assert assign(bumped, known, prior=moved).reason == "assigned"


def test_sticky_record_requires_enrolment():
    exp = Experiment(key="x", variants=["a", "b"])
    with pytest.raises(ValueError, match="not in experiment"):
        sticky_record(assign(exp, "u"))


def test_experiment_config_round_trips_json():
    exp = Experiment(
        key="rt",
        variants=["a", "b"],
        weights=[0.3, 0.7],
        coverage=0.8,
        namespace=Namespace(id="n", start=0.1, end=0.6),
        holdout=Holdout(key="h", share=0.05),
    ).start()
    again = Experiment.model_validate(json.loads(exp.model_dump_json()))
    assert again == exp


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"variants": ["a", "a"]}, "unique"),
        ({"variants": ["a", "b"], "weights": [0.5]}, "weights has 1"),
        ({"variants": ["a", "b"], "weights": [0.5, 0.6]}, "sum to 1"),
        ({"variants": ["a", "b"], "weights": [-0.5, 1.5]}, "non-negative"),
        ({"variants": ["a"], "coverage": 1.5}, "coverage"),
        ({"variants": []}, "variants"),
    ],
)
def test_bad_config_names_the_problem(kwargs, needle):
    with pytest.raises(ValidationError, match=needle):
        Experiment(key="bad", **kwargs)


def test_bad_namespace():
    with pytest.raises(ValidationError, match="end"):
        Namespace(id="n", start=0.6, end=0.2)


@given(st.text(max_size=40), st.text(max_size=40))
def test_hash_is_in_unit_interval(seed, value):
    for version in (1, 2):
        h = gb_hash(seed, value, version)
        assert h is not None and 0 <= h < 1


@given(
    st.integers(min_value=1, max_value=6),
    st.floats(min_value=-1, max_value=2, allow_nan=False),
    st.floats(min_value=0, max_value=0.9999),
)
def test_bucket_ranges_are_disjoint_and_cover(n, coverage, x):
    ranges = get_bucket_ranges(n, coverage)
    clamped = min(max(coverage, 0), 1)
    assert sum(b - a for a, b in ranges) == pytest.approx(clamped)
    hits = [i for i, (a, b) in enumerate(ranges) if a <= x < b]
    assert len(hits) <= 1
    assert choose_variation(x, ranges) == (hits[0] if hits else -1)


@given(
    st.dictionaries(
        st.sampled_from(["key", "variants", "weights", "coverage", "hash_version"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.floats(allow_nan=True),
            st.text(max_size=5),
            st.lists(st.one_of(st.text(max_size=3), st.floats()), max_size=3),
        ),
    )
)
def test_experiment_validation_never_crashes(data):
    try:
        exp = Experiment.model_validate(data)
    except ValidationError:
        return
    assert exp.variants
