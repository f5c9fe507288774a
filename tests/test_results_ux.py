"""Results a reader can trust: BBH chance per subtask, study plots with error bars and baselines
that re-render from sweep.json, exports that load quietly with real model cards, and progress
for every long phase."""

import json
import re
import warnings
from pathlib import Path

import pytest

from flankit.cli import main
from flankit.config import load_config

REPO = Path(__file__).resolve().parents[1]

# Random-guess accuracy (%) per BBH subtask, worked out by hand from ../shared/data/bbh: a
# question listing options is guessed among them (the mean of 1/options over the subtask's
# questions: date_understanding mixes 5- and 6-option questions, snarks has one with 3
# options); a subtask without options is guessed among its distinct answers (boolean_expressions
# True/False, object_counting 17 counts, dyck_languages 59 closings, multistep_arithmetic_two
# 185 numbers, word_sorting 250 different lists).
BBH_CHANCE = {
    "boolean_expressions": 50.00,
    "causal_judgement": 50.00,
    "date_understanding": 17.17,
    "disambiguation_qa": 33.23,
    "dyck_languages": 100 / 59,
    "formal_fallacies": 50.00,
    "geometric_shapes": 9.82,
    "hyperbaton": 50.00,
    "logical_deduction_five_objects": 20.00,
    "logical_deduction_seven_objects": 100 / 7,
    "logical_deduction_three_objects": 100 / 3,
    "movie_recommendation": 24.62,
    "multistep_arithmetic_two": 100 / 185,
    "navigate": 50.00,
    "object_counting": 100 / 17,
    "penguins_in_a_table": 20.03,
    "reasoning_about_colored_objects": 12.11,
    "ruin_names": 24.93,
    "salient_translation_error_detection": 100 / 6,
    "snarks": 50.28,
    "sports_understanding": 50.00,
    "temporal_sequences": 25.00,
    "tracking_shuffled_objects_five_objects": 20.00,
    "tracking_shuffled_objects_seven_objects": 100 / 7,
    "tracking_shuffled_objects_three_objects": 100 / 3,
    "web_of_lies": 50.00,
    "word_sorting": 100 / 250,
}


def _per_subtask_chance(items) -> dict[str, float]:
    by: dict[str, list[float]] = {}
    for it in items:
        by.setdefault(it.subtask, []).append(it.chance)
    return {k: 100 * sum(v) / len(v) for k, v in by.items()}


def test_bbh_chance_from_each_subtasks_answer_set(shared):
    from flankit.evals.benchmarks import bbh
    from flankit.evals.metrics import aggregate

    items = bbh.load(shared / "bbh", ["direct"])
    got = _per_subtask_chance(items)
    assert set(got) == set(BBH_CHANCE) and len(got) == 27
    for name, want in BBH_CHANCE.items():
        assert got[name] == pytest.approx(want, abs=0.006), name
    # The normalized average's BBH baseline is the macro average of the 27.
    samples = [
        {"benchmark": "bbh", "mode": "direct", "subtask": it.subtask, "correct": False}
        | {"chance": it.chance}
        for it in items
    ]
    random = aggregate(samples)["bbh/direct"]["random"]
    assert random == pytest.approx(sum(BBH_CHANCE.values()) / 27, abs=0.01)
    # --limit takes a few questions but not a smaller answer set.
    few = _per_subtask_chance(bbh.load(shared / "bbh", ["cot"], limit=2))
    assert few["boolean_expressions"] == 50.0 and few["object_counting"] == pytest.approx(100 / 17)


@pytest.mark.slow
def test_report_rerenders_the_committed_study_from_sweep_json(tmp_path, capsys):
    study = REPO / "docs" / "study" / "scratch"
    assert main(["report", str(study), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "sweep.md").read_text() == (study / "sweep.md").read_text()
    for name in ("tasks.png", "params.png", "cot_ablation.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
    assert json.loads((tmp_path / "sweep.json").read_text()) == json.loads(
        (study / "sweep.json").read_text()
    )


def test_report_refuses_a_folder_without_results(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no sweep results under" in capsys.readouterr().err


def test_sweep_json_rows_are_checked(tmp_path):
    from flankit.errors import FlankitError
    from flankit.report import read_sweep_json

    bad = tmp_path / "sweep.json"
    bad.write_text(json.dumps([{"name": "a", "params": 5}, {"name": "b"}]))
    with pytest.raises(FlankitError, match=r"sweep.json:1: field params"):
        read_sweep_json(bad)


def test_binomial_standard_error():
    from flankit.report import binomial_se

    assert binomial_se({"x": 50.0, "n/x": 100}, "x") == pytest.approx(5.0)
    assert binomial_se({"x": 10.0, "n/x": 144}, "x") == pytest.approx(2.5)
    assert binomial_se({"x": 10.0}, "x") is None


@pytest.fixture
def figures(monkeypatch):
    """The figures sweep_plots makes, kept open for inspection instead of saved."""
    import flankit.report as report

    kept = {}

    def keep(fig, axes, path, paths):
        kept[Path(path).name] = (fig, list(axes))
        paths.append(str(path))

    monkeypatch.setattr(report, "_save", keep)
    return kept


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_study_plots_are_readable(tmp_path, figures):
    from flankit.report import read_sweep_json, sweep_plots

    rows = read_sweep_json(REPO / "docs" / "study" / "scratch" / "sweep.json")
    sweep_plots(rows, tmp_path)
    assert set(figures) == {"tasks.png", "params.png", "cot_ablation.png"}
    fig, axes = figures["tasks.png"]
    assert [ax.get_title() for ax in axes] == ["held-in families", "held-out families"]
    counts = sorted({r["num_tasks"] for r in rows if r.get("num_tasks")})
    for ax, split in zip(axes, ("held_in", "held_out")):
        assert [t.get_text() for t in ax.get_xticklabels()] == [str(c) for c in counts]
        assert ax.xaxis.get_minor_locator().tick_values(1, 100) == []
        assert ax.get_ylim()[0] == 0
        assert len(ax.containers) == 2 and all(c.has_yerr for c in ax.containers)
        # Every point's value is written on the plot, and chance is drawn and named.
        scaling = [r for r in rows if r.get("num_tasks")]
        for r in scaling:
            assert f"{r[f'{split}/all']:.1f}" in _texts(ax)
        chance = sum(r[f"chance/{split}/all"] for r in scaling) / len(scaling)
        assert f"random guessing {chance:.1f}" in _texts(ax)
        assert any(
            line.get_linestyle() == "--" and line.get_ydata()[0] == pytest.approx(chance)
            for line in ax.get_lines()
        )
    assert "error bars: ±1 binomial standard error" in [t.get_text() for t in fig.texts]
    fig, axes = figures["cot_ablation.png"]
    for ax in axes:
        labels = _texts(ax)
        assert labels.count("0.0") >= 1 or "held-in" in ax.get_title()  # zero bars labelled
        assert ax.get_ylim()[0] == 0
    assert "0.0" in _texts(axes[1])
    params = [t.get_text() for t in figures["params.png"][1][0].get_xticklabels()]
    assert params == ["1.05M", "6.82M"]


def test_plots_without_item_counts_say_so(tmp_path, figures):
    from flankit.report import sweep_plots

    rows = json.loads((REPO / "docs" / "study" / "scratch" / "sweep.json").read_text())
    rows = [{k: v for k, v in r.items() if not k.startswith(("n/", "chance/"))} for r in rows]
    sweep_plots(rows, tmp_path)
    fig, axes = figures["tasks.png"]
    assert not any(c.has_yerr for ax in axes for c in ax.containers)
    assert "no item counts in the results, so no error bars" in [t.get_text() for t in fig.texts]


TRAIN = """
data:
  collections: [{name: synthetic, examples_per_task: 20}]
  features: {input_length: 128, target_length: 32}
  render: {max_shots: 1, fewshot_budget: 60}
model: {shape: t5-tiny, tokenizer: train, dropout: 0.0}
vocab_size: 300
steps: 3
batch_size: 4
save_every: 3
eval_every: 1000
log_every: 1000
chunk_examples: 64
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from flankit.train.loop import TrainConfig, train

    folder = tmp_path_factory.mktemp("run")
    (folder / "t.yaml").write_text(TRAIN + f"out_dir: {folder / 'run'}\n")
    cfg = load_config(TrainConfig, folder / "t.yaml")
    return cfg, train


@pytest.mark.slow
def test_training_shows_a_token_rate_from_the_first_step(trained, capfd):
    cfg, train = trained
    train(cfg, progress=True)
    shown = re.findall(r"tok_s=([\d,]+)", capfd.readouterr().err)
    assert shown and all(v.replace(",", "") != "0" for v in shown), shown


@pytest.mark.slow
def test_exports_load_without_warnings_and_cards_have_real_values(trained, capfd):
    from flankit.models import ModelSpec, load_pretrained

    cfg, train = trained
    final = Path(cfg.out_dir) / "final"
    if not final.exists():
        train(cfg, progress=False)
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, _, family = load_pretrained(ModelSpec(path=str(final)))
    err = capfd.readouterr().err
    noise = [x for x in re.split(r"[\r\n]+", err) if x.strip() and "Loading weights" not in x]
    assert not caught and not noise, (caught, noise)
    assert family == "encdec" and model.lm_head.weight is not model.shared.weight
    card = (final / "README.md").read_text()
    assert "None" not in card and "nan" not in card
    assert "for 3 steps" in card and "| synthetic | by size | none | builtin |" in card


def test_data_build_shows_every_phase(tmp_path, shared, capfd):
    from flankit.data.build import DataConfig, build

    (tmp_path / "d.yaml").write_text(
        "collections: [{name: synthetic, examples_per_task: 20}]\n"
        "mixture: {num_examples: 40}\n"
        f"decontaminate: {{eval_paths: [{shared / 'mgsm'}]}}\n"
        "features: {tokenizer: train, vocab_size: 300, input_length: 128, target_length: 32}\n"
    )
    build(load_config(DataConfig, tmp_path / "d.yaml"), tmp_path / "out", progress=True)
    err = capfd.readouterr().err
    for phase in (
        "build: loading collection synthetic",
        "build: indexing evaluation n-grams",
        "build: decontaminating",
        "build: tokenizer sample",
        "build: training the tokenizer",
        "build: render, tokenize, pack",
        "build: packing and writing the last shards",
        "build: writing stats.json and summary.md",
    ):
        assert phase in err, phase
    assert re.search(r"build: training the tokenizer: \d+\.\d s", err)
