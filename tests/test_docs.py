"""Documentation a user can follow: no citation of documents users do not have, every cited methods section exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nbformat
import pytest

import settings

ROOT = settings.PROJECT_ROOT
METHODS_MD = ROOT / "docs" / "methods.md"
THIS_FILE = Path(__file__).resolve()
PROJECT_PATHS = ("src", "tests", "notebooks", "docs", "README.md", "dodo.py", "settings.py", ".env.example")
CITING_PATHS = ("src", "tests", "notebooks", "README.md")
UNAVAILABLE_CITATION = re.compile(r"SP" r"EC( |\.md|§)|se" r"ed 00[0-9]|\.\./sh" r"ared")
HEADING = re.compile(r"^#{2,4}\s+§(\d+(?:\.\d+)*)\s", flags=re.MULTILINE)
# "docs/methods.md §4.4", "``docs/methods.md`` §6", "`docs/methods.md` §3–§5", "docs/methods.md §2.6, §2.8"
METHODS_CITATION = re.compile(r"docs/methods\.md`*\)?\s*(§\s?\d+(?:\.\d+)*(?:\s*(?:–|-|,|and|or|to)\s*§?\s?\d+(?:\.\d+)*)*)")
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".toml", ".txt", ".cfg", ".ini", ".json", ".yml", ".yaml", ".csv", ".example", ""}


def project_files(*roots: str) -> list[Path]:
    """Files under ``roots`` that git tracks or would track (untracked, not ignored), text only, without this test."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *roots],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the project's files cannot be listed")
    files = [ROOT / name for name in listed]
    return [f for f in files if f.is_file() and f.resolve() != THIS_FILE and (f.suffix in TEXT_SUFFIXES or f.name == ".env.example")]


def readable_text(path: Path) -> str:
    """The text a reader sees: a notebook's cell sources, any other file as it is."""
    if path.suffix == ".ipynb":
        return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    return path.read_text(encoding="utf-8", errors="replace")


def methods_sections() -> set[str]:
    return set(HEADING.findall(METHODS_MD.read_text(encoding="utf-8")))


def test_no_project_file_cites_a_document_users_do_not_have():
    offending = []
    for path in project_files(*PROJECT_PATHS):
        for number, line in enumerate(readable_text(path).splitlines(), start=1):
            if UNAVAILABLE_CITATION.search(line):
                offending.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not offending, f"{len(offending)} line(s) cite a design note or notebook users do not have:\n" + "\n".join(offending[:50])


def test_every_cited_methods_section_exists():
    sections = methods_sections()
    missing = []
    for path in project_files(*CITING_PATHS):
        for match in METHODS_CITATION.finditer(readable_text(path)):
            for number in re.findall(r"\d+(?:\.\d+)*", match.group(1)):
                if number not in sections:
                    missing.append(f"{path.relative_to(ROOT)}: docs/methods.md §{number} ({match.group(0)!r})")
    assert not missing, "cited sections missing from docs/methods.md:\n" + "\n".join(missing)


def test_methods_sections_are_numbered_in_order():
    numbers = HEADING.findall(METHODS_MD.read_text(encoding="utf-8"))
    top = [int(n) for n in numbers if "." not in n]
    assert top == list(range(1, len(top) + 1)) and len(top) >= 10
    for number in numbers:
        if "." in number:
            parent = number.rsplit(".", 1)[0]
            assert parent in numbers, f"§{number} has no §{parent}"
            siblings = [n for n in numbers if n.rsplit(".", 1)[0] == parent and "." in n]
            assert [int(n.rsplit(".", 1)[1]) for n in siblings] == list(range(1, len(siblings) + 1)), f"§{parent}.x out of order"


def test_the_citation_patterns_find_what_they_should():
    # the strings are assembled so that this file does not itself contain a citation
    design_note, notebook, folder = "SP" + "EC §3.3", "se" + "ed 003 defect 1", ".." + "/shared/reference"
    assert UNAVAILABLE_CITATION.search(f"as in {design_note}") and UNAVAILABLE_CITATION.search(notebook)
    assert UNAVAILABLE_CITATION.search(f"see {folder}") and not UNAVAILABLE_CITATION.search("the spec of a setting")
    cited = [m.group(1) for m in METHODS_CITATION.finditer("(`docs/methods.md` §3–§5) and ``docs/methods.md`` §6.3, docs/methods.md §2.6, §2.8")]
    assert cited == ["§3–§5", "§6.3", "§2.6, §2.8"]
