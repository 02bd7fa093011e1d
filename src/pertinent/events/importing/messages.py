"""What every imported message shares: a deterministic ``messageId``, the ``context.library`` stamp, and the
event names of the project's conventions that carry products.

``messageId`` is a UUID5 of the source name and the row's content (never the file path or position), so
importing the same file twice yields the same ids and the ingestion side can de-duplicate.
"""

from __future__ import annotations

import hashlib
import uuid

__all__ = ["LIBRARY", "MESSAGE_NAMESPACE", "ORDER_EVENTS", "PRODUCT_EVENTS", "message_id"]

MESSAGE_NAMESPACE = uuid.UUID("7d1a4c2e-5b7f-4f0a-9a43-1f3c8e2b6d90")
LIBRARY = {"name": "pertinent-importer", "version": "1"}
PRODUCT_EVENTS = frozenset(
    {
        "Product Viewed",
        "Product Clicked",
        "Product Added",
        "Product Removed",
        "Product Added to Wishlist",
        "Product Reviewed",
        "Order Completed",
        "Order Refunded",
    }
)
ORDER_EVENTS = frozenset({"Order Completed", "Order Refunded"})
_NAMESPACE_SHA1 = hashlib.sha1(MESSAGE_NAMESPACE.bytes)


def message_id(*parts: object) -> str:
    """Deterministic Segment ``messageId`` from the parts that identify a source row.

    >>> message_id("movielens", "1", "31", 964982703) == message_id("movielens", "1", "31", 964982703)
    True
    >>> message_id("movielens", "1", "31") == message_id("movielens", "13", "1")
    False
    """
    # Same bytes as ``uuid.uuid5`` (the tests check it), without building UUID objects (the hot part of an import).
    h = _NAMESPACE_SHA1.copy()
    h.update("\x1f".join([str(p) for p in parts]).encode("utf-8", "surrogatepass"))
    d = bytearray(h.digest()[:16])
    d[6] = (d[6] & 0x0F) | 0x50
    d[8] = (d[8] & 0x3F) | 0x80
    x = d.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"
