"""Natural Instructions v2 the way Flan 2022 trains on it: task choice, templates, few-shot.

Source: a natural-instructions checkout or release folder (`tasks/task<N>_<name>.json`,
`splits/default/{train,test}_tasks.txt`), or a folder of task files. Flan 2022 trains on every
task of the release except the 57 derived from MMLU (task664-667 and task685-737, the
`NIV2_MMLU_TASK_KEYS` of FLAN's task configs), and ignores the official split, so it also trains
on NIV2's test tasks; `selection="train"` / `"test"` gives the official split instead.

Templates (FLAN's `natinst_v2`):
- `zs_opt` and `zs_noopt`: the ten zero-shot patterns over `{Definition}`, `{input}`, `{output}`
  (NIV2 has no answer options, so the two are the same text);
- `fs_opt`: half FLAN's `template_mix` variant (one of ten `INLINE_FS_PATTERNS`, showing the
  task's first positive example with its explanation), half its `x_shot` variant (one of ten
  `FEWSHOT_PATTERNS`, two exemplars drawn from the task's positive examples before the input);
- `fs_noopt`: the `x_shot` variant (FLAN's no-options few-shot mixture has only that one).

The definition is the task file's first `Definition`; an instance's output is the first text
of its `output` list. Texts are used as in the file, unstripped. FLAN draws its `x_shot` exemplars from
`niv2_exemplars` files absent from its repository; flankit draws them from the task's own
`Positive Examples` (with one positive example there is one exemplar). In `x_shot` rows the
target keeps the pattern's example separator at its end, as FLAN's formatter writes it
(`render_rows`); the training collection (`flan_niv2`) leaves it off, so a target is the output.

Example:
    >>> fields = {"Definition": "Add one.", "input": "1", "output": "2"}
    >>> render_zero_shot(fields, 2, task="task_demo")
    ('Definition: Add one.\\nInput: 1\\nOutput:', '2')
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flankit.data.flan2022.patterns import (
    FewShotPattern,
    few_shot_patterns,
    fill,
    flan_templates,
    submix_row,
    zero_shot_pairs,
)
from flankit.data.sources import BadRows, read_json
from flankit.errors import FlankitError

KEY = "natinst_v2"
TASK_SOURCE = "NIv2"
NIV2_CAP = 5_000  # FLAN's per-task mixing cap for NIv2
MMLU_TASK_NUMBERS = frozenset([*range(685, 738), 664, 665, 666, 667])
SELECTIONS = ("flan", "train", "test", "all")
_NUMBER = re.compile(r"task(\d+)_")


def task_number(name: str) -> int | None:
    match = _NUMBER.match(name)
    return int(match.group(1)) if match else None


def is_mmlu_derived(name: str) -> bool:
    """Whether FLAN leaves this NIV2 task out as built from MMLU."""
    return task_number(name) in MMLU_TASK_NUMBERS


@dataclass
class NIV2Task:
    """One task file: its definition, instances and positive examples (fields as FLAN names them)."""

    name: str
    path: str
    definition: str
    instances: Sequence[dict[str, str]]  # Definition, input, output
    positives: Sequence[dict[str, str]]  # input, output, explanation


# --- where the tasks are -----------------------------------------------------------------------


def tasks_folder(root: str | Path) -> Path:
    """`<root>/tasks` for a checkout or release folder, else `root` itself."""
    root = Path(root)
    return root / "tasks" if (root / "tasks").is_dir() else root


def split_tasks(root: str | Path, split: str) -> list[str]:
    """The task names of the official split (`splits/default/<split>_tasks.txt`)."""
    path = Path(root) / "splits" / "default" / f"{split}_tasks.txt"
    if not path.is_file():
        raise FlankitError(
            f"no official {split} split here",
            file=str(path),
            hint="point `path:` at a natural-instructions checkout (with splits/), or use "
            "selection flan",
        )
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def task_paths(root: str | Path, selection: str = "flan") -> dict[str, Path]:
    """Task name -> file, for Flan's choice (`flan`), the official `train`/`test` split or `all`."""
    if selection not in SELECTIONS:
        raise FlankitError(
            f"unknown NIV2 selection {selection!r}; choose one of {', '.join(SELECTIONS)}"
        )
    paths = {p.stem: p for p in sorted(tasks_folder(root).glob("task*.json"))}
    if selection == "flan":
        return {n: p for n, p in paths.items() if not is_mmlu_derived(n)}
    if selection == "all":
        return paths
    wanted = split_tasks(root, selection)
    return {n: paths[n] for n in wanted if n in paths}


# --- reading one task file ---------------------------------------------------------------------


def _text(value: Any, *, where: str, task: str, field: str, entry: str) -> str:
    if isinstance(value, list):  # the first text of a list (an instance's outputs)
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if field == "explanation" and value == "":
        return value  # some positive examples explain nothing; FLAN shows an empty explanation
    if not isinstance(value, str) or not value.strip():
        raise FlankitError(
            f"{entry}: missing, empty or not text", file=where, task=task, field=field
        )
    return value


def _entries(
    items: Any, kind: str, names: Sequence[str], *, path: str, task: str, bad: BadRows | None
) -> list[dict[str, str]]:
    if not isinstance(items, list):
        raise FlankitError(f"no {kind!r} list", file=path, task=task, field=kind)
    out = []
    for i, item in enumerate(items):
        entry = f"{kind} #{i}"
        try:
            if not isinstance(item, dict):
                raise FlankitError(f"{entry} is not an object", file=path, task=task)
            out.append(
                {n: _text(item.get(n), where=path, task=task, field=n, entry=entry) for n in names}
            )
        except FlankitError as error:
            if bad is None:
                raise
            bad.handle(error)
    return out


def read_task(path: str | Path, *, bad: BadRows | None = None) -> NIV2Task:
    """One NIV2 task file. A malformed instance is an error naming the file, task, instance
    index and field; with `bad` (skip-bad-rows) it is counted and left out instead."""
    path = Path(path)
    name = path.stem
    data = read_json(path, task=name)
    if not isinstance(data, dict):
        raise FlankitError("a NIV2 task file must hold a JSON object", file=str(path), task=name)
    definition = _text(
        data.get("Definition"), where=str(path), task=name, field="Definition", entry="task"
    )
    where = str(path)
    instances = _entries(
        data.get("Instances"), "Instances", ("input", "output"), path=where, task=name, bad=bad
    )
    for inst in instances:
        inst["Definition"] = definition
    positives = _entries(
        data.get("Positive Examples") or [],
        "Positive Examples",
        ("input", "output", "explanation"),
        path=where,
        task=name,
        bad=bad,
    )
    return NIV2Task(name, where, definition, instances, positives)


# --- rendering ---------------------------------------------------------------------------------


def render_zero_shot(
    fields: dict[str, str], template: int, *, task: str, path: str | None = None
) -> tuple[str, str]:
    """FLAN's zero-shot `natinst_v2` pattern `template` (0-9) filled from one instance."""
    pairs = zero_shot_pairs(KEY, path=path)
    inputs, targets = pairs[template % len(pairs)]
    return fill(inputs, fields, task=task), fill(targets, fields, task=task)


def render_inline(
    fields: dict[str, str],
    positive: dict[str, str],
    template: int,
    *,
    task: str,
    path: str | None = None,
) -> tuple[str, str]:
    """FLAN's `template_mix` NIV2 prompt: one `INLINE_FS_PATTERNS` pattern showing a positive
    example (input, output, explanation) before the instance."""
    pairs = flan_templates(path)["INLINE_FS_PATTERNS"][KEY]
    inputs, targets = pairs[template % len(pairs)]
    values = {
        **fields,
        "ex_input": positive["input"],
        "ex_output": positive["output"],
        "ex_explanation": positive["explanation"],
    }
    return fill(inputs, values, task=task), fill(targets, values, task=task)


def render_x_shot(
    fields: dict[str, str],
    exemplars: Sequence[dict[str, str]],
    template: int,
    *,
    task: str,
    options: bool = True,
    separator_in_target: bool = True,
    path: str | None = None,
) -> tuple[str, str]:
    """FLAN's `x_shot` NIV2 prompt: the definition, then up to two exemplars, then the input,
    in one of the ten `FEWSHOT_PATTERNS`. FLAN's target ends with the pattern's example
    separator (``"\n****\n"``, say); `separator_in_target=False` leaves it off."""
    patterns = few_shot_patterns(KEY, options=options, path=path)
    p: FewShotPattern = patterns[template % len(patterns)]
    shot = p.inputs_with_target_prefix + p.targets_with_separator
    shots = "".join(fill(shot, ex, task=task) for ex in exemplars[:2])
    with_examples = (shots + fill(p.inputs_with_target_prefix, fields, task=task)).rstrip(" ")
    final = p.input_pattern.replace("{{Definition}}", "{Definition}")
    final = final.replace("{{inputs}}", "{inputs_with_ex}")
    values = {**fields, "inputs_with_ex": with_examples, "final_suffix": ""}
    target = p.targets_with_separator if separator_in_target else p.targets
    return fill(final, values, task=task), fill(target, fields, task=task)


def render(
    task: NIV2Task,
    index: int,
    template_type: str,
    template: int,
    rng: random.Random,
    *,
    separator_in_target: bool = True,
    path: str | None = None,
) -> tuple[str, str, str, int]:
    """(inputs, targets, template id, shots) of instance `index` in one template type."""
    fields = task.instances[index]
    if template_type in ("zs_opt", "zs_noopt"):
        inputs, targets = render_zero_shot(fields, template, task=task.name, path=path)
        return inputs, targets, f"{KEY}_{template}", 0
    use_inline = template_type == "fs_opt" and rng.random() < 0.5
    if not task.positives:
        inputs, targets = render_zero_shot(fields, template, task=task.name, path=path)
        return inputs, targets, f"{KEY}_{template}", 0
    if use_inline:
        inputs, targets = render_inline(
            fields, task.positives[0], template, task=task.name, path=path
        )
        return inputs, targets, f"{KEY}_inline_{template}", 1
    picks = rng.sample(range(len(task.positives)), min(2, len(task.positives)))
    exemplars = [task.positives[j] for j in picks]
    options = template_type == "fs_opt"
    inputs, targets = render_x_shot(
        fields,
        exemplars,
        template,
        task=task.name,
        options=options,
        separator_in_target=separator_in_target,
        path=path,
    )
    return inputs, targets, f"{KEY}_x_shot_{template}", len(exemplars)


def render_rows(
    task: NIV2Task, template_type: str = "zs_opt", *, seed: int = 0, path: str | None = None
) -> Iterator[dict[str, str]]:
    """Every instance of a task in the published submix schema; templates round-robin by
    instance position (instance i gets template i mod 10), as FLAN's batched formatter does."""
    if template_type not in ("zs_opt", "zs_noopt", "fs_opt", "fs_noopt"):
        raise FlankitError(f"unknown template type {template_type!r}", task=task.name)
    rng = random.Random(f"{seed}|{task.name}|{template_type}")
    for i in range(len(task.instances)):
        inputs, targets, _, _ = render(task, i, template_type, i % 10, rng, path=path)
        yield submix_row(inputs, targets, TASK_SOURCE, task.name, template_type)
