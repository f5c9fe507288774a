import json

import pytest

from flankit.errors import FlankitError
from flankit.evals import extract
from flankit.evals.benchmarks import bbh, mgsm, mmlu, tydiqa
from flankit.evals.lm import GenRequest, cut_at_stop
from flankit.evals.metrics import normalized, normalized_average
from flankit.evals.runner import EvalConfig, evaluate, score

# ------------------------------------------------------------------ golden prompts


def test_bbh_cot_prompt_is_the_official_text_then_the_question(fixture_data):
    items = bbh.load(fixture_data / "bbh", ["cot", "direct"], limit=1, subtasks=["navigate"])
    cot = next(i for i in items if i.mode == "cot")
    raw = (fixture_data / "bbh/cot-prompts/navigate.txt").read_text()
    official = raw.split("-----\n", 1)[1].strip()
    question = json.loads((fixture_data / "bbh/bbh/navigate.json").read_text())["examples"][0][
        "input"
    ]
    assert cot.prompt == f"{official}\n\nQ: {question}\nA: Let's think step by step."
    direct = next(i for i in items if i.mode == "direct")
    assert (
        "Let's think step by step" not in direct.prompt
        and direct.prompt.count("\nA: No") + direct.prompt.count("\nA: Yes") == 3
    )
    assert direct.prompt.endswith(f"Q: {question}\nA:")
    assert cot.chance == 0.5


def test_bbh_has_27_subtasks_and_chance_from_the_answer_set(shared):
    items = bbh.load(shared / "bbh", ["direct"], limit=1)
    assert len({i.subtask for i in items}) == 27
    by = {i.subtask: i.chance for i in items}
    assert by["word_sorting"] == 1 / 250 and by["boolean_expressions"] == 0.5


def test_mmlu_cot_prompt_matches_flan_file_and_direct_format(fixture_data):
    items = mmlu.load(fixture_data / "mmlu", ["direct", "cot"], limit=1, subject_filter=["anatomy"])
    cot_text = json.loads((fixture_data / "mmlu/flan_cot_prompts/mmlu-cot.json").read_text())[
        "anatomy"
    ]
    cot = next(i for i in items if i.mode == "cot")
    assert cot.prompt.startswith(cot_text.rstrip() + "\n\nQ: ")
    assert cot.prompt.endswith("\nA: Let's think step by step.")
    direct = next(i for i in items if i.mode == "direct")
    assert direct.prompt.startswith(
        "The following are multiple choice questions (with answers) about anatomy.\n\nQ: "
    )
    assert direct.prompt.count("\nA: (") == 5 and direct.prompt.endswith("\nA:")
    assert "(A) " in direct.prompt and direct.gold in "ABCD"


def test_mmlu_splits_and_subject_count(shared):
    assert len(mmlu.subjects(shared / "mmlu")) == 57
    val = mmlu.load(shared / "mmlu", ["direct"], subject_filter=["college_chemistry"])
    test = mmlu.load(
        shared / "mmlu", ["direct"], split="test", subject_filter=["college_chemistry"]
    )
    assert len(val) == 11 and len(test) == 100


def test_mgsm_native_prompts(fixture_data):
    items = mgsm.load(fixture_data / "mgsm", ["cot"], limit=1, langs=["de", "zh"])
    de, zh = items
    ex = json.loads((fixture_data / "mgsm/exemplars.json").read_text())["MGSM_EXEMPLARS"]
    assert de.prompt.startswith(ex["de"]["1"]["q"] + "\n" + ex["de"]["1"]["a"] + "\n\n")
    assert de.prompt.endswith("\nSchritt-für-Schritt-Antwort:") and "\nFrage: " in de.prompt
    assert zh.prompt.endswith("\n逐步解答：") and "\n问题：" in zh.prompt
    assert de.gold == "18" and de.prompt.count("Die Antwort ") == 8  # "ist" and "lautet" both occur


def test_tydiqa_one_shot_prompt(tmp_path, fixture_data):
    shots = json.loads((fixture_data / "tydiqa/tydiqa-one-shot.json").read_text())
    fi = shots["finnish"][0]
    dev = {
        "data": [
            {
                "paragraphs": [
                    {
                        "context": "Helsinki on Suomen pääkaupunki.",
                        "qas": [
                            {
                                "id": "finnish-1-0",
                                "question": "Mikä on Suomen pääkaupunki?",
                                "answers": [{"text": "Helsinki", "answer_start": 0}],
                            }
                        ],
                    }
                ]
            }
        ]
    }
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(dev))
    (item,) = tydiqa.load(path, fixture_data / "tydiqa/tydiqa-one-shot.json")
    assert item.prompt.startswith(
        fi["context"].strip()
        + "\n\nQ: "
        + fi["question"]
        + "\n\nA: "
        + fi["answers"][0]["text"]
        + "\n\n"
    )
    assert item.prompt.endswith(
        "Helsinki on Suomen pääkaupunki.\n\nQ: Mikä on Suomen pääkaupunki?\n\nA:"
    )
    blank = {
        "data": [
            {
                "paragraphs": [
                    {
                        "context": "c",
                        "qas": [
                            {
                                "id": "finnish-2",
                                "question": "q",
                                "answers": [{"text": "", "answer_start": 0}],
                            }
                        ],
                    }
                ]
            }
        ]
    }
    path.write_text(json.dumps(blank))
    with pytest.raises(FlankitError, match="no gold answer"):
        tydiqa.load(path, fixture_data / "tydiqa/tydiqa-one-shot.json")


# ------------------------------------------------------------------ extraction


@pytest.mark.parametrize(
    "output, expected",
    [
        ("So the answer is (B). ", "B"),
        ("(B).", "B"),
        ("the answer is (c)", "C"),
        ("The answer is C.", "C"),
        ("Let's think step by step. The answer is (A). Wait, the answer is (D).", "D"),
        ("Answer: (d)", "D"),
        ("I am not sure.", None),
        ("", None),
        ("The correct option is the liver", "B"),
    ],
)
def test_letter_extraction(output, expected):
    assert (
        extract.extract_letter(output, "ABCD", ["heart", "the liver", "skin", "bone"]) == expected
    )


@pytest.mark.parametrize(
    "output, gold, ok",
    [
        ("Let's think. So the answer is No.  ", "No", True),
        ("so the answer is no", "No", True),
        ("So the answer is (B).", "(B)", True),
        ("So the answer is (B) Kirk Douglas.", "(B)", True),
        ("So the answer is valid. So the answer is invalid.", "invalid", True),
        ("So the answer is 24.", "42", False),
    ],
)
def test_bbh_cot_extraction(output, gold, ok):
    assert extract.bbh_match(extract.bbh_answer(output), gold) is ok


@pytest.mark.parametrize(
    "output, lang, expected",
    [
        ("5 + 6 = 11. Die Antwort ist 11.", "de", "11"),
        ("罗杰有 5 个球。答案是 11。", "zh", "11"),
        ("...উত্তর হল 11।", "bn", "11"),
        ("答えは11です。", "ja", "11"),
        ("The total is 2,125 dollars. The answer is 2,125.", "en", "2125"),
        ("La réponse est 5.600.", "fr", "5600"),
        ("Jibu ni 3. Kwa hiyo 7", "sw", "3"),
        ("no sentence here but 4 then 9", "de", "9"),
        ("nothing at all", "en", None),
    ],
)
def test_mgsm_number_extraction(output, lang, expected):
    assert extract.extract_number(output, lang) == expected


def test_squad_em_f1_and_stop_strings():
    assert extract.squad_em_f1("The Kigali.", ["Kigali"]) == (1.0, 1.0)
    em, f1 = extract.squad_em_f1("Kigali city", ["Kigali"])
    assert em == 0.0 and abs(f1 - 2 / 3) < 1e-9
    assert cut_at_stop("answer\n\nQ: next", ("\n\nQ:",)) == "answer"


def test_majority_vote_ties_break_to_first_seen():
    assert extract.majority_vote(["3", "4", None, "4", "3"]) == "3"
    assert extract.majority_vote(["5", None, "6", "6"]) == "6"
    assert extract.majority_vote([None, None]) is None


def test_normalized_average():
    assert normalized(55.0, 50.0) == pytest.approx(10.0) and normalized(
        45.0, 50.0
    ) == pytest.approx(-10.0)
    scores = {
        k: {"macro": 50.0, "random": r}
        for k, r in [
            ("mmlu/direct", 25),
            ("mmlu/cot", 25),
            ("bbh/direct", 20),
            ("bbh/cot", 20),
            ("tydiqa/direct", 0),
            ("mgsm/cot", 0),
        ]
    }
    out = normalized_average(scores)
    assert out["complete"] and out["average"] == pytest.approx(
        (100 / 3 * 2 + 37.5 * 2 + 50 * 2) / 6
    )


# ------------------------------------------------------------------ end to end on tiny models


class ScriptedLM:
    """A stand-in model that answers from a script, and counts calls."""

    name = "scripted"

    def __init__(self, answer: str, fail: bool = False):
        self.answer, self.fail, self.calls = answer, fail, 0

    def generate(self, requests: list[GenRequest]) -> list[str]:
        if self.fail:
            raise AssertionError("should have come from the cache")
        self.calls += len(requests)
        return [self.answer] * len(requests)

    def loglikelihood(self, requests):
        return [0.0] * len(requests)


def test_cache_means_a_rerun_recomputes_nothing(tmp_path, shared):
    cfg = EvalConfig(
        benchmarks=["bbh"],
        modes=["direct"],
        limit=2,
        bbh_subtasks=["navigate", "snarks"],
        data_root=str(shared),
    )
    first = ScriptedLM("No")
    r1 = evaluate(first, cfg, tmp_path, progress=False)
    assert first.calls == 4
    r2 = evaluate(ScriptedLM("No", fail=True), cfg, tmp_path, progress=False)
    assert r1["scores"] == r2["scores"]
    # navigate golds for the first two items decide the score exactly
    golds = [json.loads(line)["gold"] for line in open(tmp_path / "samples.jsonl")]
    assert r1["scores"]["bbh/direct"]["subtasks"]["navigate"] == 100.0 * golds[:2].count("No") / 2


def test_self_consistency_votes(tmp_path, shared):
    class Voting(ScriptedLM):
        def generate(self, requests):
            return [
                "The answer is 18." if r.temperature == 0 or r.seed != 1 else "The answer is 7."
                for r in requests
            ]

    cfg = EvalConfig(
        benchmarks=["mgsm"],
        modes=["cot"],
        limit=1,
        mgsm_langs=["en"],
        self_consistency=3,
        data_root=str(shared),
    )
    res = evaluate(Voting("x"), cfg, tmp_path, progress=False)
    sample = json.loads(open(tmp_path / "samples.jsonl").readline())
    assert (
        sample["sc_votes"] == ["18", "7", "18"]
        and sample["sc_answer"] == "18"
        and sample["sc_correct"]
    )
    assert res["scores"]["mgsm/cot+sc"]["macro"] == 100.0


def test_empty_outputs_are_counted_not_fatal(tmp_path, shared):
    cfg = EvalConfig(
        benchmarks=["mmlu"],
        modes=["direct"],
        limit=1,
        mmlu_subjects=["anatomy"],
        data_root=str(shared),
    )
    res = evaluate(ScriptedLM(""), cfg, tmp_path, progress=False)
    assert res["empty_outputs"] == 1 and res["scores"]["mmlu/direct"]["macro"] == 0.0


def test_missing_and_malformed_data(tmp_path, shared):
    with pytest.raises(FlankitError, match="MGSM exemplars not found"):
        mgsm.load(tmp_path, ["cot"])
    (tmp_path / "dev").mkdir()
    (tmp_path / "val_prerelease").mkdir()
    (tmp_path / "dev" / "x_dev.csv").write_text("q,a,b,c,d,A\n")
    (tmp_path / "val_prerelease" / "x_val.csv").write_text("q,a,b,c,d,A\nq2,a,b,c\n")
    with pytest.raises(FlankitError, match="x_val.csv:2: task mmlu/x: expected 6 columns"):
        mmlu.load(tmp_path, ["direct"])


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["t5-tiny", "llama-tiny"])
def test_end_to_end_tiny_random_models(tmp_path, shared, tiny_models, shape):
    from flankit.cli import main

    dev = tmp_path / "tydiqa.json"
    shots = json.loads((shared / "tydiqa/tydiqa-one-shot.json").read_text())
    dev.write_text(
        json.dumps(
            {
                "data": [
                    {
                        "paragraphs": [
                            {
                                "context": x["context"],
                                "qas": [
                                    {
                                        "id": x["id"],
                                        "question": x["question"],
                                        "answers": x["answers"],
                                    }
                                ],
                            }
                        ]
                    }
                    for xs in shots.values()
                    for x in xs
                ]
            }
        )
    )
    out = tmp_path / "ev"
    code = main(
        [
            "eval",
            "--model",
            str(tiny_models[shape]),
            "--benchmarks",
            "mmlu,bbh,tydiqa,mgsm",
            "--limit",
            "1",
            "--mmlu-subjects",
            "anatomy",
            "--bbh-subtasks",
            "navigate",
            "--mgsm-langs",
            "de,en",
            "--tydiqa-dev",
            str(dev),
            "--data-root",
            str(shared),
            "--out",
            str(out),
            "--max-input-length",
            "256",
            "-q",
        ]
    )
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["scores"]) == {
        "mmlu/direct",
        "mmlu/cot",
        "bbh/direct",
        "bbh/cot",
        "tydiqa/direct",
        "mgsm/cot",
    }
    assert (
        res["scores"]["tydiqa/direct"]["n"] == 9
        and "english_separately" in res["scores"]["tydiqa/direct"]
    )
    assert res["scores"]["mgsm/cot"]["subtasks"].keys() == {"de", "en"}
    assert res["truncated_prompts"] > 0 and res["normalized"]["complete"]
    assert res["prompt_versions"]["bbh"] == bbh.PROMPT_VERSION and "transformers" in res["versions"]
    samples = [json.loads(line) for line in open(out / "samples.jsonl")]
    assert len(samples) == 2 + 2 + 9 + 2 and all(
        {"prompt", "output", "extracted", "gold", "correct"} <= set(s) for s in samples
    )
    assert "Flan-T5-XL (paper)" in (out / "report.md").read_text()


@pytest.mark.slow
def test_loglikelihood_scoring_for_mmlu(tmp_path, shared, tiny_models):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from flankit.evals.lm import HFLM

    path = tiny_models["t5-tiny"]
    lm = HFLM(
        AutoModelForSeq2SeqLM.from_pretrained(path),
        AutoTokenizer.from_pretrained(path),
        name="t5",
        device="cpu",
    )
    ll = lm.loglikelihood([("Q: x\nA:", " (A)"), ("Q: x\nA:", " (B)")])
    assert len(ll) == 2 and all(v < 0 for v in ll)
    cfg = EvalConfig(
        benchmarks=["mmlu"],
        modes=["direct"],
        limit=2,
        mmlu_subjects=["anatomy"],
        mmlu_scoring="loglikelihood",
        data_root=str(shared),
    )
    res = evaluate(lm, cfg, tmp_path, progress=False)
    assert res["scores"]["mmlu/direct"]["n"] == 2


def test_score_rules():
    from flankit.evals.benchmarks import Item

    it = Item("synthetic", "held_out/x/zs", "1", "cot", "p", "18", "synthetic")
    assert score(it, "Reasoning: 9 + 9 = 18.\nAnswer: 18")[1]
    assert score(it, "First ... So the answer is 18.")[1]


@pytest.mark.slow
def test_two_process_eval_merges_to_the_single_process_result(
    tmp_path, shared, tiny_models, launch
):
    import subprocess
    import sys

    args = [
        "eval",
        "--model",
        str(tiny_models["t5-tiny"]),
        "--benchmarks",
        "bbh",
        "--modes",
        "direct",
        "--limit",
        "3",
        "--bbh-subtasks",
        "navigate,snarks",
        "--data-root",
        str(shared),
        "--max-input-length",
        "128",
        "-q",
    ]
    one = subprocess.run(
        [sys.executable, "-m", "flankit.cli", *args, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    two = launch(*args, "--out", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "two").glob("cache-rank*.jsonl")) == [
        "cache-rank0.jsonl",
        "cache-rank1.jsonl",
    ]
    r1 = json.loads((tmp_path / "one" / "results.json").read_text())
    r2 = json.loads((tmp_path / "two" / "results.json").read_text())
    assert r1["scores"] == r2["scores"]
    s1 = [json.loads(line)["output"] for line in open(tmp_path / "one" / "samples.jsonl")]
    s2 = [json.loads(line)["output"] for line in open(tmp_path / "two" / "samples.jsonl")]
    assert s1 == s2


def test_truncated_prompts_survive_a_torn_cache_with_a_real_model(tmp_path, shared, tiny_models):
    from flankit.evals.lm import HFLM
    from flankit.models import ModelSpec

    cfg = EvalConfig(
        benchmarks=["bbh"],
        modes=["direct"],
        limit=2,
        bbh_subtasks=["boolean_expressions", "navigate"],  # ~200 and ~750 tokens
        data_root=str(shared),
        max_new_tokens=4,
    )

    def lm():  # batch 1, so a recomputed request decodes exactly as in the first run
        return HFLM.load(
            ModelSpec(path=str(tiny_models["t5-tiny"])),
            batch_size=1,
            max_input_length=400,
            device="cpu",
        )

    whole = evaluate(lm(), cfg, tmp_path / "whole", progress=False)
    assert whole["truncated_prompts"] == 2  # the navigate prompts
    out = tmp_path / "torn"
    out.mkdir()
    lines = (tmp_path / "whole" / "cache.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) == 4
    (out / "cache.jsonl").write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    again = lm()
    res = evaluate(again, cfg, out, progress=False)
    assert again.truncated <= 1  # only the torn request was computed
    assert res["truncated_prompts"] == whole["truncated_prompts"]
    assert res["scores"] == whole["scores"]
    assert (out / "samples.jsonl").read_text() == (tmp_path / "whole" / "samples.jsonl").read_text()
