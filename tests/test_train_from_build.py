"""`flankit train` on a finished build's folder (`data: {built: DIR}`) trains on the very rows
that streaming the same config gives: identical batches, identical final weights."""

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file as load_arrays
from safetensors.torch import load_file

from flankit.config import load_config
from flankit.data.build import DataConfig, build, load_mixture
from flankit.data.built import BuiltStream, open_build
from flankit.data.pipeline import PackedStream
from flankit.tokenizer import load_tokenizer
from flankit.train.data import run_features
from flankit.train.loop import TrainConfig, train

EXAMPLES = """
collections: [{name: synthetic, examples_per_task: 60}]
render: {max_shots: 2, fewshot_budget: 100}
"""
BUILD = (
    EXAMPLES
    + """
mixture: {num_examples: 192}
features: {tokenizer: TOK, layout: LAYOUT, input_length: 128, target_length: 32, length: 160}
output: {rows_per_shard: 7}
chunk_examples: 64
seed: 3
"""
)
TRAIN = """
model: {shape: t5-tiny, tokenizer: TOK, dropout: 0.0}
optim: {name: adafactor, lr: 1.0e-3}
steps: 4
batch_size: 4
save_every: 4
log_every: 1
eval_every: 1000
chunk_examples: 64
seed: 3
"""
STREAMED = "data:\n  collections: [{name: synthetic, examples_per_task: 60}]\n" + (
    "  render: {max_shots: 2, fewshot_budget: 100}\n"
    "  features: {input_length: 128, target_length: 32}\n"
)
FROM_BUILD = "data:\n  built: BUILT\n  features: {input_length: 128, target_length: 32}\n"


def built(tmp_path, tok_dir, layout="encdec", num_proc=1):
    name = layout if num_proc == 1 else f"{layout}-{num_proc}proc"
    path = tmp_path / f"build-{name}.yaml"
    text = BUILD.replace("TOK", str(tok_dir)).replace("LAYOUT", layout)
    path.write_text(text + f"num_proc: {num_proc}\n")
    out = tmp_path / f"built-{name}"
    build(load_config(DataConfig, path), out, progress=False)
    return out


def train_config(tmp_path, tok_dir, data: str, name: str) -> TrainConfig:
    path = tmp_path / f"{name}.yaml"
    path.write_text(data + TRAIN.replace("TOK", str(tok_dir)) + f"out_dir: {tmp_path / name}\n")
    return load_config(TrainConfig, path)


@pytest.mark.parametrize("layout", ["encdec", "decoder"])
def test_a_build_holds_the_batches_training_streams(tmp_path, tok_dir, layout):
    out = built(tmp_path, tok_dir, layout)
    cfg = load_config(DataConfig, tmp_path / f"build-{layout}.yaml")
    mix, _ = load_mixture(cfg, seed=cfg.seed)
    tok = load_tokenizer(str(tok_dir))
    streamed = PackedStream(mix, tok, cfg.features, cfg.render, chunk_examples=64)
    from_build = BuiltStream(open_build(out))
    assert len(open_build(out).manifest["shards"]) > 2  # batches cross shard boundaries
    for _ in range(6):  # 24 rows: past the first chunk's rows, over several 7-row shards
        a, b = streamed.next_batch(4), from_build.next_batch(4)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        assert streamed.examples_seen == from_build.examples_seen


@pytest.mark.parametrize("layout", ["encdec", "decoder"])
def test_worker_packed_chunks_make_the_serial_builds_shards(tmp_path, tok_dir, layout):
    """Chunks packed in 2 worker processes give a serial build's bytes; each shard holds
    rows_per_shard rows but the last, and end to end they are the streamed rows, in order."""
    serial, workers = built(tmp_path, tok_dir, layout), built(tmp_path, tok_dir, layout, 2)
    shards = sorted((serial / "tokens").glob("part-*.safetensors"))
    assert [p.name for p in shards] == sorted(p.name for p in (workers / "tokens").glob("part-*"))
    for p in [*shards, serial / "tokens" / "manifest.json"]:
        assert p.read_bytes() == (workers / "tokens" / p.name).read_bytes(), p.name
    stats = [json.loads((out / "stats.json").read_text()) for out in (serial, workers)]
    assert list(stats[0]["tokens"].items()) == list(stats[1]["tokens"].items())
    arrays = [load_arrays(str(p)) for p in shards]
    sizes = [
        len(a["segment_ids" if layout == "decoder" else "encoder_segment_ids"]) for a in arrays
    ]
    assert len(sizes) > 3 and sizes[:-1] == [7] * (len(sizes) - 1) and 0 < sizes[-1] <= 7
    cfg = load_config(DataConfig, tmp_path / f"build-{layout}.yaml")
    mix, _ = load_mixture(cfg, seed=cfg.seed)
    tok = load_tokenizer(str(tok_dir))
    # 192 examples are 3 whole chunks of 64: exactly the rows the stream packs from them.
    streamed = PackedStream(mix, tok, cfg.features, cfg.render, chunk_examples=64)
    expected = streamed.next_batch(sum(sizes))
    assert streamed.examples_seen == 192 == stats[0]["tokens"]["examples"]
    for k, v in expected.items():
        np.testing.assert_array_equal(np.concatenate([a[k] for a in arrays]), v, err_msg=k)


def test_built_stream_resumes_where_it_stopped_and_wraps_around(tmp_path, tok_dir):
    build_ = open_build(built(tmp_path, tok_dir))
    whole = BuiltStream(build_)
    rows = build_.manifest["rows"]
    first = [whole.next_batch(5) for _ in range(2)]
    resumed = BuiltStream(build_, state=BuiltStream(build_).state())
    resumed.next_batch(5)
    again = BuiltStream(build_, state=resumed.state()).next_batch(5)
    np.testing.assert_array_equal(again["encoder_input_ids"], first[1]["encoder_input_ids"])
    lap = BuiltStream(build_).next_batch(rows + 2)  # past the last row: the first rows again
    np.testing.assert_array_equal(lap["encoder_input_ids"][rows:], lap["encoder_input_ids"][:2])


@pytest.mark.slow
def test_training_on_a_build_equals_training_on_its_config(tmp_path, tok_dir):
    out = built(tmp_path, tok_dir)
    streamed = train_config(tmp_path, tok_dir, STREAMED, "streamed")
    from_build = train_config(tmp_path, tok_dir, FROM_BUILD.replace("BUILT", str(out)), "built")
    assert run_features(streamed, "encdec") == run_features(from_build, "encdec")
    a, b = train(streamed, progress=False), train(from_build, progress=False)
    assert a["loss"] == b["loss"]
    wa = load_file(str(tmp_path / "streamed" / "final" / "model.safetensors"))
    wb = load_file(str(tmp_path / "built" / "final" / "model.safetensors"))
    assert set(wa) == set(wb)
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    card = (tmp_path / "built" / "final" / "README.md").read_text()
    assert "| synthetic |" in card and "seed 3" in card
