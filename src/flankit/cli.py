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
    from flankit.data.collections import KINDS, CollectionSpec
    from flankit.data.collections.counts import collection_counts, count

    if args.collection and args.collection not in KINDS and not args.path:
        raise FlankitError(
            f"unknown collection {args.collection!r}",
            hint=suggest(args.collection, list(KINDS))
            + "; a collection of your own needs --path to its YAML file",
        )
    names = [args.collection] if args.collection else list(KINDS)
    for name in names:
        if _catalog_listed(name, args):
            continue
        if args.catalog:
            continue
        spec = CollectionSpec(name=name, path=args.path)
        detail = bool(args.collection or args.verbose)
        try:
            if detail:
                counts, tasks = count(spec, args.data_root)
            else:
                counts = collection_counts(spec, args.data_root)  # cached by its files
        except FlankitError as exc:
            if args.collection:  # the one collection asked for: a failure, not a listing
                raise
            print(f"{name}: not available ({exc})")
            continue
        print(
            f"{name}: {counts.tasks} tasks, {counts.examples:,} examples"
            + (f", {counts.excluded} held out as benchmark sources" if counts.excluded else "")
            + (f", {counts.bad_total} bad rows skipped" if counts.bad_total else "")
        )
        for sample in counts.bad_samples[:5]:
            print(f"  skipped: {sample}")
        if counts.bad_total > 5:
            print(f"  ... and {counts.bad_total - 5} more skipped rows")
        if detail:
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


def _catalog_listed(name: str, args: argparse.Namespace) -> bool:
    """List a kind that has an offline catalog (the Flan 2022 kinds) from it, reading no data:
    one summary line, or with a name (or -v) a row per task. False for other kinds."""
    import importlib

    from flankit.data.collections import KINDS, CollectionSpec, data_root

    module = importlib.import_module(KINDS[name]) if name in KINDS else None
    if module is None or not hasattr(module, "catalog"):
        return False
    if name == "flan_submix" and not args.collection:
        return True  # its five named submixes are listed on their own
    rows = module.catalog(CollectionSpec(name=name, path=args.path), data_root(args.data_root))
    tasks = [r for r in rows if r["collection"] == name or name == "flan_submix"]
    present = sum(1 for r in tasks if r["present"])
    if tasks and tasks[0]["templates"] == "pre-rendered":
        print(
            f"{name}: published submix, {'present' if present else 'absent'}: {tasks[0]['source']}"
        )
        return True
    print(f"{name}: {len(tasks)} tasks in the catalog, {present} with data present or cached")
    if args.collection or args.verbose:
        for r in tasks:
            size = "" if r["mixing_size"] is None else f"{r['mixing_size']:,}"
            mark = "present" if r["present"] else "absent"
            print(
                f"  {r['task']:<50} {size:>7}  {mark:<7}  {r['templates']}  {r['source']}"
                + ("" if r["status"] == "ok" else f"  [{r['status']}]")
                + (f" {r['reason']}" if r.get("reason") else "")
            )
    return True


def _data_check_sources(args: argparse.Namespace) -> int:
    import importlib

    from flankit.data.collections import KINDS, CollectionSpec, data_root

    checkable = [k for k in KINDS if hasattr(importlib.import_module(KINDS[k]), "check_sources")]
    if args.collection not in checkable:
        raise FlankitError(
            f"collection {args.collection!r} has no hub mappings to check",
            hint=f"choose one of {', '.join(checkable)}",
        )
    module = importlib.import_module(KINDS[args.collection])
    spec = CollectionSpec(name=args.collection, tasks=args.tasks or None)
    rows = module.check_sources(spec, data_root(args.data_root))
    for r in rows:
        verdict = "ok" if r["ok"] else "MISMATCH: " + "; ".join(r["problems"])
        print(f"{r['task']:<50} {r['source']:<45} {verdict}")
    failed = sum(1 for r in rows if not r["ok"])
    print(f"{len(rows) - failed} of {len(rows)} mappings match the hub")
    return 1 if failed else 0


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
    from flankit.periodic_eval import suite_evaluator

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
    from flankit.evals.jobs import model_spec

    return model_spec(model, gguf, trust_remote_code)


def _eval(args: argparse.Namespace) -> int:
    from flankit.config import load_config
    from flankit.evals.jobs import EvalJob, run_job

    job = _eval_flags(load_config(EvalJob, args.config, list(args.overrides)), args)
    results = run_job(job, progress=not args.quiet)
    if results is None:  # a process of a multi-process run other than the first
        return 0
    for name, e in results["scores"].items():
        print(f"{name:<22} {e['macro']:6.1f}  (n={e['n']})")
    if results["normalized"]["complete"]:
        print(f"normalized average {results['normalized']['average']:.1f}")
    for k, v in results["skipped"].items():
        print(f"not run: {k}: {v}")
    print(f"report: {job.out}/report.md")
    return 0


def _eval_flags(job, args: argparse.Namespace):
    """`job` with the options given on the command line put over the config's values."""
    import dataclasses

    from flankit.evals.suite import MODES

    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(job)
        if getattr(args, f.name, None) is not None
    }
    if "benchmarks" in given:
        given["benchmarks"] = _comma_list(given["benchmarks"], _benchmarks(), "benchmark")
    if "modes" in given:
        given["modes"] = _comma_list(given["modes"], MODES, "mode")
    return dataclasses.replace(job, **given)


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
        eval_limit=args.eval_limit or None,
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


def _model_parser(required: bool = True) -> argparse.ArgumentParser:
    """The model options shared by eval and generate (eval can take them from a config)."""
    model_args = argparse.ArgumentParser(add_help=False)
    model_args.add_argument(
        "--model", required=required, help="hub id, local model folder, or a .gguf file"
    )
    model_args.add_argument("--gguf-file", help="GGUF file name inside --model's folder")
    model_args.add_argument(
        "--trust-remote-code",
        action="store_true",
        default=False if required else None,
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
    qs.add_argument("--steps", type=int, default=200, help="instruction-finetuning steps")
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
        default=200,
        help="pretraining steps on the world's text (cached by config)",
    )
    qs.add_argument(
        "--shape", default="t5-tiny", help="random-init shape (t5-tiny, t5-mini, t5-small, ...)"
    )
    qs.add_argument("--seed", type=int, default=0, help="seed for data order and initialisation")
    qs.add_argument(
        "--eval-limit",
        type=int,
        default=16,
        help="people per family evaluated (default: all 16; 0: all)",
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
        dest="data_verb", required=True, metavar="ACTION", help="ls, show, build or check-sources"
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
    ls.add_argument(
        "--catalog",
        action="store_true",
        help="only the collections with an offline catalog (the Flan 2022 ones): no data is read",
    )
    ls.set_defaults(func=_data_ls)

    check = _verb(
        data_verbs,
        "check-sources",
        "check a collection's hub mappings against the hub",
        "Check every task's hub mapping (dataset id, config, split, the columns its templates\n"
        "need) against the hub's dataset features. Needs the hub; says so when it is not\n"
        "reachable (or HF_HUB_OFFLINE is set). Exit status 1 when a mapping does not match.",
        parents=[common],
    )
    check.add_argument("collection", help="muffin or t0sf")
    check.add_argument("--tasks", nargs="+", help="only these tasks (names or patterns)")
    check.set_defaults(func=_data_check_sources)

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
    from flankit.evals.suite import EvalJob

    defaults = EvalJob()
    ev = _verb(
        verbs,
        "eval",
        "evaluate on MMLU, BBH, TyDiQA, MGSM (the paper's protocol)",
        "Evaluate a model with the paper's prompts and scoring; write results.json,\n"
        "samples.jsonl and report.md (beside the paper's Table 5). Finished requests are\n"
        "cached, so a rerun of a killed command recomputes none of them. Settings come from\n"
        "an optional config (configs/eval/*.yaml) and key=value overrides; options override both.",
        parents=[_model_parser(required=False), _data_root_parser()],
    )
    ev.add_argument("config", nargs="?", help="YAML eval config (configs/eval/)")
    ev.add_argument("overrides", nargs="*", help=OVERRIDES_HELP + ", e.g. model=DIR limit=20")
    ev.add_argument(
        "--benchmarks",
        help="comma list of " + ",".join(_benchmarks()) + _default(defaults.benchmarks),
    )
    ev.add_argument("--modes", help="comma list of direct, cot" + _default(defaults.modes))
    ev.add_argument(
        "--limit", type=int, help="items per subject / subtask / language (default: all)"
    )
    ev.add_argument(
        "--self-consistency",
        type=int,
        metavar="K",
        help="K sampled CoT paths, majority vote (0: greedy only)",
    )
    ev.add_argument(
        "--temperature",
        type=float,
        dest="sc_temperature",
        help="sampling temperature for self-consistency" + _default(defaults.sc_temperature),
    )
    _add_benchmark_options(ev)
    ev.add_argument(
        "--max-input-length",
        type=int,
        help="prompt tokens kept, cut from the left (default: 2048 for T5, else the model's)",
    )
    ev.add_argument(
        "--batch-size", type=int, help="requests per forward pass" + _default(defaults.batch_size)
    )
    ev.add_argument(
        "--skip-bad-rows",
        action="store_true",
        default=None,
        help="skip and count malformed benchmark rows (results.json: bad_rows)",
    )
    ev.add_argument(
        "--backend",
        choices=["hf", "vllm"],
        help="hf: transformers (both families); vllm: a vLLM engine (decoder models, GPU)"
        + _default(defaults.backend),
    )
    ev.add_argument(
        "--tensor-parallel-size",
        type=int,
        help="GPUs per model (vllm backend)" + _default(defaults.tensor_parallel_size),
    )
    ev.add_argument(
        "--max-new-tokens",
        type=int,
        help="cap on generated tokens per item (default: per benchmark)",
    )
    ev.add_argument("--out", help="output folder (results.json, samples.jsonl, report.md)")
    ev.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=_eval)


def _default(value) -> str:
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value))
    return f" (default: {value})"


def _add_benchmark_options(ev: argparse.ArgumentParser) -> None:
    """One `--<benchmark>-<option>` flag per field of each registered benchmark's options."""
    import types
    import typing

    from flankit.evals.suite import option_fields

    for key, tp, f, _ in option_fields():
        union = typing.get_origin(tp) in (typing.Union, types.UnionType)
        base = next(a for a in typing.get_args(tp) if a is not type(None)) if union else tp
        kw: dict = {"help": f.metadata.get("help", key)}
        if f.default is not None and not callable(f.default_factory):
            kw["help"] += _default(f.default)
        if typing.get_origin(base) is typing.Literal:
            kw["choices"] = list(typing.get_args(base))
        elif typing.get_origin(base) is list:
            kw["type"] = _comma_split
        elif base in (int, float):
            kw["type"] = base
        ev.add_argument("--" + key.replace("_", "-"), dest=key, **kw)


def _comma_split(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


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


def _benchmarks() -> list[str]:
    from flankit.evals.benchmarks import names

    return names()


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
