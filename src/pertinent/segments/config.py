"""How segments are kept current: real-time evaluation, the periodic sweep, size snapshots and retraining.
Plain pydantic (``Settings.segments``): ``PERTINENT_SEGMENTS__SWEEP_INTERVAL_S=60`` or ``[segments]`` in TOML.

>>> SegmentsConfig.model_validate_json(SegmentsConfig(retrain_interval_s=86400).model_dump_json()).retrain_interval_s
86400.0
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SegmentsConfig(BaseModel):
    """``realtime``: the ingest listener queues changed profiles for a background evaluator (batched writes).
    ``sweep_interval_s``: profiles are re-checked against segments that change with time alone (windows, days
    since, local time, RFM recency, ML features), so people leave "frequent buyers" without a new event; 0 = off.
    ``sizes_interval_s``: member counts are snapshotted for sizes over time; 0 = off. ``retrain_interval_s``: RFM
    thresholds and ML models are refitted on the stored profiles (ML ids kept stable); 0 = off.
    ``reload_interval_s``: how often a worker re-reads the definitions other workers may have changed.
    ``reconcile_interval_s``: profiles updated since the last reconcile are evaluated again, so memberships
    converge even when a node died with profiles queued for real-time evaluation; 0 = off.

    >>> SegmentsConfig(sweep_interval_s=60).sweep_interval_s, SegmentsConfig().realtime
    (60.0, True)
    """

    model_config = ConfigDict(extra="forbid")

    realtime: bool = True
    batch_max_profiles: int = Field(default=2000, ge=1)
    page_size: int = Field(default=1000, ge=1, description="profiles per transaction in back-fills and sweeps")
    reload_interval_s: float = Field(default=2.0, ge=0)
    sweep_interval_s: float = Field(default=300.0, ge=0)
    sizes_interval_s: float = Field(default=3600.0, ge=0)
    reconcile_interval_s: float = Field(default=60.0, ge=0)
    retrain_interval_s: float = Field(default=0.0, ge=0)
    keep_model_versions: int = Field(default=3, ge=1)
    preview_sample: int = Field(default=10, ge=0, le=1000)
