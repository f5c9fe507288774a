"""Load a model and tokenizer (hub id, local directory, GGUF file) or build one from a named shape.

The family, `encdec` (T5-like) or `decoder` (Llama-like), decides the features the trainer feeds;
nothing else depends on it.

Example:
    >>> from flankit.tokenizer import train_tokenizer
    >>> tok = train_tokenizer(["a tiny corpus of words"] * 20, vocab_size=150)
    >>> model, family = build_model("t5-tiny", tok)
    >>> family, model.lm_head.weight is model.shared.weight
    ('encdec', False)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flankit.errors import FlankitError

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


def apply_lora(model, spec: LoraSpec, family: str):
    try:
        from peft import LoraConfig, TaskType, get_peft_model
    except ImportError as exc:
        raise FlankitError("LoRA needs the peft package", hint="pip install peft") from exc
    task = TaskType.SEQ_2_SEQ_LM if family == "encdec" else TaskType.CAUSAL_LM
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


def family_of(model) -> str:
    return "encdec" if getattr(model.config, "is_encoder_decoder", False) else "decoder"


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
    """A randomly initialised model of a named shape, sized to the tokenizer's vocabulary."""
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
        return model, "encdec"
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
        return LlamaForCausalLM(cfg), "decoder"
    raise FlankitError(f"unknown model shape {shape!r}; choose one of {', '.join(SHAPES)}")


def load_pretrained(spec: ModelSpec, dtype=None):
    """(model, tokenizer, family) from a hub id, a local directory or a GGUF file."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    path = spec.path
    kwargs = {"trust_remote_code": spec.trust_remote_code}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        if spec.gguf_file:
            model = AutoModelForCausalLM.from_pretrained(path, gguf_file=spec.gguf_file, **kwargs)
            tok = AutoTokenizer.from_pretrained(
                spec.tokenizer or path, gguf_file=None if spec.tokenizer else spec.gguf_file
            )
            model.hf_quantizer = None  # dequantized on load; allow re-saving
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
        else:
            config = AutoConfig.from_pretrained(path, trust_remote_code=spec.trust_remote_code)
            auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
            model = auto.from_pretrained(path, **kwargs)
            tok = AutoTokenizer.from_pretrained(
                spec.tokenizer or path, trust_remote_code=spec.trust_remote_code
            )
    except (OSError, ValueError) as exc:
        where = f"{path}/{spec.gguf_file}" if spec.gguf_file else path
        raise FlankitError(
            f"cannot load model {where!r}: {exc}",
            hint="give a hub id (needs network), a local model directory, or a directory plus gguf_file",
        ) from exc
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    check_vocab(model, tok)
    return model, tok, family_of(model)


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
