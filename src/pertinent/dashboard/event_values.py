"""What keeps the KPI and drift page fast: event values read once and kept as columns.

:class:`EventValues` holds the profile-free part of the events of a window and its reference (type, name,
time and the JSON fields drift compares), one compact column each. Stored events never change except by
deletion (erasure), so each request reads only events newer than the last one read, and everything again
when the count of events shows some were deleted. Profile ids *can* change (identity merges move events to
another profile), so what depends on them is grouped in SQL on every computation instead.
(Computed pages themselves are kept a few seconds in a :class:`pertinent.runtime.cache.TTLCache`, keyed by
the page's parameters and a version of the data: see :meth:`pertinent.dashboard.service.DashboardService.kpis`.)

>>> values = EventValues(since=0.0, paths=1)
>>> values.extend([(1, "track", "Viewed", 5.0, "shoes"), (2, "page", None, 7.0, None)], limit=10)
2
>>> values.size, values.last_id, values.values_of(values.names, values.name_codes, values.ts > 0)
(2, 2, [('Viewed', 1), ('page', 1)])
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np


class _Codes:
    """Distinct raw values and the code of each. Equal values of different types (``1``, ``1.0``, ``True``)
    stay apart, as their labels differ; ``numbers`` columns (read as numbers: ``1`` and ``1.0`` are the same)
    only keep ``True`` apart from ``1``.

    >>> c = _Codes()
    >>> c.encode([1, 1.0, "1", 1, None]).tolist(), c.values
    ([0, 1, 2, 0, 3], [1, 1.0, '1', None])
    >>> c = _Codes()  # a later batch with another type of number: still apart
    >>> c.encode([1.0]).tolist(), c.encode([1]).tolist(), c.encode([1.0]).tolist(), c.values
    ([0], [1], [2], [1.0, 1, 1.0])
    >>> n = _Codes(numbers=True)
    >>> n.encode([1, 1.0, "1"]).tolist(), n.values
    ([0, 0, 1], [1, '1'])
    """

    def __init__(self, numbers: bool = False) -> None:
        self.numbers = numbers
        self.index: dict[Hashable, int] = {}
        self.values: list[Any] = []
        self.kinds: set[type] = set()  # the types other than text seen so far

    def encode(self, column: Sequence[Any]) -> np.ndarray:
        self.kinds |= set(map(type, column)) - {str, type(None)}
        exact = len(self.kinds) > 1 and (not self.numbers or bool in self.kinds)
        # one key style or the other may come first: a value coded twice is merged again by its label
        keys = [v if v.__class__ is str else (v.__class__, v) for v in column] if exact else column
        index = self.index
        for key in dict.fromkeys(keys):
            if key not in index:
                index[key] = len(self.values)
                self.values.append(key[1] if exact and key.__class__ is tuple else key)
        return np.fromiter(map(index.__getitem__, keys), dtype=np.int32, count=len(keys))


class EventValues:
    """Columns of events (id order): time, type code, name code (``event or type``) and one code per path
    (``numbers``: the paths read as numbers).

    Rows are added by :meth:`extend` (newer ids only) and dropped by :meth:`drop_before` once the window has
    moved past them.
    """

    def __init__(self, since: float, paths: int, numbers: Sequence[int] = ()) -> None:
        self.since = since  # rows before this time were never read
        self.last_id = 0
        self.events_seen = 0  # stored events with an id up to last_id when read (fewer later: some were deleted)
        self.types = _Codes()
        self.names = _Codes()
        self.fields = [_Codes(numbers=i in numbers) for i in range(paths)]
        self._ts = np.empty(0, dtype=np.float64)
        self._type = np.empty(0, dtype=np.int32)
        self._name = np.empty(0, dtype=np.int32)
        self._field = [np.empty(0, dtype=np.int32) for _ in range(paths)]

    @property
    def size(self) -> int:
        return int(self._ts.size)

    @property
    def ts(self) -> np.ndarray:
        return self._ts

    @property
    def type_codes(self) -> np.ndarray:
        return self._type

    @property
    def name_codes(self) -> np.ndarray:
        return self._name

    def field_codes(self, i: int) -> np.ndarray:
        return self._field[i]

    def extend(self, rows: Iterable[Sequence[Any]], limit: int) -> int:
        """Add (id, type, event, timestamp, *values) rows, newest ids last, keeping at most ``limit`` rows;
        returns how many were added."""
        batch = list(itertools.islice(rows, max(limit - self.size, 0)))
        if not batch:
            return 0
        ids, types, events, ts, *fields = zip(*batch, strict=True)
        self.last_id = int(ids[-1])
        self._ts = np.concatenate([self._ts, np.asarray(ts, dtype=np.float64)])
        self._type = np.concatenate([self._type, self.types.encode(types)])
        self._name = np.concatenate(
            [self._name, self.names.encode([e or t for e, t in zip(events, types, strict=True)])]
        )
        self._field = [
            np.concatenate([old, codes.encode(new)])
            for old, codes, new in zip(self._field, self.fields, fields, strict=True)
        ]
        return len(batch)

    def drop_before(self, since: float) -> None:
        """Forget rows older than ``since`` (the window moved on); later requests must not ask for them."""
        self.since = max(self.since, since)
        keep = self._ts >= since
        if not keep.all():
            self._ts, self._type, self._name = self._ts[keep], self._type[keep], self._name[keep]
            self._field = [f[keep] for f in self._field]

    @staticmethod
    def values_of(codes: _Codes, column: np.ndarray, mask: np.ndarray, ordered: bool = True) -> list[tuple[Any, int]]:
        """(raw value, count) of each distinct value of the masked rows: in order of first row when
        ``ordered`` (what ranks ties among labels), else in code order."""
        selected = column[mask]
        if not selected.size:
            return []
        if not ordered:
            counts = np.bincount(selected)
            return [(codes.values[i], int(counts[i])) for i in np.flatnonzero(counts)]
        distinct, first, counts = np.unique(selected, return_index=True, return_counts=True)
        return [(codes.values[int(distinct[i])], int(counts[i])) for i in np.argsort(first, kind="stable")]
