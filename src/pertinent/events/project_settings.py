"""The source settings analytics.js fetches on load (``GET /v1/projects/{writeKey}/settings``), pointing it here.

``@segment/analytics-next`` loaded without inline settings asks ``{cdnURL}/v1/projects/{writeKey}/settings`` for
its source's configuration: the ``Segment.io`` integration (where to post events: ``apiHost`` and ``protocol``)
and the device-mode destinations to load. Pertinent answers with the ``Segment.io`` integration alone, aimed at
this server, no other destination, no remote plugin or middleware, and remote metrics off (the library would
otherwise post its own telemetry to Segment). The answer holds nothing a page does not already have: the write
key it asked with and the address it asked at.

>>> s = project_settings("wk", "pertinent.example.com", "https")
>>> s.integrations["Segment.io"].apiHost, s.integrations["Segment.io"].protocol, s.metrics.sampleRate
('pertinent.example.com/v1', 'https', 0.0)
>>> sorted(s.model_dump(by_alias=True)["integrations"])
['Segment.io']
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ProjectSettings", "SegmentIoSettings", "project_settings"]

SEGMENT_IO = "Segment.io"  # the name analytics.js gives its own destination (Segment's collector)


class SegmentIoSettings(BaseModel):
    """Where analytics.js posts events: ``{protocol}://{apiHost}/t`` (and ``/i``, ``/p``..., ``/b`` batched)."""

    model_config = ConfigDict(frozen=True)

    apiKey: str = Field(description="The write key the page loaded the library with")
    apiHost: str = Field(description="This server's host (and port) and the API prefix, without a scheme")
    protocol: Literal["http", "https"]
    unbundledIntegrations: list[str] = Field(default_factory=list)
    addBundledMetadata: bool = True
    maybeBundledConfigIds: dict[str, list[str]] = Field(default_factory=dict)


class RemoteMetrics(BaseModel):
    """analytics.js's own telemetry (to Segment's ``/m``): sampled at 0, never sent."""

    model_config = ConfigDict(frozen=True)

    sampleRate: float = 0.0


class ProjectSettings(BaseModel):
    """The part of a Segment source's CDN settings analytics.js reads, for a source whose only destination is
    this server."""

    model_config = ConfigDict(frozen=True)

    integrations: dict[str, SegmentIoSettings] = Field(description="`Segment.io` only: no device-mode destination")
    plan: dict[str, object] = Field(default_factory=dict, description="Tracking plan: none (every event is sent)")
    enabledMiddleware: dict[str, bool] = Field(default_factory=dict)
    middlewareSettings: dict[str, object] = Field(default_factory=dict)
    metrics: RemoteMetrics = Field(default_factory=RemoteMetrics)
    legacyVideoPluginsEnabled: bool = False
    remotePlugins: list[object] = Field(default_factory=list)


def project_settings(write_key: str, host: str, scheme: str) -> ProjectSettings:
    """The settings for a page that loaded analytics.js with ``write_key`` from ``scheme://host``."""
    protocol: Literal["http", "https"] = "https" if scheme == "https" else "http"
    segment = SegmentIoSettings(apiKey=write_key, apiHost=f"{host}/v1", protocol=protocol)
    return ProjectSettings(integrations={SEGMENT_IO: segment})
