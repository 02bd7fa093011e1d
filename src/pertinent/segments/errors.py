"""The segment service's refusals, both :class:`pertinent.errors.DomainError` (the API's one handler answers
them: ``{"success": false, "code", "message", "errors"}``).

>>> e = SegmentError("id: taken", [RuleError("id", "already exists")], status=409, code="conflict")
>>> (e.status, e.code, e.errors)
(409, 'conflict', [{'field': 'id', 'message': 'already exists'}])
>>> e = UnknownSegment("vip"); (e.status, e.segment_id, e.message, e.errors)
(404, 'vip', "segment_id: no segment 'vip'", [{'field': 'segment_id', 'message': 'unknown segment'}])
"""

from __future__ import annotations

from collections.abc import Sequence

from pertinent.errors import DomainError, NotFound
from pertinent.rules import RuleError


class SegmentError(DomainError):
    """Bad input: ``errors`` name each bad part (``field``) and the problem; ``status`` is the HTTP status (400,
    or 409 for an id taken or too little data to fit)."""

    def __init__(
        self, message: str, errors: Sequence[RuleError] = (), status: int = 400, code: str = "invalid_segment"
    ) -> None:
        fields = [{"field": e.path or "body", "message": e.message} for e in errors]
        super().__init__(fields, message, status=status, code=code)
        self.errors = fields  # may be empty (DomainError would make one up)


class UnknownSegment(NotFound):
    """No definition (or segment of a definition) has this id."""

    def __init__(self, segment_id: str) -> None:
        super().__init__(
            [{"field": "segment_id", "message": "unknown segment"}], f"segment_id: no segment '{segment_id}'"
        )
        self.segment_id = segment_id
