"""Numbers that documents quote, generated from committed result files.

A document marks each generated passage with a pair of HTML comments, which Markdown hides:

    <!-- flankit:quickstart-table docs/study/quickstart.json -->
    ...generated text...
    <!-- /flankit -->

The word after `flankit:` names a generator and the rest are its arguments (paths relative to
the repository root). `flankit report --docs` rewrites every passage from its files; `check`
lists the passages whose text differs from what the files give, so a test can fail when a
quoted number was edited by hand or a result file changed without the documents.

Example:
    >>> text = "Gain: <!-- flankit:value q.json gain --> 1.0 <!-- /flankit -->."
    >>> [m.group("name") for m in MARK.finditer(text)]
    ['value']
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from flankit.errors import FlankitError

MARK = re.compile(
    r"<!-- flankit:(?P<name>[\w-]+)(?P<args>[^>]*?) -->(?P<body>.*?)<!-- /flankit -->", re.DOTALL
)
DOCUMENTS = ("README.md", "docs/STUDY.md", "benchmarks/RESULTS.md")


def _load(root: Path, rel: str) -> dict | list:
    path = root / rel
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FlankitError(f"result file missing: {exc.strerror}", file=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise FlankitError(f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno) from exc


def _dig(data, dotted: str):
    """`a.b.c` into nested dicts; keys may hold spaces if written with `+` (`held_out+zs`)."""
    for part in dotted.split("."):
        key = part.replace("+", " ")
        if not isinstance(data, dict) or key not in data:
            raise FlankitError(f"no {key!r} in the result file", field=dotted)
        data = data[key]
    return data


def gen_value(root: Path, rel: str, dotted: str, fmt: str = ".1f") -> str:
    """One number from a JSON result file, formatted (`+.1f` for a signed change)."""
    value = _dig(_load(root, rel), dotted)
    return f" {format(value, fmt)} "


def gen_quickstart_table(root: Path, rel: str) -> str:
    from flankit.report import quickstart_comparison_table

    return "\n" + "\n".join(quickstart_comparison_table(_load(root, rel))) + "\n"


def gen_quickstart_transfer(root: Path, rel: str) -> str:
    from flankit.report import transfer_sentences

    return "\n" + "\n".join(transfer_sentences(_load(root, rel))) + "\n"


def gen_sweep_table(root: Path, rel: str, sweep: str, axis: str = "all") -> str:
    """Mean ± SE over seeds for the rows of one sweep folder (its name, e.g. `world_tasks`)."""
    from flankit.report import study_table

    rows = [r for r in _load(root, rel) if Path(r.get("sweep", "")).name == sweep]
    if not rows:
        raise FlankitError(f"no rows of sweep {sweep!r}", file=str(root / rel))
    return "\n" + "\n".join(study_table(rows, axis)) + "\n"


GENERATORS: dict[str, Callable[..., str]] = {
    "value": gen_value,
    "quickstart-table": gen_quickstart_table,
    "quickstart-transfer": gen_quickstart_transfer,
    "sweep-table": gen_sweep_table,
}


def _generated(match: re.Match, root: Path, where: str) -> str:
    name, args = match.group("name"), match.group("args").split()
    gen = GENERATORS.get(name)
    if gen is None:
        raise FlankitError(f"unknown generated passage {name!r}", file=where)
    try:
        return gen(root, *args)
    except TypeError as exc:
        raise FlankitError(f"passage {name}: wrong arguments {args}", file=where) from exc


def render(text: str, root: Path, where: str = "") -> str:
    """The document with every marked passage regenerated from its files."""

    def sub(m: re.Match) -> str:
        head = m.group(0)[: m.start("body") - m.start()]
        return f"{head}{_generated(m, root, where)}<!-- /flankit -->"

    return MARK.sub(sub, text)


def check(root: str | Path = ".", documents: tuple[str, ...] = DOCUMENTS) -> list[str]:
    """One line per marked passage that differs from what its result files give."""
    root = Path(root)
    stale = []
    for rel in documents:
        path = root / rel
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        for m in MARK.finditer(text):
            want = _generated(m, root, str(path))
            if m.group("body") != want:
                line = text.count("\n", 0, m.start()) + 1
                stale.append(f"{rel}:{line}: flankit:{m.group('name')} differs from its files")
    return stale


def rewrite(root: str | Path = ".", documents: tuple[str, ...] = DOCUMENTS) -> list[str]:
    """Regenerate every marked passage in place; return the documents that changed."""
    root = Path(root)
    changed = []
    for rel in documents:
        path = root / rel
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        new = render(text, root, str(path))
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(rel)
    return changed


def count_passages(root: str | Path = ".", documents: tuple[str, ...] = DOCUMENTS) -> int:
    root = Path(root)
    return sum(
        len(MARK.findall((root / d).read_text(encoding="utf-8")))
        for d in documents
        if (root / d).exists()
    )
