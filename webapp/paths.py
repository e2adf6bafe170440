"""Where the web app finds its templates, static files and scenario catalogue."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def asset_dir(name: str) -> Path:
    """`webapp/<name>` when installed from a wheel (pyproject force-includes templates/ and
    static/ there), else `<repo>/<name>` in a checkout."""
    packaged = PACKAGE_DIR / name
    return packaged if packaged.is_dir() else REPO_ROOT / name


def default_scenario_dirs() -> list[tuple[str, Path]]:
    """(source label, directory) pairs for the catalogue, in precedence order. The shared
    scenarios sit next to the repository (CI checks them out at ../shared/scenarios); the
    examples are the checkout's, or webapp/examples if a wheel ever packages them."""
    candidates = [
        ("shared", REPO_ROOT.parent / "shared" / "scenarios"),
        ("examples", asset_dir("examples")),
        ("xtf", asset_dir("examples") / "xtf"),
        ("tours", asset_dir("examples") / "tours"),
    ]
    return [(source, path) for source, path in candidates if path.is_dir()]
