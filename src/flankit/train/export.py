"""Export a trained model as a Hugging Face model directory with a model card."""

from __future__ import annotations

import json
from pathlib import Path

from flankit.config import to_dict
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
    data = to_dict(cfg.data)
    collections = "\n".join(
        f"| {c['name']} | {c.get('rate')} | {c.get('cap')} | {c.get('path') or 'default'} |"
        for c in data["collections"]
    )
    card = f"""---
library_name: transformers
tags: [flankit, instruction-tuning, flan]
---
# {folder.name}: instruction-finetuned with flankit

Trained with `flankit train` for {record.get("step")} steps (last training loss
{record.get("loss", float("nan")):.4f}{", held-out loss " + format(record["heldout_loss"], ".4f") if "heldout_loss" in record else ""}).

## Mixture

| collection | rate | cap | path |
|---|---|---|---|
{collections}

Preset: {data["mixture"]["preset"]}; seed {data["mixture"]["seed"]}; formats and CoT shares per collection
as configured; benchmark-source tasks held out{"; " + str(sum(load_report.decontaminated.values())) + " examples removed by decontamination" if load_report else ""}.

## Hyperparameters

| optimizer | learning rate | warmup | batch (packed rows) | steps | dropout | lengths |
|---|---|---|---|---|---|---|
| {cfg.optim.name} | {cfg.optim.lr} (constant) | {cfg.optim.warmup_steps} | {cfg.batch_size} | {cfg.steps} | {cfg.model.dropout} | {cfg.data.features.input_length}/{cfg.data.features.target_length} |

Load it with `AutoModelForSeq2SeqLM.from_pretrained("{folder}")` (encoder-decoder) or
`AutoModelForCausalLM.from_pretrained("{folder}")` (decoder-only).
"""
    (folder / "README.md").write_text(card)
    (folder / "flankit_train.json").write_text(
        json.dumps({"record": record, "config": to_dict(cfg)}, indent=1)
    )
    return folder
