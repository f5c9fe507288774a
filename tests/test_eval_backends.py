"""Model backends for evaluation: shared few-shot prefixes, GGUF files, and the vLLM adapter."""

import json
import sys
import types

import numpy as np
import pytest
import torch

from flankit.evals.lm import HFLM, GenRequest, prefix_groups


def test_prefix_groups_share_long_heads_and_keep_a_suffix():
    head = list(range(100))
    seqs = [head + [1, 2], [7] * 80, head + [3], head[:70] + [9], [5, 6]]
    groups = prefix_groups(seqs, keep=[1] * 5, min_prefix=64)
    by_member = {tuple(m): plen for plen, m in groups}
    assert by_member[(3, 0, 2)] == 70  # sorted order; the shortest shared head wins
    assert by_member[(1,)] == 0 and by_member[(4,)] == 0
    # Every member keeps at least `keep` tokens after the prefix.
    (plen,) = [p for p, m in groups if 0 in m]
    groups = prefix_groups([head + [1], head + [2]], keep=[3, 1], min_prefix=64)
    assert groups == [(101 - 3, [0, 1])] and plen == 70


@pytest.fixture(scope="module")
def tiny_llama():
    """A random llama-tiny with a byte-level BPE vocabulary (the kind GGUF files carry)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from flankit.models import build_model

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    text = ["Q: What is 3 + 4? A: Let's think step by step. So the answer is 7."] * 40
    bpe.train_from_iterator(text, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    model, _ = build_model("llama-tiny", tok, seed=0)
    return model.eval(), tok


@pytest.mark.slow
def test_shared_prefix_gives_the_same_scores_and_outputs(shared, tiny_llama):
    from flankit.evals.benchmarks import bbh

    model, tok = tiny_llama
    items = bbh.load(shared / "bbh", ["cot"], limit=5, subtasks=["navigate", "snarks"])
    ll = [(it.prompt, c) for it in items for c in (" Yes", " No, it is not.")]
    gen = [GenRequest(it.prompt, 6, ("\n\nQ:",)) for it in items]
    plain = HFLM(model, tok, batch_size=3, device="cpu", share_prefix=False)
    shared_lm = HFLM(model, tok, batch_size=3, device="cpu")
    groups = shared_lm._groups([shared_lm._encode(it.prompt, 10**6) for it in items], [1] * 10)
    assert len(groups) == 2 and all(p > 200 for p, _ in groups)  # one head per subtask
    np.testing.assert_allclose(shared_lm.loglikelihood(ll), plain.loglikelihood(ll), atol=2e-4)
    assert shared_lm.generate(gen) == plain.generate(gen)


def test_generation_stops_at_stop_strings(tiny_llama):
    model, tok = tiny_llama
    lm = HFLM(model, tok, batch_size=2, device="cpu", share_prefix=False)
    (free,) = lm.generate([GenRequest("Q: What is", 40)])
    assert len(free) > 3
    stop = free[2:4]
    (cut,) = lm.generate([GenRequest("Q: What is", 40, (stop,))])
    assert stop not in cut and free.startswith(cut)


def _write_gguf(path, model, tok):
    """A llama-architecture GGUF file with `model`'s weights and `tok`'s byte-level vocabulary,
    laid out as llama.cpp's converter writes it (q/k rows permuted for its rotary layout)."""
    import gguf

    cfg = model.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    merges = json.loads(tok.backend_tokenizer.to_str())["model"]["merges"]
    # The model's vocabulary is padded past the tokenizer's, as llama.cpp's converter writes it.
    pads = [f"[PAD{i}]" for i in range(len(vocab), cfg.vocab_size)]
    w.add_tokenizer_model("gpt2")
    w.add_token_list([t for t, _ in vocab] + pads)
    w.add_token_types([3 if t in tok.all_special_tokens else 1 for t, _ in vocab] + [5] * len(pads))
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    w.add_eos_token_id(tok.eos_token_id)

    def permute(x, heads):
        return (
            x.reshape(heads, 2, x.shape[0] // heads // 2, *x.shape[1:])
            .swapaxes(1, 2)
            .reshape(x.shape)
        )

    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        w.add_tensor(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
        w.add_tensor(
            f"blk.{i}.attn_q.weight",
            permute(sd[p + "self_attn.q_proj.weight"], cfg.num_attention_heads),
        )
        w.add_tensor(
            f"blk.{i}.attn_k.weight",
            permute(sd[p + "self_attn.k_proj.weight"], cfg.num_key_value_heads),
        )
        w.add_tensor(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        w.add_tensor(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        w.add_tensor(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    w.add_tensor("output.weight", sd["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_a_gguf_file_loads_as_the_same_model(tmp_path, tiny_llama):
    pytest.importorskip("gguf")
    from flankit.cli import _model_spec
    from flankit.models import load_pretrained

    model, tok = tiny_llama
    _write_gguf(tmp_path / "tiny.gguf", model, tok)
    spec = _model_spec(str(tmp_path / "tiny.gguf"), None, False)
    loaded, loaded_tok, family = load_pretrained(spec)
    text = "Q: What is 3 + 4? A: So the answer is 7."
    assert family == "decoder"
    assert loaded_tok(text)["input_ids"] == tok(text)["input_ids"]
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, atol=1e-4, rtol=1e-4)


class _FakeEngine:
    """The corner of `vllm.LLM` the adapter uses: a tokenizer, a model length, and `generate`
    answering from a fixed table (text per prompt, log-probability per token id)."""

    def __init__(self, tok, max_len=64):
        self.tok, self.calls = tok, []
        self.llm_engine = types.SimpleNamespace(
            model_config=types.SimpleNamespace(max_model_len=max_len)
        )

    def get_tokenizer(self):
        return self.tok

    def generate(self, prompts, params, use_tqdm=False):
        self.calls.append((prompts, params))
        outs = []
        for p in prompts:
            ids = p["prompt_token_ids"]
            lps = [None] + [{t: types.SimpleNamespace(logprob=-0.5 * (t % 3 + 1))} for t in ids[1:]]
            text = f"len {len(ids)} So the answer is (B).\n\nQ: next"
            outs.append(
                types.SimpleNamespace(
                    outputs=[types.SimpleNamespace(text=text)], prompt_logprobs=lps
                )
            )
        return outs


def test_vllm_adapter_requests_and_scores(monkeypatch, tiny_llama):
    class SamplingParams:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(SamplingParams=SamplingParams))
    from flankit.evals.vllm_lm import VLLMLM

    _, tok = tiny_llama
    engine = _FakeEngine(tok)
    lm = VLLMLM("m", engine=engine)
    long = "Q: What is 3 + 4? " * 20
    (out,) = lm.generate([GenRequest(long, 16, ("\n\nQ:",), temperature=0.7, seed=3)])
    prompts, params = engine.calls[-1]
    assert len(prompts[0]["prompt_token_ids"]) == 64 - 16 and lm.truncated == 1
    assert params[0].stop == ["\n\nQ:"] and params[0].seed == 3 and params[0].max_tokens == 16
    assert out == "len 48 So the answer is (B)."
    ctx, cont = "Q: What is 3 + 4? A:", " 7"
    (score,) = lm.loglikelihood([(ctx, cont)])
    c = tok(cont, add_special_tokens=False)["input_ids"]
    assert engine.calls[-1][1].prompt_logprobs == 1
    assert score == pytest.approx(sum(-0.5 * (t % 3 + 1) for t in c))


def test_generated_text_is_the_generated_tokens_whitespace_included(tiny_llama):
    """At the token cap the output is exactly the decoded `max_new_tokens` tokens, as `generate`
    (and so lm-evaluation-harness) gives them: a leading newline is an output token too."""
    model, tok = tiny_llama
    lm = HFLM(model, tok, batch_size=2, device="cpu", share_prefix=False)
    prompts = ["Q: What is 3 + 4? A:", "Q: What is", "So the answer"]
    for p, out in zip(prompts, lm.generate([GenRequest(p, 8) for p in prompts])):
        ids = tok(p, return_tensors="pt")["input_ids"]
        gen = model.generate(
            input_ids=ids, max_length=ids.shape[1] + 8, do_sample=False, pad_token_id=0
        )
        assert out == tok.decode(gen[0, ids.shape[1] :], skip_special_tokens=True)
    (newline,) = tok("\n", add_special_tokens=False)["input_ids"]

    def favour_newline(module, args, logits):
        return logits + 1e4 * torch.nn.functional.one_hot(torch.tensor(newline), logits.shape[-1])

    hook = model.lm_head.register_forward_hook(favour_newline)
    try:
        (out,) = lm.generate([GenRequest("Q: What is", 5)])
    finally:
        hook.remove()
    assert out == "\n" * 5 and len(tok(out, add_special_tokens=False)["input_ids"]) == 5
