"""Secrets: the write key, the admin key, the pseudonymisation key and the identity-verification secret.

Values come from settings (environment / TOML). Any that is unset is generated once and kept in
``<data_dir>/keys.json`` (mode 0600), so a restart finds the same keys — a lost pseudonymisation key
would make every stored profile unreachable.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pertinent.runtime.files import private_dir
from pertinent.settings import Settings


def ensure_keys(settings: Settings) -> Settings:
    """Return settings with every key set, generating and persisting the missing ones."""
    path = Path(settings.data_dir) / "keys.json"
    stored: dict[str, object] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    update: dict[str, object] = {}
    if not settings.write_key:
        update["write_key"] = stored.get("write_key") or "wk_" + secrets.token_urlsafe(24)
    if not settings.admin_key:
        update["admin_key"] = stored.get("admin_key") or "ak_" + secrets.token_urlsafe(32)
    if not settings.pseudonym_keys:
        update["pseudonym_keys"] = stored.get("pseudonym_keys") or [secrets.token_urlsafe(32)]
    if not settings.identity_secret:  # the site's server signs user ids with it (docs/api.md)
        update["identity_secret"] = stored.get("identity_secret") or "is_" + secrets.token_urlsafe(32)
    if not update:
        return settings
    merged = {**stored, **update}
    if merged != stored:
        private_dir(path.parent)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(merged, fh, indent=2)
        tmp.replace(path)
    return settings.model_copy(update=update)
