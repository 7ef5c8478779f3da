"""Configuration: defaults, then ``instance/config.py``, then ``SEARCHSVC_*`` environment variables.

The same chain serves the web app and every command, so ``--index`` defaults
agree everywhere.
"""

from __future__ import annotations

import os
import re
import runpy
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    "INDEX_DIR": "index",
    "MAX_QUERY_CHARS": 500,
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # Decoded posting lists kept per worker, in MiB; the index's own files are mapped and shared (engine/arrays.py).
    "POSTINGS_CACHE_MB": 64,
    # Origins (scheme://host[:port]) whose pages may call /api/* from a browser; none by default.
    "CORS_ORIGINS": [],
    # How many reverse proxies (nginx) stand in front: their X-Forwarded-* headers are then trusted.
    "PROXY_COUNT": 0,
    # Freshness and popularity in the relevance order (engine/freshness.py); 0 = off.
    "RECENCY_HALF_LIFE_DAYS": 0.0,
    "VIEWS_WEIGHT": 0.0,
    # The operator's own synonyms (Solr synonyms.txt format), read again whenever the file changes; "" = none.
    "SYNONYMS_FILE": "",
    # Readers' searches recorded for `searchsvc analytics` (searchsvc/analytics/); kept ANALYTICS_DAYS days, in
    # ANALYTICS_PATH, "" = beside the index, outside it: <INDEX_DIR>.analytics/searches.sqlite3 (analytics_path).
    "ANALYTICS": True,
    "ANALYTICS_DAYS": 90,
    "ANALYTICS_PATH": "",
}
ENV_PREFIX = "SEARCHSVC_"


def instance_path() -> Path:
    return Path(os.environ.get(ENV_PREFIX + "INSTANCE_PATH", "instance")).resolve()


def load(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults < instance/config.py < environment < explicit overrides."""
    config = dict(DEFAULTS)
    instance_file = instance_path() / "config.py"
    if instance_file.is_file():
        values = runpy.run_path(str(instance_file))
        config.update({k: v for k, v in values.items() if k.isupper()})
    for key in list(DEFAULTS):
        env = os.environ.get(ENV_PREFIX + key)
        if env is not None:
            config[key] = _from_env(env, DEFAULTS[key])
    if os.environ.get(ENV_PREFIX + "INDEX"):  # the short name operators use; wins over SEARCHSVC_INDEX_DIR
        config["INDEX_DIR"] = os.environ[ENV_PREFIX + "INDEX"]
    config.update(overrides or {})
    return config


def _from_env(text: str, default: Any) -> Any:
    """An environment variable in the type of its default; a list is written separated by commas or spaces."""
    if isinstance(default, list):
        return [item for item in re.split(r"[\s,]+", text) if item]
    if isinstance(default, str):
        return text
    if isinstance(default, bool):  # bool("0") would be True
        return text.strip().lower() not in ("", "0", "false", "no", "off")
    return type(default)(text)


def origins(value: str | list[str] | tuple[str, ...]) -> list[str]:
    """CORS_ORIGINS as a list, also when instance/config.py gives one string."""
    items = re.split(r"[\s,]+", value) if isinstance(value, str) else list(value)
    return [item.strip().rstrip("/") for item in items if item.strip()]


def freshness(config: dict[str, Any]) -> dict[str, float]:
    """RECENCY_HALF_LIFE_DAYS and VIEWS_WEIGHT as the search layer's Freshness takes them."""
    return {"recency_half_life_days": float(config.get("RECENCY_HALF_LIFE_DAYS") or 0),
            "views_weight": float(config.get("VIEWS_WEIGHT") or 0)}


def resolve_index(option: str | os.PathLike[str] | None) -> Path:
    """``--index`` when given, else the configured INDEX_DIR."""
    return Path(option) if option else Path(load()["INDEX_DIR"])


def analytics_path(config: dict[str, Any], index_dir: str | os.PathLike[str] | None = None) -> Path:
    """The searches database: ANALYTICS_PATH, else ``<INDEX_DIR>.analytics/searches.sqlite3``.

    Derived from the index (``index_dir`` or INDEX_DIR), so that ``searchsvc analytics --index DIR`` reads what a
    server of DIR writes; beside it, not in it, because the service may only read the index (deploy/), and in a
    directory of its own, because SQLite writes its -wal and -shm files beside the database.
    """
    if config.get("ANALYTICS_PATH"):
        return Path(config["ANALYTICS_PATH"])
    index = Path(os.path.abspath(index_dir or config["INDEX_DIR"]))  # abspath: "." has a name, symlinks are kept
    return index.parent / (index.name + ".analytics") / "searches.sqlite3"
