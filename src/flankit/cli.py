"""`flankit <verb>`: parse arguments, then call one library function. Imports are lazy."""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from pathlib import Path

from flankit.errors import FlankitError, describe_failure, suggest


def _data_ls(args: argparse.Namespace) -> int:
    from flankit.data.collections import KINDS, CollectionSpec, load_collection
    from flankit.data.sources import BadRows

    if args.collection and args.collection not in KINDS and not args.path:
        raise FlankitError(
            f"unknown collection {args.collection!r}",
            hint=suggest(args.collection, list(KINDS))
            + "; a collection of your own needs --path to its YAML file",
        )
    names = [args.collection] if args.collection else list(KINDS)
    for name in names:
        bad, excluded = BadRows(skip=True), {}
        try:
            tasks = load_collection(
                CollectionSpec(name=name, path=args.path), args.data_root, bad, excluded
            )
        except FlankitError as exc:
            if args.collection:  # the one collection asked for: a failure, not a listing
                raise
            print(f"{name}: not available ({exc})")
            continue
        n = sum(len(t) for t in tasks)
        print(
            f"{name}: {len(tasks)} tasks, {n:,} examples"
            + (f", {len(excluded)} held out as benchmark sources" if excluded else "")
            + (f", {bad.total} bad rows skipped" if bad.total else "")
        )
        for sample in bad.samples[:5]:
            print(f"  skipped: {sample}")
        if bad.total > 5:
            print(f"  ... and {bad.total - 5} more skipped rows")
        if args.collection or args.verbose:
            for t in tasks:
                kinds = [k for k in ("cot", "inverted") if t.by_kind[k]]
                flags = ", ".join(
                    [f"{len(t.templates)} templates"]
                    + (["options"] if t.has_options else [])
                    + kinds
                    + (["held out"] if t.meta.get("held_out") else [])
                )
                print(f"  {t.name:<50} {len(t):>7,}  {flags}")
    return 0


def _comma_list(text: str, choices, what: str) -> list[str]:
    """A comma list whose every entry is one of `choices`, or a FlankitError with a suggestion."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    for item in items:
        if item not in choices:
            raise FlankitError(f"unknown {what} {item!r}", hint=suggest(item, choices))
    return items


def _data_show(args: argparse.Namespace) -> int:
    from flankit.data.collections import find_task
    from flankit.data.sources import BadRows
    from flankit.data.tasks import Variant, render_example

    bad = BadRows(skip=True)
    task = find_task(args.task, args.data_root, bad, collection=args.collection, path=args.path)
    if args.cot and not task.supports_cot:
        raise FlankitError(
            "this task has no chain-of-thought rationales", task=task.name, hint="drop --cot"
        )
    if args.inverted and not task.supports_inversion:
        raise FlankitError(
            "this task has no input-inversion templates", task=task.name, hint="drop --inverted"
        )
    variant = Variant(args.format, cot=args.cot, inverted=args.inverted)
    for i in range(min(args.n, len(task))):
        idx = (args.start + i) % len(task)
        r = render_example(task, idx, variant, seed=args.seed, max_shots=args.max_shots)
        rule = "=" * 78
        print(
            f"{rule}\n{task.name} #{idx}  template={r.template}  format={r.format}  "
            f"cot={r.cot}  inverted={r.inverted}  shots={r.shots}\n{rule}"
        )
        print("--- inputs ---")
        print(r.inputs)
        print("--- targets ---")
        print(r.targets)
        print()
    return 0


def _data_build(args: argparse.Namespace) -> int:
    from flankit.config import load_config
    from flankit.data.build import DataConfig, build

    overrides = list(args.overrides)
    if args.num_proc is not None:
        overrides.append(f"num_proc={args.num_proc}")
    if args.skip_bad_rows:
        overrides.append("skip_bad_rows=true")
    if args.format:
        overrides.append(f"output.format={args.format}")
    cfg = load_config(DataConfig, args.config, overrides)
    stats = build(cfg, args.out, progress=not args.quiet)
    tok = stats.get("tokens")
    print(f"wrote {stats['examples']:,} examples in {stats['seconds']:.1f} s to {args.out}/")
    if tok:
        eff = tok["efficiency"]
        print(f"packed into {tok.get('rows', 0):,} rows ({tok['layout']}), efficiency {eff:.3f}")
    if stats["bad_rows_total"]:
        print(f"skipped {stats['bad_rows_total']} bad rows (see stats.json)")
    print(f"report: {args.out}/summary.md")
    return 0


def _verify_checkpoints(folder: str) -> int:
    from flankit.train.checkpoint import verify_checkpoints

    report = verify_checkpoints(Path(folder))
    for ckpt, problem in report:
        print(f"{ckpt}: {'ok' if problem is None else 'DAMAGED: ' + problem}")
    return 1 if any(problem for _, problem in report) else 0


def _train(args: argparse.Namespace) -> int:
    from flankit.config import load_config
    from flankit.train.loop import TrainConfig, train

    if args.verify_checkpoints:
        return _verify_checkpoints(args.verify_checkpoints)
    if args.config is None:
        raise FlankitError("train needs a config file (or --verify-checkpoints DIR)")
    cfg = load_config(TrainConfig, args.config, list(args.overrides))
    from flankit.suite import suite_evaluator

    result = train(cfg, resume=args.resume, progress=not args.quiet, evaluate=suite_evaluator(cfg))
    if os.environ.get("RANK", "0") != "0":
        return 0
    print(
        f"trained {result['steps']} steps on {result['processes']} process(es); final loss {result['loss']:.4f}"
        + (
            f", held-out loss {result['heldout_loss']:.4f} (best at step {result['best_step']})"
            if result["heldout_loss"] is not None
            else ""
        )
    )
    print(f"model: {result['final']}" + (f"  best: {result['best']}" if result["best"] else ""))
    return 0


def _model_spec(model: str, gguf: str | None, trust_remote_code: bool):
    from flankit.models import ModelSpec

    path = Path(model)
    if path.suffix == ".gguf" and not gguf:
        return ModelSpec(
            path=str(path.parent), gguf_file=path.name, trust_remote_code=trust_remote_code
        )
    return ModelSpec(path=model, gguf_file=gguf, trust_remote_code=trust_remote_code)


def _eval(args: argparse.Namespace) -> int:
    from flankit.data.sources import BadRows
    from flankit.evals.lm import HFLM
    from flankit.evals.runner import EvalConfig, build_items, evaluate, finish

    cfg = EvalConfig(
        benchmarks=_comma_list(args.benchmarks, _benchmarks(), "benchmark"),
        modes=_comma_list(args.modes, ("direct", "cot"), "mode"),
        limit=args.limit,
        self_consistency=args.self_consistency,
        sc_temperature=args.temperature,
        mmlu_split=args.mmlu_split,
        mmlu_scoring=args.mmlu_scoring,
        tydiqa_dev=args.tydiqa_dev,
        data_root=args.data_root,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        mmlu_subjects=args.mmlu_subjects.split(",") if args.mmlu_subjects else None,
        bbh_subtasks=args.bbh_subtasks.split(",") if args.bbh_subtasks else None,
        mgsm_langs=args.mgsm_langs.split(",") if args.mgsm_langs else None,
        skip_bad_rows=args.skip_bad_rows,
    )
    build_items(cfg)  # fail on bad data before loading the model
    if args.backend == "vllm":
        from flankit.evals.vllm_lm import VLLMLM
        from flankit.models import hub_access

        hub_access(args.model)  # a missing folder or no network fails here, not inside vLLM
        lm = VLLMLM(
            args.model,
            max_input_length=args.max_input_length,
            tensor_parallel_size=args.tensor_parallel_size,
            trust_remote_code=args.trust_remote_code,
        )
    else:
        lm = HFLM.load(
            _model_spec(args.model, args.gguf_file, args.trust_remote_code),
            max_input_length=args.max_input_length,
            batch_size=args.batch_size,
        )
    # Under `accelerate launch` (or torchrun, or mpirun) each process scores its share of items.
    state = _distributed_state()
    if state is not None:
        rank, world = state.process_index, state.num_processes
        evaluate(lm, cfg, args.out, progress=not args.quiet and rank == 0, shard=(rank, world))
        state.wait_for_everyone()
        if rank != 0:
            return 0
        bad = BadRows(skip=cfg.skip_bad_rows)
        items, skipped = build_items(cfg, bad)
        results = finish(items, cfg, Path(args.out), lm.name, skipped, 0.0, bad)
    else:
        results = evaluate(lm, cfg, args.out, progress=not args.quiet)
    for name, e in results["scores"].items():
        print(f"{name:<22} {e['macro']:6.1f}  (n={e['n']})")
    if results["normalized"]["complete"]:
        print(f"normalized average {results['normalized']['average']:.1f}")
    for k, v in results["skipped"].items():
        print(f"not run: {k}: {v}")
    print(f"report: {args.out}/report.md")
    return 0


def _distributed_state():
    """accelerate's view of the launch when it started several processes, else None."""
    launched = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
    if all(int(os.environ.get(k, "1")) <= 1 for k in launched):
        return None
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _generate(args: argparse.Namespace) -> int:
    from flankit.evals.lm import HFLM, GenRequest

    lm = HFLM.load(_model_spec(args.model, args.gguf_file, args.trust_remote_code))
    (text,) = lm.generate(
        [GenRequest(args.prompt, args.max_new_tokens, temperature=args.temperature, seed=args.seed)]
    )
    print(text)
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    from flankit.quickstart import run

    run(
        args.out,
        steps=args.steps,
        pretrain_steps=args.pretrain_steps,
        data=args.data,
        model=args.model,
        shape=args.shape,
        seed=args.seed,
        eval_limit=args.eval_limit,
        rehearsal=args.rehearsal,
        progress=not args.quiet,
    )
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from flankit.sweep import load_sweep_config, run_sweep

    cfg = load_sweep_config(args.config, list(args.overrides))
    if args.dry_run:
        from flankit.sweep_plan import format_plan, plan

        print(format_plan(plan(cfg)))
        return 0
    rows = run_sweep(cfg, progress=not args.quiet)
    print(f"{len(rows)} runs collected: {cfg.out_dir}/sweep.md")
    return 0


def _report(args: argparse.Namespace) -> int:
    from flankit import quoted
    from flankit.sweep import collect, write_report

    if args.quickstart:
        import shutil

        dest = Path(args.out or "docs/study")
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("quickstart.json", "comparison.png"):
            shutil.copy(Path(args.quickstart) / name, dest / name)
        print(f"quickstart results: {dest}/quickstart.json")
    if args.dirs:
        _report_sweeps(args, collect, write_report)
    if args.docs:
        if args.check:
            stale = quoted.check(args.root)
            for line in stale:
                print(line)
            return 1 if stale else 0
        changed = quoted.rewrite(args.root)
        print(
            f"{quoted.count_passages(args.root)} generated passages; rewritten: {', '.join(changed) or 'none'}"
        )
    elif not (args.dirs or args.quickstart):
        raise FlankitError(
            "nothing to report", hint="give sweep folders, --quickstart DIR or --docs"
        )
    return 0


def _report_sweeps(args: argparse.Namespace, collect, write_report) -> None:
    rows = collect([Path(d) for d in args.dirs])
    if not rows:
        raise FlankitError(
            "no sweep results under " + ", ".join(args.dirs),
            hint="give a sweep folder: one with runs/NAME/eval/results.json, or with sweep.json",
        )
    out = Path(args.out or args.dirs[0])
    out.mkdir(parents=True, exist_ok=True)
    write_report(rows, out)
    print(f"{len(rows)} runs: {out}/sweep.md")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, unless it has none worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or any(
            action.default is x for x in (None, False, argparse.SUPPRESS)
        ):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text + " (default: %(default)s)"
        return text


def _verb(verbs, name: str, summary: str, description: str, **kw) -> argparse.ArgumentParser:
    """A sub-command with a one-line summary (in `flankit --help`) and a description (in its own)."""
    sub = verbs.add_parser(
        name, help=summary, description=description, formatter_class=_HelpFormatter, **kw
    )
    sub.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full Python traceback when something fails",
    )
    return sub


OVERRIDES_HELP = "config overrides key.sub=value, before or after the options"


def _data_root_parser() -> argparse.ArgumentParser:
    """The `--data-root` option shared by the data commands and eval."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-root",
        help="folder with flan_cot/, bigbench/, niv2/, bbh/, mmlu/, ... "
        "(default: $FLANKIT_DATA, else ../shared/data)",
    )
    return common


def _model_parser() -> argparse.ArgumentParser:
    """The model options shared by eval and generate."""
    model_args = argparse.ArgumentParser(add_help=False)
    model_args.add_argument(
        "--model", required=True, help="hub id, local model folder, or a .gguf file"
    )
    model_args.add_argument("--gguf-file", help="GGUF file name inside --model's folder")
    model_args.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow the model's own Python code (off: only transformers' code runs)",
    )
    return model_args


def _add_quickstart(verbs) -> None:
    qs = _verb(
        verbs,
        "quickstart",
        "the whole system in one command: data, training, evaluation, report",
        "Pretrain a small T5 on the text of a miniature world (cached by config), finetune it\n"
        "on held-in instruction families about that world, evaluate the pretrained and the\n"
        "finetuned model on held-in and held-out families (zero- and few-shot, direct and\n"
        "CoT), and write report.md with the comparison table and plots.\n"
        "Needs no GPU, no model hub and no data download.",
    )
    qs.add_argument("--out", default="out/quickstart", help="output folder")
    qs.add_argument("--steps", type=int, default=300, help="instruction-finetuning steps")
    qs.add_argument(
        "--data",
        metavar="CONFIG",
        help="a data config (YAML) to finetune on instead of the world's families",
    )
    qs.add_argument(
        "--model",
        metavar="PATH",
        help="a pretrained model (hub id or folder) instead of pretraining one",
    )
    qs.add_argument(
        "--pretrain-steps",
        type=int,
        default=400,
        help="pretraining steps on the world's text (cached by config)",
    )
    qs.add_argument(
        "--shape", default="t5-tiny", help="random-init shape (t5-tiny, t5-mini, t5-small, ...)"
    )
    qs.add_argument("--seed", type=int, default=0, help="seed for data order and initialisation")
    qs.add_argument(
        "--eval-limit", type=int, default=None, help="people per family evaluated (default: all)"
    )
    qs.add_argument(
        "--rehearsal",
        type=float,
        default=0.5,
        help="share of finetuning rows that rehearse the pretraining text (0: none)",
    )
    qs.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    qs.set_defaults(func=_quickstart)


def _add_data(verbs) -> None:
    data = _verb(
        verbs,
        "data",
        "instruction data: list, show and build mixtures",
        "List the instruction collections, render examples of one task, or build a mixture\n"
        "into text and token shards with a report.",
    )
    data_verbs = data.add_subparsers(
        dest="data_verb", required=True, metavar="ACTION", help="ls, show or build"
    )
    common = _data_root_parser()

    ls = _verb(
        data_verbs,
        "ls",
        "collections and their tasks with counts",
        "Without a name: every builtin collection with its task and example counts.\n"
        "With a name: that collection's tasks, templates and kinds.",
        parents=[common],
    )
    ls.add_argument("collection", nargs="?", help="list this collection's tasks")
    ls.add_argument("--path", help="the collection's folder or YAML file")
    ls.add_argument("-v", "--verbose", action="store_true", help="list tasks of every collection")
    ls.set_defaults(func=_data_ls)

    show = _verb(
        data_verbs,
        "show",
        "render examples of one task",
        "Print examples of one task as the mixture renders them (template, format, shots).",
        parents=[common],
    )
    show.add_argument(
        "task", help="[COLLECTION/]TASK, e.g. cot/cot_gsm8k, bb_anachronisms, synthetic/syn_add"
    )
    show.add_argument("--collection", help="the task's collection (else found from its name)")
    show.add_argument("--path", help="the collection's folder or YAML file")
    show.add_argument(
        "--format",
        default="zsopt",
        choices=["zsopt", "zsnoopt", "fsopt", "fsnoopt"],
        help="zero-/few-shot, with/without answer options",
    )
    show.add_argument("--cot", action="store_true", help="chain-of-thought templates")
    show.add_argument("--inverted", action="store_true", help="input-inversion templates")
    show.add_argument("-n", type=int, default=3, help="how many examples")
    show.add_argument("--start", type=int, default=0, help="first example index")
    show.add_argument("--seed", type=int, default=0, help="seed for template and exemplar draws")
    show.add_argument("--max-shots", type=int, default=5, help="most few-shot exemplars")
    show.set_defaults(func=_data_show)

    bld = _verb(
        data_verbs,
        "build",
        "build a mixture into shards with a report",
        "Read the collections of a data config, hold out benchmark sources, decontaminate,\n"
        "mix, render, and (with features.tokenizer) tokenize and pack; write data/, tokens/,\n"
        "stats.json and summary.md.",
    )
    bld.add_argument("config", help="YAML data config (see configs/data/)")
    bld.add_argument(
        "overrides", nargs="*", help=OVERRIDES_HELP + ", e.g. mixture.num_examples=1000"
    )
    bld.add_argument("--out", required=True, help="output folder")
    bld.add_argument(
        "--num-proc", type=int, help="worker processes (default: the config's num_proc)"
    )
    bld.add_argument("--skip-bad-rows", action="store_true", help="skip and count malformed rows")
    bld.add_argument(
        "--format", choices=["jsonl", "parquet"], help="text shard format (default: the config's)"
    )
    bld.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    bld.set_defaults(func=_data_build)


def _add_train(verbs) -> None:
    tr = _verb(
        verbs,
        "train",
        "finetune a model on a mixture (configs/train/*.yaml)",
        "Train on a mixture with packed rows, checkpoints, held-out loss and exports (final/,\n"
        "best/). Under `accelerate launch` it trains on every process.",
    )
    tr.add_argument("config", nargs="?", help="YAML training config")
    tr.add_argument("overrides", nargs="*", help=OVERRIDES_HELP + ", e.g. steps=100 optim.lr=1e-3")
    tr.add_argument(
        "--resume", action="store_true", help="continue from the newest readable checkpoint"
    )
    tr.add_argument(
        "--verify-checkpoints",
        metavar="DIR",
        help="check every checkpoint in DIR (or DIR/checkpoints) against its checksums; no training",
    )
    tr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=_train)


def _add_eval(verbs) -> None:
    model_args, common = _model_parser(), _data_root_parser()

    ev = _verb(
        verbs,
        "eval",
        "evaluate on MMLU, BBH, TyDiQA, MGSM (the paper's protocol)",
        "Evaluate a model with the paper's prompts and scoring; write results.json,\n"
        "samples.jsonl and report.md (beside the paper's Table 5). Finished requests are\n"
        "cached, so a rerun of a killed command recomputes none of them.",
        parents=[model_args, common],
    )
    ev.add_argument(
        "--benchmarks",
        default="mmlu,bbh,tydiqa,mgsm",
        help="comma list of " + ",".join(_benchmarks()),
    )
    ev.add_argument("--modes", default="direct,cot", help="comma list of direct, cot")
    ev.add_argument(
        "--limit", type=int, help="items per subject / subtask / language (default: all)"
    )
    ev.add_argument(
        "--self-consistency",
        type=int,
        default=0,
        metavar="K",
        help="K sampled CoT paths, majority vote (0: greedy only)",
    )
    ev.add_argument(
        "--temperature", type=float, default=0.7, help="sampling temperature for self-consistency"
    )
    ev.add_argument(
        "--mmlu-split", default="validation", choices=["validation", "test"], help="MMLU split"
    )
    ev.add_argument(
        "--mmlu-scoring",
        default="generate",
        choices=["generate", "loglikelihood"],
        help="direct MMLU: generate and extract a letter, or pick the likeliest option",
    )
    ev.add_argument("--mmlu-subjects", help="comma list of MMLU subjects (default: all 57)")
    ev.add_argument("--bbh-subtasks", help="comma list of BBH subtasks (default: all 27)")
    ev.add_argument("--mgsm-langs", help="comma list of MGSM languages (default: all)")
    ev.add_argument(
        "--tydiqa-dev", help="TyDiQA-GoldP dev set: a SQuAD JSON path, or 'hub' (needs network)"
    )
    ev.add_argument(
        "--max-input-length",
        type=int,
        help="prompt tokens kept, cut from the left (default: 2048 for T5, else the model's)",
    )
    ev.add_argument("--batch-size", type=int, default=8, help="requests per forward pass")
    ev.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="skip and count malformed benchmark rows (results.json: bad_rows)",
    )
    ev.add_argument(
        "--backend",
        default="hf",
        choices=["hf", "vllm"],
        help="hf: transformers (both families); vllm: a vLLM engine (decoder models, GPU)",
    )
    ev.add_argument(
        "--tensor-parallel-size", type=int, default=1, help="GPUs per model (vllm backend)"
    )
    ev.add_argument(
        "--max-new-tokens",
        type=int,
        help="cap on generated tokens per item (default: per benchmark)",
    )
    ev.add_argument(
        "--out", required=True, help="output folder (results.json, samples.jsonl, report.md)"
    )
    ev.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=_eval)


def _add_sweep(verbs) -> None:
    sw = _verb(
        verbs,
        "sweep",
        "a grid of training runs (tasks, model size, CoT, rates), each evaluated",
        "Train and evaluate every point of a grid, skipping finished runs and resuming\n"
        "unfinished ones; write sweep.json, sweep.md and plots.",
    )
    sw.add_argument("config", help="YAML sweep config (configs/sweep/)")
    sw.add_argument("overrides", nargs="*", help=OVERRIDES_HELP + ", e.g. steps=100")
    sw.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sw.add_argument(
        "--dry-run",
        action="store_true",
        help="list each run's mixture, task count and example budget; train nothing",
    )
    sw.set_defaults(func=_sweep)


def _add_report(verbs) -> None:
    rp = _verb(
        verbs,
        "report",
        "rebuild sweep tables, plots and the documents' numbers from result files",
        "Re-render sweep.md and the plots from sweep folders: their runs/ when present, else\n"
        "the sweep.json they hold (so a committed study re-renders from its results alone).",
    )
    rp.add_argument("dirs", nargs="*", help="sweep output folders")
    rp.add_argument(
        "--out", help="where to write sweep.md and the plots (default: the first folder)"
    )
    rp.add_argument("--quickstart", help="a quickstart output folder to copy results from")
    rp.add_argument(
        "--docs",
        action="store_true",
        help="regenerate the numbers README.md, docs/STUDY.md and benchmarks/RESULTS.md quote",
    )
    rp.add_argument("--check", action="store_true", help="with --docs: only list stale passages")
    rp.add_argument("--root", default=".", help="repository root for --docs (default .)")
    rp.set_defaults(func=_report)


def _add_generate(verbs) -> None:
    model_args = _model_parser()

    gen = _verb(
        verbs,
        "generate",
        "try a model on one prompt",
        "Generate a continuation of one prompt and print it.",
        parents=[model_args],
    )
    gen.add_argument("prompt", help="the text the model continues (quote it)")
    gen.add_argument("--max-new-tokens", type=int, default=64, help="most tokens generated")
    gen.add_argument(
        "--temperature",
        type=float,
        default=0.0,
        help="0: greedy; above 0: sampled at this temperature",
    )
    gen.add_argument("--seed", type=int, default=0, help="seed for sampling")
    gen.set_defaults(func=_generate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flankit",
        description="Instruction-finetune and evaluate language models the Flan way.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--debug", action="store_true", help="show the full Python traceback when something fails"
    )
    verbs = parser.add_subparsers(
        dest="verb", metavar="COMMAND", help="`flankit COMMAND --help` for its options"
    )
    for add in (
        _add_quickstart,
        _add_data,
        _add_train,
        _add_eval,
        _add_sweep,
        _add_report,
        _add_generate,
    ):
        add(verbs)
    return parser


def _benchmarks() -> tuple[str, ...]:
    from flankit.evals.benchmarks import BENCHMARKS

    return BENCHMARKS


OVERRIDE = re.compile(r"^[A-Za-z_][\w.\[\]-]*=")


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse with `key=value` overrides allowed anywhere after the command, options included."""
    args, extra = parser.parse_known_args(argv)
    overrides = [a for a in extra if OVERRIDE.match(a)]
    unknown = [a for a in extra if not OVERRIDE.match(a)]
    if overrides and not hasattr(args, "overrides"):
        unknown += overrides
    if unknown:
        parser.error("unrecognized arguments: " + " ".join(unknown))
    if overrides:
        args.overrides = list(args.overrides) + overrides
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    if args.version:
        from flankit import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("flankit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        command = " ".join(v for v in (args.verb, getattr(args, "data_verb", None)) if v)
        print(f"flankit: error: {describe_failure(exc, command)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
