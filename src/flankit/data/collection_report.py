"""Per-collection report of a build: configured against achieved rates, and template-type shares.

Added to `stats.json` as `collection_report` and to `summary.md` as one table: for each collection
its tasks and examples, the rate the mixture was configured at (after normalising), the share of
the written examples it actually got, and how its examples split over the template types
(zsopt, zsnoopt, fsopt, fsnoopt) and CoT / inverted renderings.

Example:
    >>> stats = {"examples": 4, "collections": {"c": {"tasks": 1, "examples": 4, "rate": 1.0}},
    ...          "tasks": [{"collection": "c", "examples": 4, "formats": {"zsopt": 3, "fsopt": 1},
    ...                     "cot": 0, "inverted": 0}]}
    >>> collection_report(stats)["c"]["template_types"]
    {'zsopt': 0.75, 'fsopt': 0.25}
"""

from __future__ import annotations

from collections import Counter

FORMATS = ("zsopt", "zsnoopt", "fsopt", "fsnoopt")


def collection_report(stats: dict) -> dict[str, dict]:
    """{collection: tasks, examples, configured_rate, achieved_rate, template_types, cot,
    inverted} from a build's stats (its `collections` and `tasks`)."""
    total = stats["examples"]
    out = {}
    for name, agg in stats["collections"].items():
        rows = [t for t in stats["tasks"] if t["collection"] == name]
        formats: Counter = Counter()
        for t in rows:
            formats.update(t.get("formats", {}))
        n = agg["examples"]
        order = [f for f in FORMATS if formats[f]] + sorted(set(formats) - set(FORMATS))
        out[name] = {
            "tasks": agg["tasks"],
            "examples": n,
            "configured_rate": round(agg["rate"], 6),
            "achieved_rate": round(n / total, 6) if total else 0.0,
            "template_types": {f: round(formats[f] / n, 4) for f in order} if n else {},
            "cot": round(sum(t["cot"] for t in rows) / n, 4) if n else 0.0,
            "inverted": round(sum(t["inverted"] for t in rows) / n, 4) if n else 0.0,
        }
    return out


def markdown(stats: dict) -> str:
    """The report as a summary.md section (empty when the stats have none)."""
    report = stats.get("collection_report")
    if not report:
        return ""
    lines = [
        "",
        "## Collections: configured and achieved rates, template types",
        "",
        "| collection | tasks | examples | configured rate | achieved rate | "
        + " | ".join(FORMATS)
        + " | CoT | inverted |",
        "|---|---:|---:|---:|---:|" + "---:|" * (len(FORMATS) + 2),
    ]
    for name, r in report.items():
        shares = " | ".join(f"{r['template_types'].get(f, 0.0):.3f}" for f in FORMATS)
        lines.append(
            f"| {name} | {r['tasks']} | {r['examples']:,} | {r['configured_rate']:.3f} | "
            f"{r['achieved_rate']:.3f} | {shares} | {r['cot']:.3f} | {r['inverted']:.3f} |"
        )
    return "\n".join(lines) + "\n"
