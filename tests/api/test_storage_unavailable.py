"""When the database goes away, collection answers 503 with Retry-After (clients retry; nothing acknowledged is
lost), not a 500 (issue 15). The outage is real: the store's engines point at a port where nothing listens."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from tests.support.common import ADMIN, api_client

pytestmark = pytest.mark.postgres


def test_collection_answers_503_with_retry_after_and_the_retry_is_stored_once(services):
    if services.store.backend != "postgresql":
        pytest.skip("the outage is simulated on PostgreSQL (a dead server address)")
    store = services.store
    live = (store.engine, store._write_engine)
    dead = create_engine("postgresql+psycopg://pertinent@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    batch = {"batch": [{"type": "track", "userId": "ann", "event": "Viewed", "messageId": "m-1"}]}
    for client in api_client(services):
        store.engine = store._write_engine = dead
        try:
            refused = client.post("/v1/batch", json=batch)
            profile = client.get("/v1/profiles/ann", headers=ADMIN)
        finally:
            store.engine, store._write_engine = live
            dead.dispose()
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "5"
        assert refused.json()["code"] == "unavailable"
        assert profile.status_code == 503
        assert client.post("/v1/batch", json=batch).status_code == 200  # the client's retry, once it is back
        assert client.post("/v1/batch", json=batch).status_code == 200  # a duplicate retry changes nothing
    with store.transaction(write=False) as tx:
        assert tx.count_events() == 1
