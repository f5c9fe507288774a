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
