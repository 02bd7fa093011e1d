"""Deployment settings on SQL: one row per name, a JSON value (``storage/deployment.py`` says what they are for)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from pertinent.storage import tables as t
from pertinent.storage.sqlutil import SqlBase


class SettingsMixin(SqlBase):
    """The deployment-setting methods of :class:`pertinent.storage.sql_tx.SqlTx`."""

    def deployment_setting(self, name: str) -> dict[str, Any] | None:
        s = t.deployment_settings
        value = self.conn.execute(select(s.c.value).where(s.c.name == name)).scalar_one_or_none()
        return dict(value) if isinstance(value, dict) else None

    def put_deployment_setting(self, name: str, value: dict[str, Any], at: float) -> None:
        ins = self._insert(t.deployment_settings).values(name=name, value=value, updated_at=at)
        self.conn.execute(ins.on_conflict_do_update(index_elements=["name"], set_={"value": value, "updated_at": at}))

    def delete_deployment_setting(self, name: str) -> bool:
        s = t.deployment_settings
        return bool(self.conn.execute(delete(s).where(s.c.name == name)).rowcount)
