"""configs/data/flan2022.yaml built on fixtures in each source's schema: every collection of the
Flan 2022 mixture goes through the build, and the report gives counts, template-type shares and
the rates achieved against the configured ones."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from flankit.cli import main

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
PATHS = {
    "muffin": FIXTURES / "muffin",  # Muffin rows in each hub dataset's schema
    "t0sf": FIXTURES / "flan2022" / "p3",  # P3 TFRecords
    "flan_niv2": FIXTURES / "flan2022" / "niv2",  # a natural-instructions layout
    "flan_cot": FIXTURES / "flan2022" / "cot",  # FLAN's CoT TSVs
    "flan_dialog": FIXTURES / "flan2022" / "dialog",  # QReCC and WikiDialog files
}
CONFIGURED = {
    "muffin": 0.40,
    "t0sf": 0.32,
    "flan_niv2": 0.20,
    "flan_cot": 0.05,
    "flan_dialog": 0.03,
}
NUM = 3000


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cfg = yaml.safe_load((REPO / "configs" / "data" / "flan2022.yaml").read_text())
    assert [c["name"] for c in cfg["collections"]] == list(PATHS)
    for entry in cfg["collections"]:
        entry["path"] = str(PATHS[entry["name"]])
    cfg["mixture"]["num_examples"] = NUM
    cfg.update(
        features={}, decontaminate={"eval_paths": []}, num_proc=1, output={"format": "jsonl"}
    )
    work = tmp_path_factory.mktemp("flan2022")
    path = work / "flan2022.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = work / "out"
    assert main(["data", "build", str(path), "--out", str(out), "-q"]) == 0
    rows = [json.loads(line) for f in sorted((out / "data").glob("part-*")) for line in open(f)]
    return json.loads((out / "stats.json").read_text()), (out / "summary.md").read_text(), rows


def test_every_collection_and_its_tasks_are_built(built):
    stats, _, rows = built
    report = stats["collection_report"]
    assert list(report) == list(PATHS)
    tasks = {
        name: sorted(t["task"] for t in stats["tasks"] if t["collection"] == name) for name in PATHS
    }
    assert tasks["muffin"] == sorted(p.stem for p in PATHS["muffin"].glob("*.jsonl"))
    assert tasks["t0sf"] == sorted(p.name for p in (PATHS["t0sf"] / "data").iterdir())
    assert tasks["flan_niv2"] == [
        "task073_commonsenseqa_answer_generation",
        "task085_unnatural_addsub_arithmetic",
    ]
    assert tasks["flan_cot"] == ["cot_esnli", "cot_gsm8k", "stream_aqua"]
    assert tasks["flan_dialog"] == ["qrecc", "wiki_dialog"]
    written = Counter(r["collection"] for r in rows)
    per_task = Counter(r["task"] for r in rows)
    assert len(rows) == stats["examples"] == NUM
    for name, r in report.items():
        assert r["examples"] == written[name] == stats["collections"][name]["examples"]
        assert r["tasks"] == len(tasks[name])
    for t in stats["tasks"]:
        assert t["examples"] == per_task[t["task"]]
        assert sum(t["formats"].values()) == t["examples"]


def test_rates_achieved_against_configured(built):
    stats, _, rows = built
    report = stats["collection_report"]
    for name, want in CONFIGURED.items():
        r = report[name]
        assert r["configured_rate"] == pytest.approx(want, abs=1e-6)
        share = sum(x["collection"] == name for x in rows) / NUM
        assert r["achieved_rate"] == pytest.approx(share, abs=1e-6)
        assert abs(r["achieved_rate"] - want) < 0.02  # 3,000 draws: a few standard errors


def test_template_type_shares(built):
    stats, summary, rows = built
    report = stats["collection_report"]
    for name, r in report.items():
        formats = Counter(x["format"] for x in rows if x["collection"] == name)
        assert r["template_types"] == {f: round(c / r["examples"], 4) for f, c in formats.items()}
        assert sum(r["template_types"].values()) == pytest.approx(1.0, abs=1e-3)
    # Muffin and T0-SF render all four FLAN template types; NIV2, CoT and Dialog have no
    # no-options variants in the Flan Collection.
    for name in ("muffin", "t0sf"):
        assert set(report[name]["template_types"]) == {"zsopt", "zsnoopt", "fsopt", "fsnoopt"}
    for name in ("flan_niv2", "flan_cot", "flan_dialog"):
        assert set(report[name]["template_types"]) == {"zsopt", "fsopt"}
    assert report["flan_cot"]["inverted"] > 0 and report["flan_cot"]["cot"] > 0.5
    assert report["flan_dialog"]["inverted"] > 0
    assert "## Collections: configured and achieved rates, template types" in summary
    for name, r in report.items():
        line = next(
            x
            for x in summary.splitlines()
            if x.startswith(f"| {name} |") and "0." in x and x.count("|") > 8
        )
        assert f"{r['configured_rate']:.3f} | {r['achieved_rate']:.3f}" in line
