"""Load a model and tokenizer (hub id, local directory, GGUF file) or build one from a named shape.

A model's family (`flankit.family`: encoder-decoder or decoder-only) decides its features, loss
and evaluation; the loaders here return the family's name, the value `data.features.layout` takes.

Example:
    >>> from flankit.tokenizer import train_tokenizer
    >>> tok = train_tokenizer(["a tiny corpus of words"] * 20, vocab_size=150)
    >>> model, family = build_model("t5-tiny", tok)
    >>> family, model.lm_head.weight is model.shared.weight
    ('encdec', False)
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flankit.errors import FlankitError
from flankit.family import ModelFamily, as_family, family_of

# T5 v1.1 shapes (gated-GELU, untied head, head dim 64) as in the t5x gin files; tiny/mini for CPU.
T5_SHAPES = {
    "t5-tiny": dict(d_model=128, d_kv=32, d_ff=256, num_layers=2, num_heads=4),
    "t5-mini": dict(d_model=256, d_kv=32, d_ff=512, num_layers=4, num_heads=8),
    "t5-small": dict(d_model=512, d_kv=64, d_ff=1024, num_layers=8, num_heads=6),
    "t5-base": dict(d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_heads=12),
    "t5-large": dict(d_model=1024, d_kv=64, d_ff=2816, num_layers=24, num_heads=16),
    "t5-xl": dict(d_model=2048, d_kv=64, d_ff=5120, num_layers=24, num_heads=32),
    "t5-xxl": dict(d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64),
}
LLAMA_SHAPES = {
    "llama-tiny": dict(
        hidden_size=128,
        intermediate_size=344,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
    ),
    "llama-mini": dict(
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
    ),
    "llama-small": dict(
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
    ),
}
SHAPES = tuple(T5_SHAPES) + tuple(LLAMA_SHAPES)


@dataclass(frozen=True)
class LoraSpec:
    """LoRA adapters through `peft` (for large decoder models); merged into the exported weights."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] | None = None  # None: peft's default for the architecture


def apply_lora(model, spec: LoraSpec, family: str | ModelFamily):
    """The model with LoRA adapters for its family's task (`family`: a family or its name)."""
    try:
        from peft import LoraConfig, TaskType, get_peft_model
    except ImportError as exc:
        raise FlankitError("LoRA needs the peft package", hint="pip install peft") from exc
    task = getattr(TaskType, as_family(family).peft_task)
    cfg = LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=spec.target_modules,
        task_type=task,
    )
    return get_peft_model(model, cfg)


@dataclass(frozen=True)
class ModelSpec:
    """Which model: a pretrained one (`path`: hub id or directory, optional `gguf_file`) or a shape."""

    path: str | None = None
    shape: str | None = None  # one of SHAPES, for a randomly initialised model
    tokenizer: str | None = None  # defaults to `path`; "train" trains one on the training mixture
    gguf_file: str | None = None
    dropout: float = 0.05
    trust_remote_code: bool = False
    max_position_embeddings: int = 4096  # decoder shapes
    lora: LoraSpec | None = None


def untie_lm_head(model) -> None:
    """Give a T5 model its own output head, as T5 v1.1 / Flan-T5 have (transformers 5 ties it)."""
    import torch

    if model.lm_head.weight is model.shared.weight:
        model.lm_head.weight = torch.nn.Parameter(model.shared.weight.detach().clone())
    tied = getattr(model, "all_tied_weights_keys", None)
    if isinstance(tied, dict):
        tied.pop("lm_head.weight", None)
    model.config.tie_word_embeddings = False


def build_model(
    shape: str, tokenizer, *, dropout: float = 0.0, seed: int = 0, max_positions: int = 4096
):
    """(model, family name): a randomly initialised model of a named shape, sized to the
    tokenizer's vocabulary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    vocab = len(tokenizer)
    vocab = (vocab + 127) // 128 * 128  # as T5's 32,128: a multiple of 128
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    eos = tokenizer.eos_token_id
    torch.manual_seed(seed)
    if shape in T5_SHAPES:
        s = T5_SHAPES[shape]
        cfg = T5Config(
            vocab_size=vocab,
            d_model=s["d_model"],
            d_kv=s["d_kv"],
            d_ff=s["d_ff"],
            num_layers=s["num_layers"],
            num_decoder_layers=s["num_layers"],
            num_heads=s["num_heads"],
            feed_forward_proj="gated-gelu",
            dropout_rate=dropout,
            tie_word_embeddings=False,
            pad_token_id=pad,
            eos_token_id=eos,
            decoder_start_token_id=pad,
        )
        model = T5ForConditionalGeneration(cfg)
        untie_lm_head(model)
        # An untied head gets no d_model**-0.5 output scaling, so initialise it at that scale
        # (as t5x initialises T5 v1.1's separate logits layer); otherwise initial logits explode.
        with torch.no_grad():
            model.lm_head.weight.normal_(0.0, s["d_model"] ** -0.5)
        return model, family_of(model).name
    if shape in LLAMA_SHAPES:
        cfg = LlamaConfig(
            vocab_size=vocab,
            **LLAMA_SHAPES[shape],
            max_position_embeddings=max_positions,
            attention_dropout=dropout,
            pad_token_id=pad,
            eos_token_id=eos,
            bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos,
            tie_word_embeddings=False,
        )
        model = LlamaForCausalLM(cfg)
        return model, family_of(model).name
    raise FlankitError(f"unknown model shape {shape!r}; choose one of {', '.join(SHAPES)}")


def load_pretrained(spec: ModelSpec, dtype=None):
    """(model, tokenizer, family name) from a hub id, a local directory or a GGUF file."""
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    path = spec.path
    kwargs = {"trust_remote_code": spec.trust_remote_code, **hub_access(path, what="model")}
    if dtype is not None:
        kwargs["dtype"] = dtype
    tok_kwargs = hub_access(spec.tokenizer, what="tokenizer") if spec.tokenizer else kwargs
    tok_kwargs = {k: v for k, v in tok_kwargs.items() if k == "local_files_only"}
    try:
        with quiet_untied_load():
            if spec.gguf_file:
                model = AutoModelForCausalLM.from_pretrained(
                    path, gguf_file=spec.gguf_file, **kwargs
                )
                tok = AutoTokenizer.from_pretrained(
                    spec.tokenizer or path,
                    gguf_file=None if spec.tokenizer else spec.gguf_file,
                    **tok_kwargs,
                )
                model.hf_quantizer = None  # dequantized on load; allow re-saving
                if hasattr(model.config, "quantization_config"):
                    del model.config.quantization_config
            else:
                config = AutoConfig.from_pretrained(
                    path,
                    trust_remote_code=spec.trust_remote_code,
                    local_files_only=kwargs.get("local_files_only", False),
                )
                auto = getattr(transformers, family_of(config).auto_model)
                model = auto.from_pretrained(path, **kwargs)
                tok = AutoTokenizer.from_pretrained(
                    spec.tokenizer or path, trust_remote_code=spec.trust_remote_code, **tok_kwargs
                )
    except (OSError, ValueError) as exc:
        where = f"{path}/{spec.gguf_file}" if spec.gguf_file else path
        raise FlankitError(
            f"cannot load model {where!r}: {str(exc).strip().splitlines()[0]}",
            hint="give a hub id (needs network), a local model directory, or a directory plus gguf_file",
        ) from exc
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    check_vocab(model, tok)
    return model, tok, family_of(model).name


HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def looks_local(name: str) -> bool:
    """A name that can only mean a file or folder here: an absolute or ./ path, more than one
    `/`, a file suffix, or a first folder that exists (`runs/x` when there is a `runs/`)."""
    if name.startswith(("/", ".", "~")) or "\\" in name or not HUB_ID.match(name):
        return True
    if name.count("/") > 1 or Path(name).suffix in (".gguf", ".safetensors", ".bin", ".json"):
        return True
    head = name.split("/")[0]
    return "/" in name and Path(head).is_dir()


def hub_access(name: str | None, *, what: str = "model") -> dict:
    """Keyword arguments for `from_pretrained(name)`, after checking where `name` lives.

    A local folder loads as is. A local-looking name that does not exist fails at once (it is
    not sent to the hub). A hub id is looked up in the local cache when HF_HUB_OFFLINE is set
    or the hub cannot be reached; without network and without a cached copy it fails at once
    with what to do, instead of waiting on connection retries.
    """
    if not name or Path(name).expanduser().exists():
        return {}
    if looks_local(name):
        raise FlankitError(
            f"{what} folder not found: {name}",
            hint="check the path (a finished training run has final/ and best/ folders)",
        )
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        if not _in_hub_cache(name):
            raise FlankitError(
                f"{what} {name!r} is not in the local hub cache and HF_HUB_OFFLINE is set",
                hint="unset HF_HUB_OFFLINE to download it, or give a local folder",
            )
        return {"local_files_only": True}
    if not hub_reachable():
        if _in_hub_cache(name):
            return {"local_files_only": True}
        raise FlankitError(
            f"cannot reach the model hub to fetch {what} {name!r}",
            hint="no network: set HF_HUB_OFFLINE=1 to use models in the local cache, "
            "or give a local folder",
        )
    return {}


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub endpoint (HF_ENDPOINT) opens within `timeout` s."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _in_hub_cache(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, "config.json")
    return isinstance(found, str)


class _UntiedHeadNote(logging.Filter):
    """Drops transformers' note that a T5 checkpoint's head is not tied to its embeddings.

    transformers 5 always declares T5's head tied and then finds, correctly, that a T5 v1.1
    checkpoint (Flan-T5 and every flankit T5 export) stores its own head, which it keeps.
    The note says nothing is wrong, so flankit's loaders do not show it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "but both are present in the checkpoints with different values" not in str(
            record.msg
        )


@contextmanager
def quiet_untied_load():
    logger = logging.getLogger("transformers.modeling_utils")
    note = _UntiedHeadNote()
    logger.addFilter(note)
    try:
        yield
    finally:
        logger.removeFilter(note)


def check_vocab(model, tokenizer) -> None:
    """A tokenizer whose ids exceed the model's embedding table would index out of range."""
    n_embed = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > n_embed:
        raise FlankitError(
            f"tokenizer has {len(tokenizer)} tokens but the model's embedding table has {n_embed}",
            hint="use the tokenizer saved with the model, or resize the model's embeddings",
        )


def is_local_model(path: str) -> bool:
    return Path(path).is_dir()
