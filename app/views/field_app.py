"""The field app: a progressive web app served at /app/ (shell, manifest, service worker, icons, offline page).

The shell is public like any static file: it holds no data. Everything it shows comes from the API with the
person's JWT, as PERMISSION_MATRIX allows ("FieldApp" to open it, each tab its own resource).
"""
from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, url_for
from PIL import Image, ImageDraw

STATIC = Path(__file__).resolve().parent.parent / "static" / "field_app"
ICON_SIZES = (192, 512)
THEME = "#0b6e4f"

bp = Blueprint("field_app", __name__, url_prefix="/app")


@bp.get("/")
def shell():
    response = Response(render_template("field_app/index.html"))
    response.headers["Cache-Control"] = "no-cache"  # the service worker keeps the copy for offline use
    return response


@bp.get("/offline.html")
def offline():
    return render_template("field_app/offline.html")


@bp.get("/manifest.webmanifest")
def manifest():
    icons = [{"src": url_for("field_app.icon", size=s), "sizes": f"{s}x{s}", "type": "image/png", "purpose": "any"}
             for s in ICON_SIZES]
    icons.append({"src": url_for("field_app.icon", size=512, maskable="maskable"), "sizes": "512x512",
                  "type": "image/png", "purpose": "maskable"})
    body = {
        "id": "/app/", "name": "ChargeOps Field", "short_name": "ChargeOps", "start_url": "/app/", "scope": "/app/",
        "display": "standalone", "orientation": "portrait", "background_color": "#ffffff", "theme_color": THEME,
        "description": "Chargers, sessions, OCPP debugging, issues and maintenance in the field", "icons": icons,
    }
    response = current_app.response_class(current_app.json.dumps(body), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/sw.js")
def service_worker():
    """Served from /app/ so that its scope is the whole app. Its VERSION is a digest of the shell's own files:
    a release that changes one of them changes the worker, so installed phones fetch the new shell."""
    response = Response(_service_worker_source(SHELL_SOURCES), mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


SHELL_SOURCES = (STATIC / "sw.js", STATIC / "app.js", STATIC / "app.css", STATIC.parent / "js" / "charger_map.js",
                 STATIC.parent.parent / "templates" / "field_app" / "index.html")


@lru_cache(maxsize=4)
def _service_worker_source(sources: tuple) -> str:
    """Once per process (the browser asks for sw.js on every navigation): the files change only with a release."""
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_bytes())
    source = (STATIC / "sw.js").read_text()
    return source.replace('var VERSION = "chargeops-field-v1";', f'var VERSION = "chargeops-field-{digest.hexdigest()[:12]}";')


@bp.get("/icons/icon-<int:size>.png")
@bp.get("/icons/icon-<int:size>-<maskable>.png")
def icon(size: int, maskable: str = ""):
    if size not in ICON_SIZES or maskable not in ("", "maskable"):
        abort(404)
    response = Response(_icon_png(size, bool(maskable)), mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@lru_cache(maxsize=8)
def _icon_png(size: int, maskable: bool) -> bytes:
    """The app icon, drawn: a plug's lightning bolt on the theme colour (maskable: inside the safe zone)."""

    image = Image.new("RGBA", (size, size), THEME if maskable else (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if not maskable:
        draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 5, fill=THEME)
    scale = size * (0.6 if maskable else 0.8)
    offset = (size - scale) / 2
    bolt = [(0.58, 0.05), (0.22, 0.55), (0.47, 0.55), (0.38, 0.95), (0.78, 0.42), (0.53, 0.42), (0.65, 0.05)]
    draw.polygon([(offset + x * scale, offset + y * scale) for x, y in bolt], fill="#ffd23f")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def register(appbuilder) -> None:

    current_app.register_blueprint(bp)  # called inside create_app()'s app context
