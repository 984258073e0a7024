"""The repository stands alone: its documents cite nothing outside it, and what they name exists.

- No tracked file cites a document that lives outside the repository (design notes, API fact
  sheets, convention lists kept elsewhere): a reader of the checkout cannot follow those.
- Every decision record in ``docs/decisions/`` has a ``Status:`` line and a row in the index
  (``docs/decisions/README.md``), with the same status. The index is generated:
  ``.venv/bin/python -m tests.unit.test_docs`` rewrites it after a record is added or changed.
- Every repository path that ``docs/architecture.md`` names, and every path in the layout
  table of ``README.md``, exists (so the map cannot drift from the territory unnoticed).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DECISIONS = ROOT / "docs" / "decisions"
INDEX = DECISIONS / "README.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# Documents that were never part of the repository. Spelled in pieces so this file does not
# match itself.
OUTSIDE_DOCUMENTS = re.compile(
    "|".join(
        [
            r"DESIGN" + r"\.md",
            r"kalshi-api" + r"\.md",
            r"gcp-" + r"conventions",
            r"GOT" + r"CHAS",
            r"(?<![\w-])style" + r"\.md",
            r"\.\./" + r"shared/",
            r"kalshi-" + r"reference",
            r"design " + r"card",
            r"fact " + r"sheet",
        ]
    )
)

RECORD_NAME = re.compile(r"^(\d{4})-[a-z0-9-]+\.md$")
STATUS_LINE = re.compile(r"^Status: (accepted|superseded by \d{4}|amended by \d{4})\b.*$")
# Where the status line must be: right under the title, before the context.
STATUS_WITHIN_LINES = 8

# Top-level entries a path in the documents may start with.
TOP_LEVEL = (
    "shared",
    "functions",
    "devstack",
    "emulators",
    "tests",
    "docs",
    "infra",
    "openapi",
    "streamer",
    "frontend",
)
ROOT_FILES = frozenset(
    {
        "Makefile",
        "README.md",
        "pyproject.toml",
        "constraints.txt",
        "cloudbuild.yaml",
        "cloudbuild-deploy.yaml",
        "emulator-compose.yml",
    }
)
# What a build writes (`npm run build` -> frontend/dist): named by the docs, never committed.
BUILD_OUTPUTS = ("frontend/dist", "frontend/node_modules")


def _is_build_output(token: str) -> bool:
    path = token.rstrip("/")
    return any(path == out or path.startswith(out + "/") for out in BUILD_OUTPUTS)


# -- decision records ----------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    number: str
    file: str
    heading: str
    status: str | None

    @property
    def topic(self) -> str:
        """The file name's words: a short title for the index."""
        words = self.file[len(self.number) + 1 : -len(".md")].replace("-", " ")
        return words[:1].upper() + words[1:]

    @property
    def short_status(self) -> str:
        """``accepted``, ``superseded by NNNN`` or ``accepted, amended by NNNN``: the index's
        status column, from the record's Status line (its first line; details stay there)."""
        if self.status is None:
            return "(no Status line)"
        text = self.status.removeprefix("Status:").strip()
        superseded = re.search(r"superseded by (\d{4})", text)
        if superseded and not text.startswith("accepted"):
            return f"superseded by {superseded.group(1)}"
        amended = sorted(set(re.findall(r"amended by (\d{4})", text)))
        if amended:
            return "accepted, amended by " + ", ".join(amended)
        return "accepted"


def records() -> list[Record]:
    found: list[Record] = []
    for path in sorted(DECISIONS.glob("*.md")):
        match = RECORD_NAME.match(path.name)
        if match is None:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        heading = lines[0].lstrip("#").strip() if lines else ""
        # "0001. Title", "0004: Title", "0020 Title" are all in use.
        heading = re.sub(r"^\d{4}[.:]?\s*", "", heading)
        status = next(
            (line for line in lines[:STATUS_WITHIN_LINES] if line.startswith("Status:")), None
        )
        found.append(Record(match.group(1), path.name, heading, status))
    return found


def render_index(found: list[Record]) -> str:
    rows = "\n".join(
        f"| {r.number} | [{r.topic}]({r.file}) | {r.short_status} | {r.heading.replace('|', '/')} |"
        for r in found
    )
    return f"""# Decision records

Why the system is the way it is: one record per decision that had alternatives. Each record
says what forced a choice (context), what was chosen and what was not (decision), and what
follows from it (consequences). A record is never rewritten to say something else: a later
record amends or supersedes it, and both records' `Status:` lines say so.

Add one: copy [template.md](template.md) to `NNNN-short-title.md` with the next free number
of your area, fill it in, then regenerate this index with
`.venv/bin/python -m tests.unit.test_docs` (`tests/unit/test_docs.py` fails while a record
is missing from it or its status here differs). How the parts fit together is in
[../architecture.md](../architecture.md).

| number | record | status | decision in one line |
|---|---|---|---|
{rows}
"""


def index_rows() -> dict[str, tuple[str, str]]:
    """``{file: (status column, row)}`` of every record row in the index."""
    rows: dict[str, tuple[str, str]] = {}
    for line in INDEX.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| \d{4} \| \[[^\]]*\]\(([^)]+)\) \| ([^|]*) \|", line)
        if match:
            rows[match.group(1)] = (match.group(2).strip(), line)
    return rows


def test_every_decision_record_has_a_status_line() -> None:
    missing = [r.file for r in records() if r.status is None]
    assert not missing, (
        f"records without a 'Status: accepted|superseded by NNNN|amended by NNNN' line in "
        f"their first {STATUS_WITHIN_LINES} lines: {missing}"
    )
    malformed = [r.file for r in records() if r.status and not STATUS_LINE.match(r.status)]
    assert not malformed, f"records whose Status line says none of the known states: {malformed}"


def test_every_decision_record_is_in_the_index_with_its_status() -> None:
    rows = index_rows()
    found = records()
    missing = [r.file for r in found if r.file not in rows]
    assert not missing, (
        f"docs/decisions/README.md lacks {missing}; "
        "regenerate it with `.venv/bin/python -m tests.unit.test_docs`"
    )
    stale = [r.file for r in found if rows[r.file][0] != r.short_status]
    assert not stale, (
        f"the index's status of {stale} differs from the records'; "
        "regenerate it with `.venv/bin/python -m tests.unit.test_docs`"
    )
    dangling = sorted(set(rows) - {r.file for r in found})
    assert not dangling, f"the index links records that do not exist: {dangling}"


def test_record_numbers_are_unique() -> None:
    numbers = [r.number for r in records()]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    assert not duplicates, f"two records share a number: {duplicates}"


def test_the_template_is_not_a_record_and_has_the_sections() -> None:
    text = (DECISIONS / "template.md").read_text(encoding="utf-8")
    assert "Status: accepted" in text
    for section in ("## Context", "## Decision", "## Consequences"):
        assert section in text


# -- citations of documents outside the repository -----------------------------------------


def tracked_text_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout")
    files = []
    for name in listed.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file():
            files.append(path)
    return files


def test_no_tracked_file_cites_a_document_outside_the_repository() -> None:
    offenders: list[str] = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files cite nothing
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_DOCUMENTS.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not offenders, (
        "these lines cite documents that are not in the repository; cite a decision "
        "record, docs/architecture.md, a recorded body under tests/fixtures/, or state the "
        "fact in place:\n" + "\n".join(offenders)
    )


def test_the_pattern_catches_what_it_is_for() -> None:
    for cited in ("see DESIGN" + ".md", "(kalshi-api" + ".md §6.4)", "gcp-" + "conventions 2.9"):
        assert OUTSIDE_DOCUMENTS.search(cited), cited
    for fine in ("docs/architecture.md", "DESIGN_TABLES", "infra/README.md", "../modules/sql"):
        assert not OUTSIDE_DOCUMENTS.search(fine), fine


# -- paths the documents name ----------------------------------------------------------------


def _is_repository_path(token: str) -> bool:
    return token in ROOT_FILES or (token.split("/", 1)[0] in TOP_LEVEL and "/" in token)


def _exists(token: str) -> bool:
    """A path, a directory (trailing ``/``) or a pattern: ``<name>`` or ``*`` stands for any
    part of a name, ``NNNN`` for a record or migration number."""
    pattern = re.sub(r"<[^>]+>", "*", token).replace("NNNN", "[0-9]" * 4).rstrip("/")
    if "*" in pattern:
        return any(ROOT.glob(pattern))
    return (ROOT / pattern).exists()


FILE_NAME = re.compile(r"^[\w.*-]+\.(py|md|json|tf|yaml|yml|txt|ini|ts|tsx|mjs)$")
# A directory path inside the one named before it on the line: `frontend/` (`src/api/`);
# one part alone (`secret-manager/`) is more often a data directory than a subdirectory.
SUBDIRECTORY = re.compile(r"^[\w-]+(/[\w-]+)+/$")


def named_paths(text: str) -> set[str]:
    """Repository paths in backticks; a bare file name (`client.py`) or a relative
    directory (`src/api/`) after a directory (`shared/kalshi/`, `frontend/`) on the same
    line is inside that directory."""
    paths: set[str] = set()
    for line in text.splitlines():
        base = ""
        for token in re.findall(r"`([^`\s]+)`", line):
            if _is_repository_path(token):
                paths.add(token)
                base = token if token.endswith("/") else base
            elif base and (FILE_NAME.match(token) or SUBDIRECTORY.match(token)):
                paths.add(base + token)
    return paths


def linked_paths(text: str, base: Path) -> set[Path]:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    return {(base / t).resolve() for t in targets if "://" not in t and not t.startswith("mailto:")}


def test_architecture_exists_and_every_path_it_names_exists() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    named = {p for p in named_paths(text) if not _is_build_output(p)}
    assert len(named) > 40, "docs/architecture.md names too few paths to be a map"
    missing = sorted(p for p in named if not _exists(p))
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"
    dangling = sorted(
        str(p.relative_to(ROOT)) for p in linked_paths(text, ARCHITECTURE.parent) if not p.exists()
    )
    assert not dangling, f"docs/architecture.md links files that do not exist: {dangling}"


def test_streamer_and_frontend_paths_are_checked_and_only_build_outputs_exempt() -> None:
    named = named_paths("`streamer/nope.py`; `frontend/` (`src/nope/`); `frontend/dist/x/`")
    assert {"streamer/nope.py", "frontend/src/nope/"} <= named
    assert [p for p in named if _is_build_output(p)] == ["frontend/dist/x/"]
    assert not _exists("streamer/nope.py") and not _exists("frontend/src/nope/")
    architecture = named_paths(ARCHITECTURE.read_text(encoding="utf-8"))
    assert "streamer/sessions.py" in architecture and "frontend/src/api/" in architecture


def test_decision_index_links_resolve() -> None:
    text = INDEX.read_text(encoding="utf-8")
    dangling = sorted(str(p) for p in linked_paths(text, DECISIONS) if not p.exists())
    assert not dangling, f"docs/decisions/README.md links files that do not exist: {dangling}"


def readme_layout_paths() -> list[str]:
    """The paths of README.md's layout table: each row's own paths (first column) and the
    ones its description names, relative to the row's directory unless already top-level."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    paths: list[str] = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("path", "---"):
            continue
        own = re.findall(r"`([^`]+)`", cells[0])
        paths.extend(own)
        base = own[0] if len(own) == 1 and own[0].endswith("/") else ""
        for token in re.findall(r"`([^`\s]+)`", cells[1]):
            if "/" not in token and "." not in token:
                continue  # a word such as `dev`, not a path
            paths.append(token if not base or token.startswith(base) else base + token)
    return paths


def test_readme_links_the_architecture_and_the_decisions_index() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/architecture.md" in text
    assert "docs/decisions/README.md" in text


def test_every_path_in_the_readme_layout_exists() -> None:
    paths = readme_layout_paths()
    assert len(paths) > 20, paths
    missing = [p for p in paths if not _exists(p)]
    assert not missing, f"README.md's layout table names paths that do not exist: {missing}"


if __name__ == "__main__":
    INDEX.write_text(render_index(records()), encoding="utf-8")
    sys.stdout.write(f"wrote {INDEX.relative_to(ROOT)} ({len(records())} records)\n")
