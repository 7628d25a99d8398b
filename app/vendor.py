"""Browser libraries from npm, served from node_modules/ (installed by `make` from package-lock.json).

Only the files listed in VENDOR_FILES are reachable: /static/vendor/<name> -> node_modules/<path>.
Another library is exposed by adding one line here (and the package to package.json).
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory

NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"

# public name -> path inside node_modules/
VENDOR_FILES: dict[str, str] = {
    "chart.umd.js": "chart.js/dist/chart.umd.min.js",
    "leaflet.js": "leaflet/dist/leaflet.js",
    "leaflet.css": "leaflet/dist/leaflet.css",
    "leaflet.markercluster.js": "leaflet.markercluster/dist/leaflet.markercluster.js",
    "MarkerCluster.css": "leaflet.markercluster/dist/MarkerCluster.css",
    "MarkerCluster.Default.css": "leaflet.markercluster/dist/MarkerCluster.Default.css",
    "topojson-client.js": "topojson-client/dist/topojson-client.min.js",
    "countries-50m.json": "world-atlas/countries-50m.json",  # Natural Earth (public domain): the offline basemap
    "idb.js": "idb/build/umd.js",
}
MIMETYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}

bp = Blueprint("vendor", __name__)


@bp.get("/static/vendor/<name>")
def vendor_file(name: str):
    relative = VENDOR_FILES.get(name)
    if relative is None:
        abort(404)
    root = Path(current_app.config.get("NODE_MODULES_DIR") or NODE_MODULES)
    if not (root / relative).is_file():  # `make` has not run `npm ci` yet
        abort(404)
    return send_from_directory(root, relative, mimetype=MIMETYPES[Path(relative).suffix], max_age=86400)
