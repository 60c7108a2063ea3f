"""README and docs link only to files inside the repository (a user's clone has nothing beside it)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_relative_links_resolve_inside_the_repository() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "loadtests" / "README.md"]
    broken = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        if "../shared" in text:
            broken.append(f"{page.relative_to(ROOT)}: mentions ../shared (not in a user's clone)")
        for target in LINK.findall(text):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (page.parent / target).resolve()
            if ROOT not in resolved.parents or not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []
