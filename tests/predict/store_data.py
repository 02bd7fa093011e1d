"""Put the synthetic shop into a store through ingestion, as a site would send it (track calls, old timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime

from pertinent.services import Services
from tests.predict.synthetic import synthetic_events

DAY = 86_400.0


def ingest_shop(services: Services, now: float, n_users: int = 200, days: int = 150, seed: int = 0) -> int:
    """The synthetic shop ending at ``now``; every third user on mobile, countries FR / DE. Returns events sent."""
    ev = synthetic_events(n_users, days, seed)
    start = now - days * DAY - DAY
    messages = []
    for user, ts, event, revenue, item in ev.itertuples(index=False):
        n = int(user[1:])
        messages.append(
            {
                "type": "track",
                "event": "Order Completed" if event == "order" else "Product Viewed",
                "userId": user,
                "timestamp": datetime.fromtimestamp(start + ts, UTC).isoformat(),
                "properties": {"revenue": revenue, "product_id": item} if event == "order" else {"product_id": item},
                "context": {
                    "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
                    if n % 3 == 0
                    else "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
                    "locale": "fr-FR" if n % 2 else "de-DE",
                },
            }
        )
    for i in range(0, len(messages), 500):
        result = services.ingest.ingest(messages[i : i + 500], received_at=now)
        assert result.accepted == len(messages[i : i + 500]), result.to_json()
    return len(messages)
