"""`flankit data ls` counts: cached by the collection's files, recounted when one changes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from flankit.cli import main
from flankit.data.collections import CollectionSpec
from flankit.data.collections import counts as counts_mod
from flankit.data.collections.counts import cache_file, collection_counts

NIV2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "niv2" / "tasks"


@pytest.fixture
def niv2(tmp_path, monkeypatch):
    if not NIV2.is_dir():
        pytest.skip("needs ../shared/data/niv2")
    monkeypatch.setenv("FLANKIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "data" / "niv2" / "tasks"
    folder.mkdir(parents=True)
    for src in sorted(NIV2.glob("task*.json"))[:3]:
        shutil.copy(src, folder / src.name)
    return folder


def _spy(monkeypatch) -> list[str]:
    loads: list[str] = []
    real = counts_mod.count

    def counting(spec, root):
        loads.append(spec.name)
        return real(spec, root)

    monkeypatch.setattr(counts_mod, "count", counting)
    return loads


def _drop_instance(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data["Instances"] = data["Instances"][:-1]
    path.write_text(json.dumps(data), encoding="utf-8")


def test_counts_are_cached_and_a_changed_file_is_recounted(niv2, monkeypatch):
    spec = CollectionSpec(name="niv2", path=str(niv2))
    loads = _spy(monkeypatch)
    first = collection_counts(spec, None)
    assert first.tasks + first.excluded == 3 and first.examples > 0
    assert cache_file().is_file() and loads == ["niv2"]
    assert collection_counts(spec, None) == first and loads == ["niv2"]  # from the cache

    _, tasks = counts_mod.count(spec, None)
    task = Path(tasks[0].meta["source"])  # a task that is listed (not held out)
    loads.clear()
    _drop_instance(task)
    changed = collection_counts(spec, None)
    assert loads == ["niv2"]  # the stale entry was recomputed
    assert changed.examples == first.examples - 1 and changed.tasks == first.tasks

    (niv2 / task.name).unlink()  # a file removed: recounted, one task fewer
    gone = collection_counts(spec, None)
    assert loads == ["niv2", "niv2"]
    assert gone.tasks + gone.excluded == 2


def test_a_file_with_the_same_size_but_a_new_mtime_is_recounted(niv2, monkeypatch):
    spec = CollectionSpec(name="niv2", path=str(niv2))
    loads = _spy(monkeypatch)
    collection_counts(spec, None)
    task = sorted(niv2.glob("*.json"))[0]
    st = task.stat()
    os.utime(task, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    collection_counts(spec, None)
    assert loads == ["niv2", "niv2"]


def test_collections_not_read_from_files_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("FLANKIT_CACHE", str(tmp_path / "cache"))
    loads = _spy(monkeypatch)
    spec = CollectionSpec(name="synthetic")
    assert collection_counts(spec, None) == collection_counts(spec, None)
    assert loads == ["synthetic", "synthetic"] and not cache_file().exists()


def test_a_broken_cache_file_is_recomputed(niv2, monkeypatch):
    spec = CollectionSpec(name="niv2", path=str(niv2))
    first = collection_counts(spec, None)
    cache_file().write_text("{not json", encoding="utf-8")
    assert collection_counts(spec, None) == first
    assert json.loads(cache_file().read_text(encoding="utf-8"))["version"] == counts_mod.VERSION


def test_data_ls_prints_the_same_cold_and_warm(niv2, monkeypatch, capsys):
    monkeypatch.setenv("FLANKIT_DATA", str(niv2.parents[1]))
    argv = ["data", "ls"]
    assert main(argv) == 0
    cold = capsys.readouterr().out
    assert main(argv) == 0
    warm = capsys.readouterr().out
    assert cold == warm and "\nniv2: " in "\n" + cold
    assert cache_file().is_file()


BIGBENCH = NIV2.parents[1] / "bigbench" / "tasks"
# A malformed row (physics_questions #0 has no input), multiple choice with empty inputs, both
# `target` and `target_scores`, lists of targets, and non-ASCII text.
REAL_BB = (
    "physics_questions",
    "cause_and_effect__one_sentence",
    "arithmetic__1_digit_addition",
    "auto_categorization",
    "misconceptions_russian",
)


def _loaded(spec, monkeypatch, *, fast: bool):
    from flankit.data import sources
    from flankit.data.collections import bigbench

    real = sources.read_json_checked
    checked = real if fast else (lambda path, task=None: (real(path, task=task)[0], False))
    monkeypatch.setattr(bigbench, "read_json_checked", checked)
    counts, tasks = counts_mod.count(spec, None)
    return counts, {t.name: [(e.where, e.fields) for e in t.examples] for t in tasks}


def test_bigbench_fast_utf8_path_counts_what_the_full_check_does(tmp_path, monkeypatch):
    if not BIGBENCH.is_dir():
        pytest.skip("needs ../shared/data/bigbench")
    monkeypatch.setenv("FLANKIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "bigbench"
    folder.mkdir()
    for name in REAL_BB:
        shutil.copy(BIGBENCH / f"{name}.json", folder / f"{name}.json")
    # An edge the fast path must not skip: valid UTF-8 whose escape parses to a lone surrogate.
    data = json.loads((BIGBENCH / "auto_categorization.json").read_text(encoding="utf-8"))
    data["examples"][2]["input"] = "caf@@"
    text = json.dumps(data).replace("caf@@", "caf\\udce9")
    (folder / "auto_categorization_escaped.json").write_text(text, encoding="utf-8")
    spec = CollectionSpec(name="bigbench", path=str(folder), include_benchmark_sources=True)

    fast, fast_rows = _loaded(spec, monkeypatch, fast=True)
    full, full_rows = _loaded(spec, monkeypatch, fast=False)
    assert fast == full and fast_rows == full_rows
    assert fast.tasks == 6 and fast.bad_total == 2
    assert fast.examples == sum(len(r) for r in full_rows.values())
    assert any("physics_questions.json:#0" in s and "input" in s for s in fast.bad_samples)
    assert any(
        "auto_categorization_escaped.json:#2" in s and "UTF-8" in s for s in fast.bad_samples
    )
    # `data ls` (cold, then from the cache) lists the same counts as the full loader.
    assert collection_counts(spec, None) == full
    assert collection_counts(spec, None) == full


def _bb_folder(tmp_path: Path, *, broken: bool) -> Path:
    folder = tmp_path / "data" / "bigbench" / "tasks"
    folder.mkdir(parents=True)
    for name in REAL_BB[:3]:
        shutil.copy(BIGBENCH / f"{name}.json", folder / f"{name}.json")
    if broken:
        (folder / "zz_broken.json").write_text('{"examples": [{"input": "a",', encoding="utf-8")
    return folder


def test_data_ls_names_a_malformed_file_and_lists_the_rest(tmp_path, monkeypatch, capsys):
    if not BIGBENCH.is_dir():
        pytest.skip("needs ../shared/data/bigbench")
    monkeypatch.setenv("FLANKIT_CACHE", str(tmp_path / "cache"))
    folder = _bb_folder(tmp_path, broken=True)
    monkeypatch.setenv("FLANKIT_DATA", str(folder.parents[1]))
    assert main(["data", "ls"]) == 0
    cold = capsys.readouterr().out
    assert main(["data", "ls"]) == 0
    assert capsys.readouterr().out == cold
    line = next(x for x in cold.splitlines() if x.startswith("bigbench:"))
    assert "not available" in line and "zz_broken.json:1" in line and "invalid JSON" in line
    assert "\nworld: 10 tasks, 120 examples\n" in cold
