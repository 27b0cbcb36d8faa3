// Tokenizers: SentencePiece-style BPE (tokenizer.model, GGUF "llama" vocab) and byte-level BPE
// (tokenizer.json, GGUF "gpt2" vocab with GPT-2 / Llama-3 / Qwen2 / SmolLM pre-tokenizer regexes),
// both built from the canonical tokenizer spec stored in every model file (docs/FORMAT.md).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llmc/status.h"

namespace llmc {

class Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> FromSpec(const nlohmann::json& spec);
  virtual ~Tokenizer() = default;

  // add_bos prepends the BOS token when the vocabulary has one.
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_bos) const = 0;
  virtual std::string Decode(std::span<const int32_t> ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when none
  virtual int32_t eos_id() const = 0;  // -1 when none
  // Whether the model expects BOS before a text (SentencePiece LLaMA: yes; SmolLM2: no).
  virtual bool add_bos_by_default() const = 0;
};

// Canonical spec from a HuggingFace directory: tokenizer.json (byte-level BPE or SentencePiece-BPE
// exported by HF) or tokenizer.model (SentencePiece protobuf), with tokenizer_config.json when present.
Result<nlohmann::json> TokenizerSpecFromHfDir(const std::string& dir);

// Canonical spec from a GGUF file's tokenizer keys, given as a JSON object holding every
// "tokenizer.*" key of the file with its value (arrays as JSON arrays), e.g.
// {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": [...], "tokenizer.ggml.merges": [...]}.
Result<nlohmann::json> TokenizerSpecFromGgufKeys(const nlohmann::json& keys);

}  // namespace llmc
