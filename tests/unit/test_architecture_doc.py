"""Code cites the design in this repository (docs/architecture.md), by sections that exist,
and never documents outside the repository."""

from __future__ import annotations

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "architecture.md")
CITATION = re.compile(r"docs/architecture\.md §(\d+)")
OUTSIDE = re.compile(
    r"\bDESIGN(?:\.md)? §|style-anchors|containerd-tasks\.md|anchors-2026|seed-tasks\.proto"
    r"|peers-setup|shared/reference|\.\./shared"
)


def _sources() -> list[str]:
    paths = []
    for top in ("pytasks", "tests", "monitor-c", "bench", "scripts"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d not in ("__pycache__", "results")]
            for name in filenames:
                if name.endswith((".py", ".c", ".h", ".md")) or "." not in name:
                    path = os.path.join(dirpath, name)
                    if os.path.isfile(path) and name != "pytasks-monitor":
                        paths.append(path)
    return paths


def _sections() -> set[str]:
    with open(DOC, encoding="utf-8") as fh:
        return set(re.findall(r"^## (\d+)\. ", fh.read(), re.M))


def test_every_citation_names_an_existing_section() -> None:
    sections = _sections()
    assert sections, "docs/architecture.md has no numbered sections"
    bad = []
    for path in _sources():
        with open(path, encoding="utf-8", errors="replace") as fh:
            for number in CITATION.findall(fh.read()):
                if number not in sections:
                    bad.append(f"{os.path.relpath(path, ROOT)}: §{number}")
    assert not bad, bad


def _matching_lines(pattern: re.Pattern[str], paths: list[str]) -> list[str]:
    bad = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if pattern.search(line):
                    bad.append(f"{os.path.relpath(path, ROOT)}:{lineno}: {line.strip()}")
    return bad


def test_nothing_cites_documents_outside_the_repository() -> None:
    this = os.path.abspath(__file__)
    bad = _matching_lines(OUTSIDE, [p for p in _sources() if p != this])
    assert not bad, bad


TIMING = re.compile(r"\d\s?ms\b")
CODE_DIRS = (os.path.join(ROOT, "pytasks") + os.sep, os.path.join(ROOT, "monitor-c") + os.sep)


def test_code_carries_no_timing_figures() -> None:
    # Figures drift with the machine; they live in bench/README.md, the code says why.
    code = [p for p in _sources() if p.endswith((".py", ".c", ".h")) and p.startswith(CODE_DIRS)
            and not p.startswith(os.path.join(ROOT, "pytasks", "api") + os.sep)]
    bad = _matching_lines(TIMING, code)
    assert not bad, bad
