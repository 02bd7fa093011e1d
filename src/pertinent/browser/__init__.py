"""What runs in the browser: the tracking snippet (``static/pertinent.js``), the public catalogue that sites
read with the write key (:mod:`pertinent.browser.catalogue`) and the demo shop (``templates/demo``)."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
