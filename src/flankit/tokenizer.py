"""Tokenizers: load one (hub id, local dir, `byt5`) or train a T5-style one on local text.

A trained tokenizer is a SentencePiece-style BPE model (deterministic: the same text always
gives the same vocabulary) with T5's special ids (pad 0, eos 1, unk 2) and 100 `<extra_id_N>`
sentinels, saved as a Hugging Face fast tokenizer directory, so
random-init runs work offline and their checkpoints load with `AutoTokenizer.from_pretrained`.

Example:
    >>> tok = train_tokenizer(["the cat sat on the mat"] * 50, vocab_size=60)
    >>> tok.decode(tok("the cat")["input_ids"], skip_special_tokens=True)
    'the cat'
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path

from flankit.errors import FlankitError

# `tokenizer_class` values that AutoTokenizer loads as the plain fast tokenizer.
_PLAIN_FAST = ("TokenizersBackend", "PreTrainedTokenizerFast")


def load_tokenizer(name: str, *, trust_remote_code: bool = False):
    """A Hugging Face tokenizer from a hub id or local directory, or `byt5` (no files needed)."""
    if name == "byt5":
        from transformers import ByT5Tokenizer

        return ByT5Tokenizer()
    try:
        if _plain_fast_dir(Path(name)):
            # What AutoTokenizer returns for such a folder, without importing its model
            # registry (~1.8 s of a build's start on 2 cores).
            from transformers import PreTrainedTokenizerFast

            return PreTrainedTokenizerFast.from_pretrained(name)
        from transformers import AutoTokenizer

        from flankit.models import hub_access

        access = hub_access(name, what="tokenizer")
        return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code, **access)
    except (OSError, ValueError) as exc:
        raise FlankitError(
            f"cannot load tokenizer {name!r}: {exc}",
            hint="give a local directory with tokenizer files, a hub id (needs network), or `byt5`",
        ) from exc


def _plain_fast_dir(folder: Path) -> bool:
    """A tokenizer-only folder (no model config, no custom code) whose tokenizer is the plain
    fast one, as `train_tokenizer` saves it."""
    import json

    config = folder / "tokenizer_config.json"
    if not (folder / "tokenizer.json").is_file() or (folder / "config.json").exists():
        return False
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # AutoTokenizer reads it and reports what is wrong
    return (
        isinstance(settings, dict)
        and settings.get("tokenizer_class") in _PLAIN_FAST
        and "auto_map" not in settings
    )


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 8000, out_dir: str | Path | None = None
):
    """Train a T5-style (special ids, sentinels) BPE tokenizer on `texts`; save it to `out_dir` if given."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    sentinels = [f"<extra_id_{i}>" for i in range(100)]
    # BPE, not unigram: the unigram trainer can pick a different vocabulary on identical input
    # (hash-map order in its threads), which makes whole runs irreproducible.
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(
        vocab_size=max(vocab_size - len(sentinels), len(specials) + 30),
        special_tokens=specials,
        initial_alphabet=list(string.printable),  # punctuation and newline, seen or not
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        additional_special_tokens=sentinels,
    )
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast


def encode(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids without special tokens, through the fast (batched, multi-threaded) path."""
    if not texts:
        return []
    return tokenizer(texts, add_special_tokens=False)["input_ids"]
