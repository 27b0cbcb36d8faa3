"""Prefill and decode speed of llama.cpp (through llama-cpp-python) on SmolLM2-135M, beside llmc's.

llama.cpp quantizes the same GGUF (SmolLM2-135M-Instruct.Q4_1, requantized) to F16, Q4_K_M and Q2_K
with its own quantizer, then each is timed like `llmc bench`: one prefill batch of PROMPT tokens, then
DECODE tokens evaluated one at a time, best of REPS, THREADS threads. llmc's stores are timed in the
same run by `llmc bench --json`, and the ratios llmc / llama.cpp printed as a Markdown table. Both keep
half-precision KV caches (their defaults: llama.cpp's type_k/type_v F16, `llmc bench --kv-cache f16`).

    python bench/llama_cpp_compare.py LLMC GGUF WORKDIR F16_STORE INT4_STORE INT2_STORE
"""
import json
import os
import subprocess
import sys
import time

import llama_cpp

THREADS = int(os.environ.get("THREADS", "2"))
PROMPT = int(os.environ.get("PROMPT", "128"))
DECODE = int(os.environ.get("DECODE", "64"))
REPS = int(os.environ.get("REPS", "3"))

# llama.cpp file types (llama.h: enum llama_ftype).
FTYPES = {"F16": 1, "Q4_K_M": 15, "Q2_K": 10}


def quantize(src, dst, ftype):
    if os.path.exists(dst):
        return
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = THREADS
    params.allow_requantize = True  # the source is Q4_1: dequantized, then quantized again
    tmp = dst + ".tmp"
    rc = llama_cpp.llama_model_quantize(src.encode(), tmp.encode(), params)
    if rc != 0:
        sys.exit(f"llama_cpp_compare: llama_model_quantize {src} -> {dst} failed ({rc})")
    os.replace(tmp, dst)


def time_llama(path):
    llm = llama_cpp.Llama(model_path=path, n_ctx=PROMPT + DECODE + 8, n_batch=PROMPT, n_threads=THREADS,
                          n_threads_batch=THREADS, verbose=False)
    # Token ids are synthetic, as in `llmc bench`: speed does not depend on the text.
    prompt = [(i * 7919) % 1000 + 100 for i in range(PROMPT)]
    best_prefill, best_decode = 0.0, 0.0
    for _ in range(REPS):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(prompt)
        t1 = time.perf_counter()
        for i in range(DECODE):
            llm.eval([(i * 104729) % 1000 + 100])
        t2 = time.perf_counter()
        best_prefill = max(best_prefill, PROMPT / (t1 - t0))
        best_decode = max(best_decode, DECODE / (t2 - t1))
    return best_prefill, best_decode


def time_llmc(llmc, store):
    out = subprocess.run([llmc, "bench", store, "--threads", str(THREADS), "--prompt-tokens", str(PROMPT),
                          "--decode-tokens", str(DECODE), "--reps", str(REPS), "--kv-cache", "f16", "--json"],
                         check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    return j["prefill_tokens_per_s"], j["decode_tokens_per_s"]


def main():
    llmc, gguf, work, f16_store, int4_store, int2_store = sys.argv[1:7]
    os.makedirs(work, exist_ok=True)
    pairs = [("F16", f16_store, "llmc f16"), ("Q4_K_M", int4_store, "llmc ptq-int4 (g128)"),
             ("Q2_K", int2_store, "llmc ptq-int2 (g128)")]
    print(f"threads {THREADS}, prompt {PROMPT}, decode {DECODE}, best of {REPS}; "
          f"llama-cpp-python {llama_cpp.__version__}\n")
    print("| llama.cpp type | MB | prefill tok/s | decode tok/s | llmc store | MB | prefill tok/s | decode tok/s "
          "| prefill llmc/llama.cpp | decode llmc/llama.cpp |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for name, store, label in pairs:
        path = os.path.join(work, f"smollm2-135m-{name}.gguf")
        quantize(gguf, path, FTYPES[name])
        lp, ld = time_llama(path)
        mp, md = time_llmc(llmc, store)
        print(f"| {name} | {os.path.getsize(path) / 1e6:.1f} | {lp:.1f} | {ld:.1f} | {label} | "
              f"{os.path.getsize(store) / 1e6:.1f} | {mp:.1f} | {md:.1f} | {mp / lp:.2f}x | {md / ld:.2f}x |")


if __name__ == "__main__":
    main()
