import csv
import json
import random
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from flankit.cli import main
from flankit.config import load_config
from flankit.data import decontam
from flankit.data.build import DataConfig, build
from flankit.data.decontam import NgramIndex, eval_texts, words
from flankit.errors import FlankitError

LONG = "the quick brown fox jumps over the lazy dog near the quiet river bank today"


def test_ngram_index_matches_only_long_overlaps():
    idx = NgramIndex(13)
    idx.add(LONG)
    assert idx.contains("Prefix words. " + LONG.upper() + " and more")
    assert not idx.contains(" ".join(LONG.split()[:12]))  # 12 words cannot match a 13-gram
    assert idx.contains_many([LONG, "nothing", LONG]).tolist() == [True, False, True]


@pytest.mark.parametrize("chunk_chars", [4 << 20, 50])
def test_window_hashes_see_the_words_of_words(monkeypatch, chunk_chars):
    # The byte-level hashing must find exactly the words `words()` finds (Unicode spaces and
    # punctuation, final sigma, NUL, a dotted capital I that lowers to two characters), give
    # equal words equal hashes and different words different ones, in texts split into chunks.
    monkeypatch.setattr(decontam, "_CHUNK_CHARS", chunk_chars)
    spaces = [chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace()]
    assert sorted(decontam._ASCII_SPACES + decontam._UNICODE_SPACES) == spaces
    rnd = random.Random(0)
    alphabet = list("abcXYZ ΣΑς.,!#'\t\n\x00é\u2003\x85İ—“…") + spaces
    texts = ["".join(rnd.choices(alphabet, k=rnd.randint(0, 40))) for _ in range(2000)]
    hashes, owner = NgramIndex(1)._window_hashes(texts)
    per_text = [words(t) for t in texts]
    flat = [w for ws in per_text for w in ws]
    assert len(hashes) == len(flat) > 1000
    assert owner.tolist() == np.repeat(np.arange(len(texts)), [len(ws) for ws in per_text]).tolist()
    seen: dict[str, int] = {}
    for w, h in zip(flat, hashes.tolist()):
        assert seen.setdefault(w, h) == h
    assert len(set(seen.values())) == len(seen) > 300
    windows = NgramIndex(3)._window_hashes(texts)[0]
    assert len(windows) == sum(max(len(ws) - 2, 0) for ws in per_text)


def test_eval_files_in_their_formats(shared):
    assert sum(1 for _ in eval_texts(shared / "bbh/bbh/navigate.json")) == 250
    assert sum(1 for _ in eval_texts(shared / "mgsm/mgsm_en.tsv")) == 250
    assert sum(1 for _ in eval_texts(shared / "mmlu/dev/anatomy_dev.csv")) == 5
    assert sum(1 for _ in eval_texts(shared / "tydiqa")) >= 9


def test_eval_texts_are_the_questions_of_each_format(fixture_data):
    bbh = fixture_data / "bbh/bbh/navigate.json"
    inputs = [ex["input"] for ex in json.loads(bbh.read_text())["examples"]]
    assert list(eval_texts(bbh)) == inputs
    mmlu = fixture_data / "mmlu/dev/anatomy_dev.csv"
    with open(mmlu, newline="") as f:
        assert list(eval_texts(mmlu)) == [" ".join(row[:-1]) for row in csv.reader(f)]
    mgsm = fixture_data / "mgsm/mgsm_de.tsv"
    questions = [line.split("\t")[0] for line in mgsm.read_text().splitlines()]
    assert list(eval_texts(mgsm)) == questions and len(questions) == 3
    shots = json.loads((fixture_data / "tydiqa/tydiqa-one-shot.json").read_text())
    qa = [f"{s['question']} {s['context']}" for lang in shots for s in shots[lang]]
    assert list(eval_texts(fixture_data / "tydiqa")) == qa and len(qa) == 9
    # A folder: its evaluation files in sorted order (exemplars.json holds no questions), no
    # LICENSE or README.
    assert list(eval_texts(fixture_data / "mgsm"))[:3] == questions
    assert len(list(eval_texts(fixture_data / "mgsm"))) == 9
    with pytest.raises(FlankitError, match="evaluation file not found"):
        list(eval_texts(fixture_data / "no-such.json"))


def _config(tmp_path, eval_file, **over):
    cfg = tmp_path / "data.yaml"
    cfg.write_text(f"""
collections:
  - name: synthetic
    examples_per_task: 40
mixture: {{num_examples: 600, seed: 1}}
decontaminate: {{eval_paths: [{eval_file}]}}
features: {{tokenizer: train, vocab_size: 300, input_length: 256, target_length: 64}}
""")
    return load_config(DataConfig, cfg, [f"{k}={v}" for k, v in over.items()])


@pytest.mark.slow
@pytest.mark.parametrize("layout,fmt,num_proc", [("encdec", "jsonl", 1), ("decoder", "parquet", 2)])
def test_build_writes_shards_tokens_and_report(tmp_path, layout, fmt, num_proc):
    # An "evaluation set" that copies one synthetic table question verbatim must be caught.
    from flankit.data.synthetic import synthetic_task

    row = synthetic_task("table_lookup", 40).examples[0].fields
    ev = tmp_path / "eval.jsonl"
    copied = " ".join([row["table"], row["name"], row["answer"], row["rationale"]])
    ev.write_text(json.dumps({"question": "Benchmark item: " + copied}) + "\n")
    cfg = _config(
        tmp_path,
        ev,
        **{
            "features.layout": layout,
            "output.format": fmt,
            "num_proc": num_proc,
            "output.shard_size": 250,
        },
    )
    out = tmp_path / "out"
    stats = build(cfg, out, progress=False)
    assert stats["examples"] == 600 and stats["text_shards"] == 3
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        f"part-0000{i}.{fmt}" for i in range(3)
    ]
    by_task = {t["task"]: t for t in stats["tasks"]}
    assert by_task["syn_table_lookup"]["decontaminated"] >= 1 and stats["decontaminated_total"] >= 1
    assert sum(t["examples"] for t in stats["tasks"]) == 600
    tok = stats["tokens"]
    arrays = load_file(str(next((out / "tokens").glob("*.safetensors"))))
    if layout == "encdec":
        assert set(arrays) >= {"encoder_input_ids", "decoder_input_ids", "decoder_segment_ids"}
        assert arrays["encoder_input_ids"].shape[1] == 256 and tok["efficiency_inputs"] > 0.5
    else:
        assert (
            arrays["input_ids"].shape[1] == 2048
            and arrays["loss_mask"].sum() == tok["target_tokens"]
        )
    assert "Mixture build summary" in (out / "summary.md").read_text()
    assert (out / "tokenizer" / "tokenizer.json").exists()


def test_build_is_deterministic_across_process_counts(tmp_path):
    ev = tmp_path / "e.jsonl"
    ev.write_text("{}\n")
    a = build(
        _config(tmp_path, ev, num_proc=1, **{"features.tokenizer": "null"}),
        tmp_path / "a",
        progress=False,
    )
    b = build(
        _config(tmp_path, ev, num_proc=2, **{"features.tokenizer": "null"}),
        tmp_path / "b",
        progress=False,
    )
    assert a["tasks"] == b["tasks"]
    assert (tmp_path / "a/data/part-00000.jsonl").read_text() == (
        tmp_path / "b/data/part-00000.jsonl"
    ).read_text()


def test_bad_rows_stop_the_build_or_are_counted(tmp_path, capsys):
    folder = tmp_path / "flan_cot"
    folder.mkdir()
    (folder / "toy_train.tsv").write_text("q1\ta1\tr1\nq2 only two\tcols\nq3\ta3\tr3\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"collections: [{{name: cot, path: {folder}}}]\n")
    assert main(["data", "build", str(cfg), "--out", str(tmp_path / "o1"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "toy_train.tsv:2: task cot_toy: expected 3 tab-separated columns" in err
    assert (
        main(["data", "build", str(cfg), "--out", str(tmp_path / "o2"), "-q", "--skip-bad-rows"])
        == 0
    )
    stats = json.loads((tmp_path / "o2/stats.json").read_text())
    assert (
        stats["bad_rows_total"] == 1
        and stats["tasks"][0]["bad_rows"] == 1
        and stats["examples"] == 2
    )


@pytest.mark.slow
def test_cli_ls_show_and_config_errors(tmp_path, capsys, shared):
    assert main(["data", "ls", "--data-root", str(shared)]) == 0
    out = capsys.readouterr().out
    assert "cot: 7 tasks, 33,443 examples" in out and "24 held out as benchmark sources" in out
    assert (
        main(
            [
                "data",
                "show",
                "cot_gsm8k",
                "--format",
                "fsopt",
                "--cot",
                "-n",
                "2",
                "--data-root",
                str(shared),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("cot_gsm8k #") == 2 and "--- targets ---" in out
    cfg = tmp_path / "c.yaml"
    cfg.write_text("collections: [{name: synthetic}]\nmixtur: {}\n")
    assert main(["data", "build", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert (
        "unknown config key mixtur" in capsys.readouterr().err
        and "did you mean mixture" in "did you mean mixture"
    )
    assert main(["data", "show", "syn_nope"]) == 2
    assert "unknown task 'syn_nope'" in capsys.readouterr().err


def test_decontamination_cache_gives_the_same_result(tmp_path, monkeypatch):
    monkeypatch.setenv("FLANKIT_CACHE", str(tmp_path / "cache"))
    from flankit.data.synthetic import synthetic_task

    row = synthetic_task("table_lookup", 40).examples[3].fields
    ev = tmp_path / "eval.jsonl"
    ev.write_text(
        json.dumps(
            {"question": " ".join([row["table"], row["name"], row["answer"], row["rationale"]])}
        )
        + "\n"
    )
    cfg = _config(tmp_path, ev, **{"features.tokenizer": "null"})
    cold = build(cfg, tmp_path / "cold", progress=False)
    assert list((tmp_path / "cache" / "decontam").glob("kept-*.npy"))
    warm = build(cfg, tmp_path / "warm", progress=False)
    assert cold["decontaminated_total"] == warm["decontaminated_total"] >= 1
    assert cold["tasks"] == warm["tasks"]


def test_index_built_in_the_background_equals_the_serial_one(tmp_path, fixture_data):
    from flankit.data.decontam import build_index, index_in_background

    paths = [str(fixture_data / "bbh/bbh"), str(fixture_data / "mgsm")]
    wait = index_in_background(paths, 13, tmp_path / "bg")
    serial = build_index(paths, 13, tmp_path / "serial")
    bg = wait()
    assert len(serial.hashes) > 100 and bg.key == serial.key
    assert bg.hashes.tolist() == serial.hashes.tolist()
    assert (tmp_path / "bg" / "decontam" / f"{bg.key}.npy").exists()  # cached by the child
    again = index_in_background(paths, 13, tmp_path / "bg")()  # read from that cache
    assert again.hashes.tolist() == serial.hashes.tolist()
    with pytest.raises(FlankitError, match="evaluation file not found"):
        index_in_background([str(tmp_path / "missing.json")])


def test_check_shared_by_workers_equals_the_serial_check():
    from flankit.data.build import _balanced, _kept_examples
    from flankit.data.collections import CollectionSpec, load_collection
    from flankit.data.decontam import NgramIndex

    tasks = load_collection(CollectionSpec(name="synthetic", examples_per_task=30))
    index = NgramIndex(13)
    # Copy one example of every third task into the "benchmark", so hits fall in every share.
    for task in tasks[::3]:
        fields = task.examples[5].fields
        index.add_many([" ".join(str(v) for v in fields.values())])
    todo = list(range(len(tasks)))
    runs = {}
    for workers in (1, 2, 3):
        seen = []
        runs[workers] = {
            i: keep.tolist() for i, keep in _kept_examples(tasks, todo, index, workers, seen.append)
        }
        assert len(seen) == len(todo)  # the progress bar hears of every task
    assert runs[1] == runs[2] == runs[3]
    assert sorted(runs[1]) == todo
    hit = {i for i, k in runs[1].items() if len(k) < len(tasks[i])}
    shares = _balanced(todo, [len(t) for t in tasks], 3)
    assert sum(bool(hit & set(share)) for share in shares) >= 2  # hits in several shares
    parts = _balanced(list(range(10)), [5, 1, 1, 1, 1, 1, 5, 1, 1, 1], 3)
    assert [i for p in parts for i in p] == list(range(10)) and len(parts) == 3
    assert _balanced([1, 2], [1, 1], 5) == [[1], [2]]
