"""Benchmarks as one registry: a benchmark written here (this module and one registry entry,
nothing else) runs through the runner and the report; `flankit eval CONFIG key=value` loads a
typed job, refuses other commands' keys, and takes today's flags over the config."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from flankit.cli import _eval_flags, build_parser, main, parse_args
from flankit.config import load_config
from flankit.errors import FlankitError
from flankit.evals import benchmarks
from flankit.evals.benchmarks import Benchmark, Item
from flankit.evals.jobs import EvalJob, run_job
from flankit.evals.lm import GenRequest
from flankit.evals.metrics import paper_parts
from flankit.evals.runner import EvalConfig, build_items, evaluate, score
from flankit.evals.suite import options_of

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "configs" / "eval" / "flan_paper.yaml"


# ------------------------------------------------------------------ a toy benchmark


@dataclass(frozen=True)
class ToyOptions:
    count: int = field(default=3, metadata={"help": "questions per operation"})


def _toy_load(options: ToyOptions, setup) -> list[Item]:
    items = []
    for op, sign in (("add", "+"), ("sub", "-")):
        for i in range(min(options.count, setup.limit or options.count)):
            gold = str(i + 2) if op == "add" else str(i - 2)
            items.append(
                Item(
                    "toy", op, f"{op}-{i}", "direct", f"Q: {i} {sign} 2 =", gold, "toy", chance=0.1
                )
            )
    return items


def _toy_score(item: Item, output: str):
    pred = output.strip().split(" ")[0]
    return pred, pred == item.gold, 0.0


TOY = Benchmark(
    "toy",
    _toy_load,
    _toy_score,
    "toy-v1",
    ToyOptions,
    modes=("direct",),
    modes_note="toy is asked directly only",
)


class AddingLM:
    """Computes `a + 2` right and answers `a - 2` with `a + 2` too (so sub is always wrong)."""

    name = "adding"
    batch_size = 4

    def generate(self, requests: list[GenRequest]) -> list[str]:
        return [str(int(r.prompt.split()[1]) + 2) + " done" for r in requests]

    def loglikelihood(self, requests):
        return [0.0] * len(requests)


@pytest.fixture
def toy(monkeypatch):
    """The toy benchmark registered the way a benchmark module is: one entry in the dict."""
    monkeypatch.setitem(benchmarks.REGISTRY, "toy", f"{__name__}:TOY")
    return TOY


def test_a_registered_benchmark_runs_through_the_runner_and_the_report(toy, tmp_path):
    assert benchmarks.get("toy") is TOY and "toy" in benchmarks.names()
    cfg = EvalConfig(benchmarks=["toy"], modes=["direct", "cot"])
    assert options_of(cfg, "toy") == ToyOptions()  # registered after EvalConfig: defaults
    items, skipped = build_items(cfg)
    assert [it.id for it in items] == ["add-0", "add-1", "add-2", "sub-0", "sub-1", "sub-2"]
    assert skipped == {} and score(items[0], "2 done") == ("2", True, 0.0)
    res = evaluate(AddingLM(), cfg, tmp_path, progress=False)
    entry = res["scores"]["toy/direct"]
    assert entry["subtasks"] == {"add": 100.0, "sub": 0.0}
    assert (entry["macro"], entry["micro"], entry["n"]) == (50.0, 50.0, 6)
    assert entry["random"] == pytest.approx(10.0)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["prompt_versions"]["toy"] == "toy-v1"
    assert on_disk["scores"]["toy/direct"]["subtasks"] == {"add": 100.0, "sub": 0.0}
    assert not on_disk["normalized"]["complete"]  # the toy is no part of the paper's average
    report = (tmp_path / "report.md").read_text()
    assert "| toy/direct | 6 | 50.0 | 50.0 | 10.0 | – |" in report
    assert "### toy/direct" in report and "| sub | 0.0 |" in report
    samples = [json.loads(line) for line in open(tmp_path / "samples.jsonl")]
    assert [s["extracted"] for s in samples[:2]] == ["2", "3"]
    assert sum(s["correct"] for s in samples) == 3


def test_a_benchmark_asked_in_none_of_its_modes_is_not_run_and_says_why(toy, tmp_path):
    with pytest.raises(FlankitError, match="nothing to evaluate: toy: toy is asked directly only"):
        evaluate(AddingLM(), EvalConfig(benchmarks=["toy"], modes=["cot"]), tmp_path)


def test_the_paper_columns_come_from_the_registry_in_table_5_order():
    assert [(b, m) for b, m, _ in paper_parts()] == [
        ("mmlu", "direct"),
        ("mmlu", "cot"),
        ("bbh", "direct"),
        ("bbh", "cot"),
        ("tydiqa", "direct"),
        ("mgsm", "cot"),
    ]


def test_unknown_benchmark_names_the_closest():
    with pytest.raises(FlankitError, match="unknown benchmark 'mgms'.*did you mean mgsm"):
        benchmarks.get("mgms")
    with pytest.raises(FlankitError, match="unknown benchmark 'bbhh'.*did you mean bbh"):
        EvalConfig(benchmarks=["bbhh"])


def test_benchmark_options_are_typed_config_keys_and_flags():
    cfg = load_config(EvalConfig, None, ["mmlu_split=test", "bbh_subtasks=[navigate]"])
    assert options_of(cfg, "mmlu").split == "test"
    assert options_of(cfg, "bbh").subtasks == ["navigate"]
    assert options_of(cfg, "world_cloze").limit is None  # the cloze probe reads world_limit
    with pytest.raises(FlankitError, match="mmlu_split: 'dev' is not one of 'validation', 'test'"):
        load_config(EvalConfig, None, ["mmlu_split=dev"])
    args = parse_args(
        build_parser(), ["eval", "--model", "m", "--out", "o", "--mgsm-langs", "de,zh"]
    )
    job = _eval_flags(load_config(EvalJob, None, []), args)
    assert job.mgsm_langs == ["de", "zh"] and job.mmlu_split == "validation"
    assert job.benchmarks == ["mmlu", "bbh", "tydiqa", "mgsm"] and job.batch_size == 8


# ------------------------------------------------------------------ flankit eval CONFIG


def test_the_paper_recipe_loads_and_names_its_command():
    assert PAPER.read_text().startswith("# flankit eval configs/eval/flan_paper.yaml")
    job = load_config(EvalJob, PAPER, ["model=runs/x/final"])
    suite = job.suite()
    assert job.model == "runs/x/final" and isinstance(suite, EvalConfig)
    assert suite.benchmarks == ["mmlu", "bbh", "tydiqa", "mgsm"]
    assert suite.modes == ["direct", "cot"] and suite.self_consistency == 0


@pytest.mark.parametrize(
    "key, command",
    [
        ("steps=10", "`flankit train`"),
        ("optim.lr=1e-3", "`flankit train`"),
        ("data.data_root=x", "`flankit train`"),
        ("collections=[]", "`flankit data build`"),
    ],
)
def test_eval_config_refuses_other_commands_keys(key, command):
    name = key.split("=")[0].split(".")[0]
    with pytest.raises(FlankitError, match=f"{name} is used by {command}, not by `flankit eval`"):
        load_config(EvalJob, PAPER, [key])


def test_eval_config_refuses_an_unknown_key_with_the_closest(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("benchmarks: [bbh]\nbbh_subtask: [navigate]\n")
    with pytest.raises(
        FlankitError, match="unknown config key bbh_subtask.*did you mean bbh_subtasks"
    ):
        load_config(EvalJob, path)


def test_an_evaluation_suite_inside_a_training_config_has_no_job_keys():
    from flankit.train.loop import TrainConfig

    with pytest.raises(FlankitError, match="unknown config key eval_suite.model"):
        load_config(TrainConfig, None, ["eval_suite.model=x"])


def test_flags_override_the_config_and_overrides_override_the_file():
    argv = ["eval", str(PAPER), "model=DIR", "limit=5", "--benchmarks", "bbh", "--out", "o2"]
    args = parse_args(build_parser(), argv)
    job = _eval_flags(load_config(EvalJob, args.config, args.overrides), args)
    assert (job.model, job.limit, job.out, job.benchmarks) == ("DIR", 5, "o2", ["bbh"])
    assert job.modes == ["direct", "cot"]  # from the file


def test_a_job_without_a_model_or_output_says_which(tmp_path):
    with pytest.raises(FlankitError, match="eval needs a model"):
        run_job(load_config(EvalJob, PAPER, []))
    with pytest.raises(FlankitError, match="eval needs an output folder"):
        run_job(load_config(EvalJob, None, ["model=m"]), lm=AddingLM())


def test_run_job_evaluates_a_given_model(toy, tmp_path):
    job = load_config(EvalJob, None, [f"out={tmp_path}", "benchmarks=[toy]", "modes=[direct]"])
    res = run_job(job, lm=AddingLM(), progress=False)
    assert res["scores"]["toy/direct"]["macro"] == 50.0
    assert (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_flankit_eval_the_paper_recipe_with_a_model(tmp_path, shared, tiny_models, capsys):
    out = tmp_path / "ev"
    code = main(
        [
            "eval",
            str(PAPER),
            f"model={tiny_models['t5-tiny']}",
            "benchmarks=[bbh,mgsm]",
            "bbh_subtasks=[navigate]",
            "mgsm_langs=[de]",
            "limit=1",
            "max_new_tokens=4",
            f"data_root={shared}",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    assert sorted(res["scores"]) == ["bbh/cot", "bbh/direct", "mgsm/cot"]
    assert res["config"]["bbh_subtasks"] == ["navigate"] and res["config"]["limit"] == 1
    assert f"report: {out}/report.md" in capsys.readouterr().out
