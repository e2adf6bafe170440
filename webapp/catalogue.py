"""The scenario catalogue: shared scenarios and the repository's examples, by file stem."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ScenarioNotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogueEntry:
    name: str  # the file stem; what clients pass as "scenario_file"
    title: str
    description: str
    source: str  # which directory it came from: "shared", "examples", ...
    path: Path

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "source": self.source,
        }


class Catalogue:
    """Reads the directories on every call: they are small and may change while serving."""

    def __init__(self, dirs: list[tuple[str, Path]]) -> None:
        self._dirs = dirs

    def entries(self) -> list[CatalogueEntry]:
        found: dict[str, CatalogueEntry] = {}
        for source, directory in self._dirs:
            for path in sorted(Path(directory).glob("*.y*ml")):
                if path.suffix not in (".yaml", ".yml"):
                    continue
                if path.stem in found:  # earlier directories take precedence
                    log.warning("scenario %s shadowed by %s", path, found[path.stem].path)
                    continue
                entry = _read_entry(source, path)
                if entry is not None:
                    found[entry.name] = entry
        return sorted(found.values(), key=lambda e: e.name)

    def get(self, name: str) -> CatalogueEntry:
        for entry in self.entries():
            if entry.name == name:
                return entry
        raise ScenarioNotFound(name)

    def text(self, name: str) -> str:
        return self.get(name).path.read_text(encoding="utf-8")


def _read_entry(source: str, path: Path) -> CatalogueEntry | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        # One broken file must not hide the rest of the catalogue.
        log.warning("skipping unreadable scenario %s: %s", path, exc)
        return None
    if not isinstance(data, dict):
        log.warning("skipping %s: not a mapping", path)
        return None
    return CatalogueEntry(
        name=path.stem,
        title=str(data.get("title") or data.get("name") or path.stem),
        description=str(data.get("description") or "").strip(),
        source=source,
        path=path,
    )
