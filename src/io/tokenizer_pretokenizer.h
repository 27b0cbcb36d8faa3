// Byte-level BPE pre-tokenizers: a named sequence of regexes (PCRE2, UTF-8 + Unicode properties), each
// splitting every piece left by the previous one into its matches and the text between them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llmc/status.h"

namespace llmc::tokenizer_internal {

class PreTokenizer {
 public:
  // "gpt2", "llama3", "qwen2" or "smollm" (the regexes of HF tokenizers / llama.cpp for each).
  static Result<std::unique_ptr<PreTokenizer>> ForName(const std::string& name);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Splits text into words (views into `text`), in order, covering all of it.
  std::vector<std::string_view> Split(std::string_view text) const;

 private:
  struct Regex;
  PreTokenizer() = default;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace llmc::tokenizer_internal
