import json
import random
import re
from dataclasses import replace

import pytest

from flankit.config import load_config
from flankit.data import world_tasks
from flankit.data.build import DataConfig, load_mixture
from flankit.data.collections import CollectionSpec, load_collection
from flankit.data.world import build_world, document, next_token, pretraining_rows, span_corruption
from flankit.errors import FlankitError
from flankit.evals.benchmarks import world as world_bench
from flankit.quickstart import config_hash, pretrain_config
from flankit.train.loop import TrainConfig


def uncorrupt(inputs: str, targets: str) -> str:
    """Put the target spans back in place of their sentinels."""
    spans = dict(re.findall(r"<extra_id_(\d+)> ?((?:(?!<extra_id_).)*)", targets))
    out = re.sub(r"<extra_id_(\d+)>", lambda m: spans[m.group(1)].strip(), inputs)
    return " ".join(out.split())


def test_world_is_deterministic_and_friends_are_mutual():
    a, b = build_world(3, 16), build_world.__wrapped__(3, 16)
    assert a.people == b.people and len({p["name"] for p in a.people}) == 16
    for p in a.people:
        assert a.person(p["friend"])["friend"] == p["name"] != p["friend"]
    assert build_world(4, 16).people != a.people
    with pytest.raises(FlankitError, match="even number"):
        build_world(0, 7)


def test_span_corruption_round_trips_and_follows_t5_budget():
    w = build_world()
    for i in range(50):
        text = document(w, i)
        inputs, targets = span_corruption(text, random.Random(i))
        assert uncorrupt(inputs, targets) == text
        n_noise = len(targets.split()) - targets.count("<extra_id_")
        assert n_noise == max(1, round(len(text.split()) * 0.15))
        assert targets.rstrip().endswith(f"<extra_id_{targets.count('<extra_id_') - 1}>")
    a, b = pretraining_rows(w, 3), pretraining_rows(w, 3)
    assert a == b and a[0]["inputs"] != pretraining_rows(w, 3, seed=1)[0]["inputs"]
    ins, tgt = next_token(document(w, 0), random.Random(0))
    assert f"{ins} {tgt}" == document(w, 0)
    with pytest.raises(FlankitError, match="objective"):
        pretraining_rows(w, 1, objective="mlm")


def test_pretraining_text_holds_the_facts_the_held_out_families_ask_for():
    w = build_world(world_tasks.WORLD_SEED, world_tasks.WORLD_PEOPLE)
    corpus = " ".join(document(w, i) for i in range(400))
    for fam in world_tasks.HELD_OUT[:3]:  # pet, color, instrument
        for ex in world_tasks.generate(fam, split="eval"):
            name, answer = ex.fields["name"], ex.fields["answer"]
            assert re.search(rf"{name}\b[^.]*\b{answer}\b", corpus), (fam, name, answer)


def test_held_out_families_and_eval_people_never_reach_finetuning():
    mix, _ = load_mixture(
        DataConfig(collections=[CollectionSpec(name="world", examples_per_task=40)])
    )
    assert {row["task"] for row in mix.table()} == {f"world_{f}" for f in world_tasks.HELD_IN}
    tasks = load_collection(CollectionSpec(name="world", examples_per_task=40))
    w = build_world(world_tasks.WORLD_SEED, world_tasks.WORLD_PEOPLE)
    for fam in world_tasks.HELD_IN:
        f = world_tasks.FAMILY_BY_NAME[fam]
        train = {p["name"] for p in world_tasks.people_for(w, f, "train")}
        held = {p["name"] for p in world_tasks.people_for(w, f, "eval")}
        assert train and held and not train & held
    pet_words = set(world_tasks.VALUES["pet"]) | {"pet", "animal", "colour", "instrument"}
    for task in tasks:
        for ex in task.examples[:40]:
            assert not pet_words & set(re.findall(r"\w+", " ".join(map(str, ex.fields.values()))))


def test_world_benchmark_items():
    items = world_bench.load(["direct", "cot"])
    by = {}
    for it in items:
        by.setdefault(it.subtask.split("/")[0], []).append(it)
    # 16 people x 5 families x 3 formats (zero-shot and few-shot with options, zero-shot
    # without), and the 2 families with rationales again in CoT
    assert len(by["held_out"]) == 16 * 3 * 5 + 16 * 3 * 2
    pets = [it for it in items if it.subtask.startswith("held_out/pet/") and it.mode == "direct"]
    with_opts = [it for it in pets if not it.subtask.endswith("/zsnoopt")]
    free = [it for it in pets if it.subtask.endswith("/zsnoopt")]
    assert all(it.chance == 0.25 and it.gold in it.prompt for it in with_opts)
    assert all(it.chance == 1 / 12 and it.gold not in it.prompt for it in free)
    older = [it for it in items if it.subtask.startswith("held_out/older") and it.mode == "direct"]
    assert all(it.chance == 0.5 and it.gold in it.prompt for it in older)
    cot = [it for it in items if it.mode == "cot"]
    assert cot and all(it.gold and "answer" not in it.gold for it in cot)
    assert len(world_bench.load(["direct"], limit=2)) == 15 * 2 * 3


def test_pretraining_config_file_is_the_quickstart_one():
    from pathlib import Path

    path = Path(__file__).parents[1] / "configs" / "train" / "world_pretrain.yaml"
    from_file = load_config(TrainConfig, str(path))
    code = pretrain_config()
    assert replace(from_file, out_dir="x") == replace(code, out_dir="x")
    assert config_hash(from_file) == config_hash(code)
    assert config_hash(pretrain_config(steps=10)) != config_hash(code)


def test_finetuning_config_file_is_the_quickstart_one(tmp_path):
    import inspect
    from pathlib import Path

    from flankit.quickstart import finetune_config, run

    path = Path(__file__).parents[1] / "configs" / "train" / "world_finetune.yaml"
    from_file = load_config(TrainConfig, str(path))
    steps = inspect.signature(run).parameters["steps"].default
    code = finetune_config(tmp_path, "pre", steps=steps, data=None, seed=0)
    assert from_file.data == code.data and from_file.optim == code.optim
    assert from_file.steps == code.steps and from_file.batch_size == code.batch_size
    only = finetune_config(tmp_path, "pre", steps=3, data=None, seed=0, rehearsal=0.0)
    assert [c.name for c in only.data.collections] == ["world"]


def test_cached_pretraining_equals_a_fresh_one_whatever_its_eval_cadence(tmp_path):
    # The pretraining cache is keyed by config_hash, which leaves out how often a run saves,
    # logs and measures held-out loss; so those must leave the weights exactly as they are.
    from safetensors.torch import load_file

    from flankit.data.build import FeatureConfig
    from flankit.train.loop import train

    tiny = pretrain_config(steps=6)
    text = CollectionSpec(name="world_text", examples_per_task=200, objective="salient_span")
    tiny = replace(
        tiny,
        data=replace(
            tiny.data, collections=[text], features=FeatureConfig(input_length=64, target_length=16)
        ),
        batch_size=4,
        vocab_size=300,
        heldout=[replace(text, split="eval", examples_per_task=8)],
        heldout_examples=8,
        chunk_examples=64,
    )
    a = replace(tiny, eval_every=2, save_every=6, out_dir=str(tmp_path / "a"))
    b = replace(tiny, eval_every=3, save_every=3, log_every=1, out_dir=str(tmp_path / "b"))
    assert config_hash(a) == config_hash(b) != config_hash(replace(a, seed=1))
    wa, wb = (load_file(f"{train(c, progress=False)['final']}/model.safetensors") for c in (a, b))
    assert wa.keys() == wb.keys() and all(wa[k].equal(wb[k]) for k in wa)
    metrics = [json.loads(line) for line in open(tmp_path / "a" / "metrics.jsonl")]
    assert [m["step"] for m in metrics if "heldout_loss" in m] == [0, 2, 4, 6]


def test_cache_key_names_the_thread_count():
    import torch

    from flankit.quickstart import cache_key

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = cache_key(pretrain_config())
        torch.set_num_threads(2)
        two = cache_key(pretrain_config())
    finally:
        torch.set_num_threads(threads)
    assert one.startswith(config_hash(pretrain_config())) and one.endswith("-t1")
    assert two.endswith("-t2")
