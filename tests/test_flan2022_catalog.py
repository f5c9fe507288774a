"""`flankit data ls` lists the Flan 2022 catalog offline; `data check-sources` needs the hub."""

from __future__ import annotations

import re
import socket

import pytest

from flankit.cli import main


@pytest.fixture()
def no_network(monkeypatch):
    """Offline mode set, and any attempt to open a connection fails the test."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    from flankit.data.flan2022 import muffin_sources

    muffin_sources.hub_reachable.cache_clear()
    yield attempts
    muffin_sources.hub_reachable.cache_clear()


def _listed(out: str) -> dict[str, list[str]]:
    """{collection: its task rows} from `data ls --catalog -v` output."""
    found: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        head = re.match(r"(\w+): ", line)
        if head and not line.startswith(" "):
            current = head[1]
            found[current] = []
        elif current and line.startswith("  "):
            found[current].append(line.split()[0])
    return found


def test_catalog_lists_every_flan2022_task_offline(no_network, capsys, shared):
    assert main(["data", "ls", "--catalog", "-v", "--data-root", str(shared)]) == 0
    out = capsys.readouterr().out
    listed = _listed(out)
    assert len(listed["muffin"]) == 71 and "muffin: 71 tasks" in out
    assert len(listed["t0sf"]) == 193 and "t0sf: 193 tasks" in out
    cot = listed["flan_cot"]
    assert len(cot) == 18 and sum(t.endswith("_ii") for t in cot) == 9
    assert sorted(listed["flan_dialog"]) == sorted(
        ["qrecc", "qrecc_ii", "wiki_dialog", "wiki_dialog_ii"]
    )
    niv2 = sorted(p.stem for p in (shared / "niv2" / "tasks").glob("task*.json"))
    assert sorted(listed["flan_niv2"]) == niv2
    assert "cot_submix: published submix" in out
    assert not no_network
    # Each row gives the source, the templates and the mixing size.
    row = next(x for x in out.splitlines() if x.strip().startswith("rte "))
    assert "2,290" in row and "rte (10)" in row and "super_glue" in row


def test_catalog_of_a_given_niv2_folder(no_network, capsys, tmp_path):
    tasks = tmp_path / "ni" / "tasks"
    tasks.mkdir(parents=True)
    for name in ("task001_a", "task685_mmlu_x", "task1500_b"):
        (tasks / f"{name}.json").write_text("{}")
    assert main(["data", "ls", "flan_niv2", "--path", str(tmp_path / "ni")]) == 0
    out = capsys.readouterr().out
    assert sorted(_listed(out)["flan_niv2"]) == ["task001_a", "task1500_b", "task685_mmlu_x"]
    assert "MMLU-derived" in out


@pytest.mark.parametrize("collection", ["muffin", "t0sf"])
def test_check_sources_says_it_needs_the_hub(no_network, capsys, collection):
    assert main(["data", "check-sources", collection]) == 2
    err = capsys.readouterr().err
    assert "needs the hub" in err and "HF_HUB_OFFLINE" in err and collection in err
    assert not no_network


def test_check_sources_of_a_collection_without_mappings(capsys):
    assert main(["data", "check-sources", "flan_cot"]) == 2
    assert "no hub mappings to check" in capsys.readouterr().err


def test_t0sf_without_a_local_copy_or_the_hub_says_so(no_network, tmp_path):
    from flankit.data.collections import CollectionSpec, load_collection
    from flankit.errors import FlankitError

    with pytest.raises(FlankitError, match="no local P3 copy .* hub is not reachable"):
        load_collection(CollectionSpec(name="t0sf", tasks=["amazon_polarity_*"]), root=tmp_path)
    assert not no_network
