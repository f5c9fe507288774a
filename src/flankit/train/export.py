"""Export a trained model as a Hugging Face model directory with a model card."""

from __future__ import annotations

import json
from pathlib import Path

from flankit.config import to_dict
from flankit.data.mixtures import data_seed
from flankit.family import ENCDEC, ModelFamily, as_family, family_of
from flankit.train import flex, segments


def export_model(
    model, tokenizer, folder: Path, cfg, record: dict, load_report=None, state_dict=None
) -> Path:
    """Weights (safetensors), config, tokenizer, generation config and README.md model card.
    `state_dict`: whole weights to write instead of the model's own (a sharded model's)."""
    from transformers import GenerationConfig

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "merge_and_unload"):  # LoRA: export plain weights that load without peft
        import copy

        model = copy.deepcopy(model).merge_and_unload()
    flex_was_on, segments_was_on = flex.is_flex(model), segments.is_segments(model)
    if flex_was_on or segments_was_on:  # the exported config names an attention every user has
        model.set_attn_implementation("sdpa")
    model.save_pretrained(folder, safe_serialization=True, state_dict=state_dict)
    if flex_was_on:
        flex.use_flex(model)
    if segments_was_on:
        segments.use_segments(model)
    tokenizer.save_pretrained(folder)
    gen = GenerationConfig(
        decoder_start_token_id=getattr(model.config, "decoder_start_token_id", None),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        max_new_tokens=256,
    )
    gen.save_pretrained(folder)
    (folder / "README.md").write_text(
        model_card(
            folder.name,
            str(folder),
            cfg,
            record,
            load_report,
            family=family_of(model),
        )
    )
    (folder / "flankit_train.json").write_text(
        json.dumps({"record": record, "config": to_dict(cfg)}, indent=1)
    )
    return folder


def _cell(value, missing: str = "–") -> str:
    """A table cell: the value, or `missing` where the config leaves it unset."""
    return missing if value is None else str(value)


def model_card(
    name: str,
    location: str,
    cfg,
    record: dict,
    load_report=None,
    family: str | ModelFamily = ENCDEC,
) -> str:
    """README.md for an export: steps and losses, the mixture, hyperparameters, how to load."""
    data = to_dict(cfg.data)
    preset = data["mixture"]["preset"]
    unset_rate, unset_cap = ("from preset", "from preset") if preset else ("by size", "none")
    collections = "\n".join(
        f"| {c['name']} | {_cell(c.get('rate'), unset_rate)} | {_cell(c.get('cap'), unset_cap)} | "
        f"{c.get('path') or 'builtin'} |"
        for c in data["collections"]
    )
    losses = f"last training loss {record['loss']:.4f}" if record.get("loss") is not None else ""
    if record.get("heldout_loss") is not None:
        losses += (", " if losses else "") + f"held-out loss {record['heldout_loss']:.4f}"
    steps = f" for {record['step']} steps" if record.get("step") is not None else ""
    mixing = f"preset {preset}" if preset else "rates and caps as listed"
    decontam = ""
    if load_report is not None:
        decontam = (
            f"; {sum(load_report.decontaminated.values())} examples removed by decontamination"
        )
    f = cfg.data.features
    lengths = "/".join(str(n) for n in as_family(family).lengths(f))
    warmup = cfg.optim.warmup_steps or "none"
    return f"""---
library_name: transformers
tags: [flankit, instruction-tuning, flan]
---
# {name}: instruction-finetuned with flankit

Trained with `flankit train`{steps}{f" ({losses})" if losses else ""}.

## Mixture

| collection | rate | cap | path |
|---|---|---|---|
{collections}

Mixing: {mixing}; seed {data_seed(data["mixture"]["seed"], cfg.seed)}; formats and CoT shares per collection as
configured; benchmark-source tasks held out{decontam}.

## Hyperparameters

| optimizer | learning rate | warmup steps | batch (packed rows) | steps | dropout | lengths |
|---|---|---|---|---|---|---|
| {cfg.optim.name} | {cfg.optim.lr} (constant) | {warmup} | {cfg.batch_size} | {cfg.steps} | {cfg.model.dropout} | {lengths} |

Load it with `AutoModelForSeq2SeqLM.from_pretrained("{location}")` (encoder-decoder) or
`AutoModelForCausalLM.from_pretrained("{location}")` (decoder-only).
"""
