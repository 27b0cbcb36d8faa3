#!/usr/bin/env python3
"""Writes the GGUF test fixtures under tests/fixtures/gguf/ (run with the project's .venv python).

1. dequant/<TYPE>.blocks + dequant/<TYPE>.f32: a few rows of raw ggml blocks for every type the
   importer decodes, with gguf-py's dequantization of them as the reference. Types gguf-py can
   quantize are quantized from random floats; for the k-quants (no quantizer in gguf-py) the blocks
   are random bytes with finite, moderate fp16 super-block scales.
2. tiny_llama.gguf: a complete 2-layer llama model with mixed tensor types and SentencePiece-style
   tokenizer keys, written by gguf.GGUFWriter. The q/k rows are permuted exactly as llama.cpp's
   convert_hf_to_gguf.py does for llama (LlamaModel.permute). tiny_llama_reference.{json,f32} hold
   every tensor in HuggingFace layout: the dequantized rows *before* the permutation, so a correct
   importer must undo it to match.
"""
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter, quants
from gguf.constants import GGML_QUANT_SIZES

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "gguf")
RNG = np.random.default_rng(20251121)

QUANTIZABLE = {T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.BF16}
# Byte offsets of the fp16 super-block scale(s) inside each k-quant block (ggml-common.h).
K_SCALE_OFFSETS = {T.Q2_K: (80, 82), T.Q3_K: (108,), T.Q4_K: (0, 2), T.Q5_K: (0, 2), T.Q6_K: (208,)}


def random_rows(rows, cols):
    return RNG.normal(0.0, 0.05, size=(rows, cols)).astype(np.float32)


def encode_rows(qtype, rows, cols):
    """Raw bytes (rows x row_bytes, uint8) of `rows` rows of `cols` values of type qtype."""
    if qtype == T.F32:
        return random_rows(rows, cols).view(np.uint8)
    if qtype == T.F16:
        return random_rows(rows, cols).astype(np.float16).view(np.uint8)
    if qtype in QUANTIZABLE:
        return quants.quantize(random_rows(rows, cols), qtype)
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    n_blocks = rows * cols // block_elems
    blocks = RNG.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for off in K_SCALE_OFFSETS[qtype]:
        scale = RNG.uniform(-0.02, 0.02, size=n_blocks).astype(np.float16)
        blocks[:, off:off + 2] = scale.view(np.uint8).reshape(n_blocks, 2)
    return blocks.reshape(rows, -1)


def decode_rows(qtype, raw, rows, cols):
    if qtype == T.F32:
        return raw.view(np.float32).reshape(rows, cols)
    return quants.dequantize(raw, qtype).astype(np.float32).reshape(rows, cols)


def write_dequant_fixtures():
    os.makedirs(os.path.join(OUT, "dequant"), exist_ok=True)
    manifest = {}
    types = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
             T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
    for qtype in types:
        block_elems, _ = GGML_QUANT_SIZES[qtype]
        rows, cols = 3, 2 * max(block_elems, 32)
        raw = np.ascontiguousarray(encode_rows(qtype, rows, cols))
        ref = decode_rows(qtype, raw, rows, cols)
        raw.tofile(os.path.join(OUT, "dequant", f"{qtype.name}.blocks"))
        ref.astype("<f4").tofile(os.path.join(OUT, "dequant", f"{qtype.name}.f32"))
        manifest[qtype.name] = {"type_id": int(qtype), "rows": rows, "cols": cols}
    with open(os.path.join(OUT, "dequant", "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


def llama_cpp_permute(weights, n_head, n_head_kv):
    """llama.cpp convert_hf_to_gguf.py LlamaModel.permute: HF rotate-half rows -> interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


# The tiny model: hidden 64, 4 heads of 16, 2 KV heads, ffn 256 (so ffn_down rows fit k-quant blocks).
HIDDEN, HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB, LAYERS = 64, 4, 2, 16, 256, 32, 2
LAYER_TYPES = [
    {"attn_q": T.Q8_0, "attn_k": T.Q4_0, "attn_v": T.Q5_1, "attn_output": T.F16,
     "ffn_gate": T.Q4_1, "ffn_up": T.Q5_0, "ffn_down": T.Q4_K},
    {"attn_q": T.F32, "attn_k": T.BF16, "attn_v": T.Q8_0, "attn_output": T.Q4_0,
     "ffn_gate": T.Q5_1, "ffn_up": T.Q8_0, "ffn_down": T.Q6_K},
]
HF_PART = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
           "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
           "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
SHAPES = {"attn_q": (HEADS * HEAD_DIM, HIDDEN), "attn_k": (KV_HEADS * HEAD_DIM, HIDDEN),
          "attn_v": (KV_HEADS * HEAD_DIM, HIDDEN), "attn_output": (HIDDEN, HEADS * HEAD_DIM),
          "ffn_gate": (FFN, HIDDEN), "ffn_up": (FFN, HIDDEN), "ffn_down": (HIDDEN, FFN)}


def add_tokenizer(w):
    tokens = ["<unk>", "<s>", "</s>"] + [f"\u2581w{i}" for i in range(VOCAB - 3)]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0, 0.0, 0.0] + [-float(i) for i in range(VOCAB - 3)])
    w.add_token_types([2, 3, 3] + [1] * (VOCAB - 3))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)


def write_tiny_llama():
    path = os.path.join(OUT, "tiny_llama.gguf")
    w = GGUFWriter(path, "llama")
    w.add_block_count(LAYERS)
    w.add_context_length(256)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(HEAD_DIM)
    add_tokenizer(w)

    reference = []  # (hf_name, float32 array in HF layout, type name)

    def add(gguf_name, hf_name, qtype, shape, permute_heads=None):
        rows, cols = (1, shape[0]) if len(shape) == 1 else shape
        raw_hf = np.ascontiguousarray(encode_rows(qtype, rows, cols))
        reference.append((hf_name, decode_rows(qtype, raw_hf, rows, cols).reshape(shape), qtype.name))
        # Quantization is row-wise, so permuting rows of the encoded tensor equals encoding the permuted one.
        raw = llama_cpp_permute(raw_hf, *permute_heads) if permute_heads else raw_hf
        raw = np.ascontiguousarray(raw)
        if qtype == T.F32:
            w.add_tensor(gguf_name, raw.view(np.float32).reshape(shape))
        elif qtype == T.F16:
            w.add_tensor(gguf_name, raw.view(np.float16))
        else:
            w.add_tensor(gguf_name, raw, raw_dtype=qtype)

    add("token_embd.weight", "model.embed_tokens.weight", T.F16, (VOCAB, HIDDEN))
    for layer, types in enumerate(LAYER_TYPES):
        for part in ("attn_norm", "ffn_norm"):
            add(f"blk.{layer}.{part}.weight", f"model.layers.{layer}.{HF_PART[part]}.weight", T.F32, (HIDDEN,))
        for part, qtype in types.items():
            heads = {"attn_q": (HEADS, HEADS), "attn_k": (HEADS, KV_HEADS)}.get(part)
            add(f"blk.{layer}.{part}.weight", f"model.layers.{layer}.{HF_PART[part]}.weight", qtype, SHAPES[part],
                heads)
    add("output_norm.weight", "model.norm.weight", T.F32, (HIDDEN,))
    add("output.weight", "lm_head.weight", T.Q8_0, (VOCAB, HIDDEN))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    entries, offset = [], 0
    with open(os.path.join(OUT, "tiny_llama_reference.f32"), "wb") as f:
        for name, values, type_name in reference:
            entries.append({"name": name, "shape": list(values.shape), "type": type_name, "offset": offset})
            values.astype("<f4").tofile(f)
            offset += values.size
    with open(os.path.join(OUT, "tiny_llama_reference.json"), "w") as f:
        json.dump(entries, f, indent=1)


def main():
    os.makedirs(OUT, exist_ok=True)
    write_dequant_fixtures()
    write_tiny_llama()
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(OUT) for n in ns)
    print(f"wrote {OUT} ({total} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
