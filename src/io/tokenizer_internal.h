// Internals of the tokenizer module: the canonical spec as a typed struct (docs/tokenizer-spec.md),
// the importers that produce it and the runtimes built from it. Not installed.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "llmc/status.h"
#include "llmc/tokenizer.h"

namespace llmc::tokenizer_internal {

// Piece types, numbered as in GGUF "tokenizer.ggml.token_type" and SentencePiece's ModelProto.
enum TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// The canonical tokenizer spec, typed. ToJson/FromJson are the only places that know the JSON keys.
struct TokenizerSpec {
  std::string model;  // "spm" (SentencePiece BPE) or "bpe" (byte-level BPE)
  std::vector<std::string> tokens;
  std::vector<float> scores;        // spm: merge priority of each piece; bpe: may be empty
  std::vector<int32_t> token_types;  // TokenType per token
  std::vector<std::string> merges;  // bpe: "left right", highest priority first
  std::string pre;                  // bpe pre-tokenizer name ("gpt2", "llama3", "qwen2", "smollm")
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  bool add_bos = false;
  bool add_space_prefix = false;
  bool byte_fallback = false;
  bool ignore_merges = false;  // bpe: a pre-token that is itself a token is emitted whole (Llama 3)
  std::string chat_template;  // "" when none
  std::vector<int32_t> added_tokens;  // ids matched verbatim in the text before pre-tokenization

  nlohmann::json ToJson() const;
  // Validates types, lengths and id ranges; `what` names the source in error messages.
  static Result<TokenizerSpec> FromJson(const nlohmann::json& j, const std::string& what);
};

// Importers (one per source format). `path` is the file read, named in every error.
Result<TokenizerSpec> SpecFromSentencePieceModel(const std::string& path);
Result<TokenizerSpec> SpecFromHfTokenizerJson(const std::string& path);

// Splits text into pieces that are either an added token (id >= 0) or plain text (id == -1), taking at
// each position the longest added token that starts there (HF tokenizers' leftmost-longest matching).
class AddedTokenSplitter {
 public:
  AddedTokenSplitter(const std::vector<std::string>& tokens, const std::vector<int32_t>& added_ids);
  struct Piece {
    std::string_view text;
    int32_t id;
  };
  std::vector<Piece> Split(std::string_view text) const;

 private:
  // Candidates per first byte, longest first.
  std::unordered_map<unsigned char, std::vector<std::pair<std::string, int32_t>>> by_first_byte_;
};

// The byte-level BPE pre-tokenizer whose regex sequence is exactly `regexes` (as written in an HF
// tokenizer.json Split), or "" when none matches. The regex table lives with the runtime.
std::string PreTokenizerNameForRegex(std::string_view regex);

// Runtimes, built from a validated spec.
Result<std::unique_ptr<Tokenizer>> MakeSentencePieceTokenizer(TokenizerSpec spec);
Result<std::unique_ptr<Tokenizer>> MakeByteLevelBpeTokenizer(TokenizerSpec spec);

// Appends the UTF-8 encoding of a code point.
void AppendUtf8(uint32_t cp, std::string& out);
// Length in bytes of the UTF-8 sequence starting with `lead` (1 for invalid lead bytes).
size_t Utf8SequenceLength(unsigned char lead);

}  // namespace llmc::tokenizer_internal
