"""Deterministic synthetic shop: catalogue, content articles, users with latent tastes, and their sessions
as Segment-spec event messages.

Everything derives from :class:`SyntheticConfig` (``seed`` included): the same config gives the same
messages, byte for byte, including ``messageId``. Users are generated in blocks, each block from its own
random stream, so a million profiles stream in bounded memory and the ground truth of any user can be
recomputed without generating the events.

The model:

* categories have unit latent vectors; items and articles sit near their category's vector;
* each user has a dominant category (the planted taste segment), sometimes a secondary one, a taste
  vector ``u`` built from them, a price sensitivity, and may be a *deal seeker*;
* items are chosen with probability ``softmax(u . v_item + popularity_weight * log popularity)``;
* a session starts from a campaign (utm; deal campaigns attract deal seekers) or a referrer, views
  products, may add to cart (less likely the more expensive, more likely in a deal session), may
  purchase (price sensitive on the cart total), may read articles; purchases may be reviewed (the rating
  follows the user's affinity) or refunded later;
* users are *known* (identify at their first visit), *identified later* (anonymous sessions first, then
  a "Signed Up" and an ``identify`` carrying both ids) or *anonymous* for good; a share deny the
  personalization purpose in ``context.consent``.

Typical use (e.g. ``make demo``)::

    gen = SyntheticGenerator(SyntheticConfig(n_users=5000, seed=7))
    with rich.progress.Progress() as bar:
        task = bar.add_task("users", total=gen.config.n_users)
        for batch in gen.batches(500):
            ingest(batch)
            bar.update(task, completed=gen.users_done)
    truth = gen.users()  # planted tastes/segments for checking downstream components

The modules: :mod:`.config` (the config), :mod:`.tables` (vocabulary, user agents, countries...),
:mod:`.world` (categories, items, articles), :mod:`.population` (users and their planted traits),
:mod:`.sessions` (a user's sessions and events), :mod:`.generator` (the stream).

Messages of one user are in time order; users follow each other block by block (the stream as a whole
is not globally sorted by time).

>>> gen = SyntheticGenerator(SyntheticConfig(seed=1, n_users=20, n_items=40, days=7))
>>> batches = list(gen.batches(batch_size=100))
>>> messages = [m for b in batches for m in b]
>>> sorted({m["type"] for m in messages}) == ["identify", "page", "track"]
True
>>> [m["messageId"] for m in messages[:3]] == [m["messageId"] for m in list(gen.messages())[:3]]
True
>>> gen.users().shape[0], gen.catalogue().shape[0]
(20, 40)
"""

from __future__ import annotations

from pertinent.synthetic.config import Campaign, SyntheticConfig
from pertinent.synthetic.generator import SyntheticGenerator, generate
from pertinent.synthetic.tables import USER_AGENTS

__all__ = ["USER_AGENTS", "Campaign", "SyntheticConfig", "SyntheticGenerator", "generate"]
