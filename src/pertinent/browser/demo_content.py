"""The demo shop's content: blocks and the ``home.hero`` slot that its home page fills through ``/v1/decide``.

A new visitor's hero is chosen by a Thompson-sampling bandit between two headlines (it learns from
"Slot Clicked"); once a visitor has a few events (``min_events``), the hero becomes a product list from the
recommender, so the slot visibly changes as a person browses. ``pertinent demo`` installs it; an existing
slot or block of the same id is left alone (someone may have edited it).

>>> import tempfile
>>> from pertinent.services import Services
>>> from pertinent.settings import Settings
>>> svc = Services.build(Settings(database_url="sqlite://", data_dir=tempfile.mkdtemp(), write_key="w",
...                               admin_key="a", pseudonym_keys=["k"])); svc.store.migrate()
>>> install_demo_content(svc)
['hero-welcome', 'hero-deals', 'hero-picks', 'home.hero']
>>> install_demo_content(svc)
[]
>>> svc.decide.decide("home.hero", anonymous_id="new-visitor")["reason"]["kind"]
'bandit'
>>> svc.close()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pertinent.errors import NotFound

if TYPE_CHECKING:
    from pertinent.services import Services

HERO = "home.hero"
#: Visitors with at least this many stored events get recommended products in the hero.
PERSONAL_AFTER_EVENTS = 6

BLOCKS: list[dict[str, Any]] = [
    {
        "id": "hero-welcome",
        "type": "headline",
        "description": "demo shop: the hero for new visitors",
        "content": {
            "title": "Welcome to the demo shop",
            "subtitle": "Look at a few products: this banner and the recommendations below follow what you do.",
            "url": "#catalogue",
            "cta": "Browse the catalogue",
        },
    },
    {
        "id": "hero-deals",
        "type": "headline",
        "description": "demo shop: the other hero for new visitors",
        "content": {
            "title": "Fresh picks every day",
            "subtitle": "Hundreds of products in eight departments. Open one and see what Pertinent suggests.",
            "url": "#catalogue",
            "cta": "Start browsing",
        },
    },
    {
        "id": "hero-picks",
        "type": "product_list",
        "description": "demo shop: recommended products in the hero",
        "content": {"title": "Picked for you"},
    },
]

SLOT: dict[str, Any] = {
    "id": HERO,
    "description": "demo shop home page hero",
    "variants": {"welcome": "hero-welcome", "deals": "hero-deals"},
    "rules": [
        {
            "name": "visitors we know a little",
            "min_events": PERSONAL_AFTER_EVENTS,
            "then": {"kind": "recommender", "k": 4, "block": "hero-picks"},
        },
        {"name": "new visitors", "then": {"kind": "bandit", "policy": "thompson", "min_share": 0.1}},
    ],
    "default": {"kind": "variant", "variant": "welcome"},
}


def install_demo_content(services: Services) -> list[str]:
    """Create the demo's blocks and hero slot where missing; returns the ids created."""
    created = []

    def missing(kind: str, doc_id: str) -> bool:
        try:
            services.decide.get(kind, doc_id)
        except NotFound:
            return True
        return False

    for block in BLOCKS:
        if missing("block", block["id"]):
            services.decide.put_block(block)
            created.append(block["id"])
    if missing("slot", HERO):
        services.decide.put_slot(SLOT)
        created.append(HERO)
    return created
