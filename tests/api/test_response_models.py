"""The collection, profile, privacy, catalogue and health routes document their answers in /openapi.json, and the
declared models describe the JSON exactly: validating an answer and dumping it again gives the same JSON (a key the
model lacked would be dropped; one it added would appear)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from pydantic import BaseModel

from pertinent.api.routes.collect import IngestResponse
from pertinent.browser.catalogue import CatalogueCategories, CatalogueLookup, CataloguePage
from pertinent.privacy.models import Erasure, UserExport
from pertinent.profiles.models import Profile
from pertinent.services import Health, Services
from tests.support.common import ADMIN

DOCUMENTED = {
    ("/v1/track", "post"): "IngestResponse",
    ("/v1/batch", "post"): "IngestResponse",
    ("/v1/profiles/{user_id}", "get"): "Profile",
    ("/v1/consent", "post"): "ConsentResponse",
    ("/v1/users/{user_id}/export", "get"): "UserExport",
    ("/v1/users/{user_id}", "delete"): "Erasure",
    ("/v1/catalog/categories", "get"): "CatalogueCategories",
    ("/healthz", "get"): "Health",
}


def test_routes_document_their_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for (path, method), model in DOCUMENTED.items():
        schema = paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}, (path, method)
    catalogue = paths["/v1/catalog"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {s["$ref"].rsplit("/", 1)[1] for s in catalogue["anyOf"]} == {"CatalogueLookup", "CataloguePage"}


def _same(model: type[BaseModel], body: dict[str, Any], **dump: bool) -> None:
    assert model.model_validate(body).model_dump(mode="json", **dump) == body


def test_models_keep_every_key_of_the_answers(client: TestClient, sqlite_services: Services) -> None:
    track = {
        "userId": "ann",
        "anonymousId": "a-1",
        "event": "Order Completed",
        "properties": {"revenue": 12, "products": [{"product_id": "mug", "category": "kitchen", "price": 12}]},
        "context": {"userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)", "locale": "en-GB"},
    }
    _same(IngestResponse, client.post("/v1/track", json=track).json(), exclude_none=True)
    refused = client.post("/v1/batch", json={"batch": [{"type": "track", "event": "E"}]})
    assert refused.status_code == 400
    _same(IngestResponse, refused.json(), exclude_none=True)
    client.post("/v1/consent", json={"userId": "ann", "purposes": {"marketing": False}})
    _same(Profile, client.get("/v1/profiles/ann", headers=ADMIN).json())
    _same(UserExport, client.get("/v1/users/ann/export", headers=ADMIN).json(), exclude_unset=True)
    _same(Erasure, client.delete("/v1/users/ann", headers=ADMIN).json())
    _same(Health, client.get("/healthz").json())
    sqlite_services.recommend.upsert_items([{"item_id": "mug", "title": "Mug", "categories": ["kitchen"]}])
    _same(CataloguePage, client.get("/v1/catalog").json())
    _same(CatalogueLookup, client.get("/v1/catalog", params={"ids": "mug,gone"}).json())
    _same(CatalogueCategories, client.get("/v1/catalog/categories").json())
