"""The admin dashboard at ``/dashboard``: one module per page (:mod:`.pages`) behind the facade the routes call
(:mod:`.service`), chart geometry (:mod:`.charts`), sessions (:mod:`.auth`) and failed-login limits
(:mod:`.login_limiter`), Jinja2 templates and one CSS file shipped in this package (no CDN)."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
