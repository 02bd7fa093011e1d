"""The admin dashboard at ``/dashboard``: data (:mod:`.service`), chart geometry (:mod:`.charts`), login
(:mod:`.auth`), Jinja2 templates and one CSS file shipped in this package (no CDN)."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
