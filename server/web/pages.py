"""Blueprint: the playground page, its iframe variant and the assets they need.

``/`` and ``/embed`` render the same template; the embed variant drops the
header and puts the charts first so a 600-pixel-high iframe shows them.  The
config schema and the default config are embedded in the page as JSON, so the
form is built from the one schema without a round trip.  Plotly is served from
the installed ``plotly`` package (nothing comes from a CDN), and the data-set
thumbnails are drawn from the engine's own generators.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, render_template, request, send_file

from server.engine.config import DATASETS_2D, ConfigError, RunConfig, config_schema, parse_config
from server.limits import CONFIG_LIMITS
from server.web.i18n import localized_schema

bp = Blueprint("pages", __name__)

# Panel names accepted by ``/embed?hide=...`` (each one is a ``data-panel`` in the template).
PANELS = (
    "lesson", "presets", "data", "network", "training", "loss", "accuracy", "boundary",
    "gradients", "learning-rate", "diagnosis", "gradcheck", "compare", "share",
)
PAGE_DEFAULT_EPOCHS_PER_SECOND = 30.0
THUMBNAIL_SAMPLES = 160
THUMBNAIL_PIXELS = 64
CLASS_COLORS = ("#e8833a", "#2f6db5")  # the page's class 0 and class 1 colours
_PRESET_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _plotly_bundle() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


@functools.cache
def _schema_and_defaults() -> tuple[dict, dict]:
    return config_schema(), RunConfig().model_dump(mode="json")


def _page_settings(embed: bool) -> dict:
    """What the template hands to the page's modules as JSON."""
    schema, defaults = _schema_and_defaults()
    hide = [name.strip() for name in request.args.get("hide", "").split(",") if name.strip()]
    preset = request.args.get("preset", "")
    return {
        "embed": embed,
        "preset": preset if _PRESET_ID.fullmatch(preset) else "",
        "hide": [name for name in hide if name in PANELS],
        "autoplay": request.args.get("autoplay", "") in ("1", "true", "yes"),
        "schema": localized_schema(schema),
        "defaults": defaults,
        "pageDefaults": {"training.epochs_per_second": PAGE_DEFAULT_EPOCHS_PER_SECOND},
        "limits": {"max_hidden_layers": CONFIG_LIMITS.max_hidden_layers,
                   "max_epochs_per_second": CONFIG_LIMITS.max_epochs_per_second},
        "datasets2d": list(DATASETS_2D),
        "panels": list(PANELS),
    }


@bp.get("/")
def playground():
    return render_template("playground.html", settings=_page_settings(embed=False), embed=False)


@bp.get("/embed")
def embed():
    return render_template("playground.html", settings=_page_settings(embed=True), embed=True)


@bp.get("/vendor/plotly.min.js")
def plotly_bundle():
    bundle = _plotly_bundle()
    if not bundle.is_file():
        abort(404)
    return send_file(bundle, mimetype="text/javascript", max_age=86400, conditional=True)


@functools.lru_cache(maxsize=256)
def _thumbnail_svg(dataset: str, noise: float, label_noise: float, seed: int) -> str:
    from server.engine import make_data

    config = {"seed": seed, "data": {"dataset": dataset, "n_samples": THUMBNAIL_SAMPLES,
                                     "noise": noise, "label_noise": label_noise,
                                     "split": {"train": 0.9, "dev": 0.05, "test": 0.05}}}
    features, labels = make_data(parse_config(config).model_dump(mode="json"))["train"]
    return _scatter_svg(features, labels)


def _scatter_svg(features, labels) -> str:
    """A square SVG of the points ``features`` (m, 2) coloured by ``labels`` (m,)."""
    spread = float(abs(features).max()) or 1.0
    scale = (THUMBNAIL_PIXELS / 2 - 3) / spread
    centre = THUMBNAIL_PIXELS / 2
    dots = "".join(
        f'<circle cx="{centre + x * scale:.1f}" cy="{centre - y * scale:.1f}" r="1.6" '
        f'fill="{CLASS_COLORS[int(label) % 2]}"/>'
        for (x, y), label in zip(features[:, :2].tolist(), labels.tolist(), strict=True)
    )
    size = THUMBNAIL_PIXELS
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}">'
        f'<rect width="{size}" height="{size}" fill="#f7f8fa"/>{dots}</svg>'
    )


@bp.get("/thumbnails/<dataset>.svg")
def dataset_thumbnail(dataset: str):
    """A small picture of a 2-D data set with ``?noise=&label_noise=&seed=`` applied."""
    if dataset not in DATASETS_2D:
        abort(404)
    try:
        noise = float(request.args.get("noise", 0.1))
        label_noise = float(request.args.get("label_noise", 0.0))
        seed = int(request.args.get("seed", 0))
        parse_config({"seed": seed, "data": {"noise": noise, "label_noise": label_noise}})
    except (ValueError, ConfigError) as error:
        return Response(f"bad thumbnail parameters: {error}", status=400, mimetype="text/plain")
    svg = _thumbnail_svg(dataset, round(noise, 3), round(label_noise, 3), seed)
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
