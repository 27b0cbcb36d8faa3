// Pre-tokenizer regexes, as HF tokenizers writes them in tokenizer.json and llama.cpp lists them per
// "tokenizer.ggml.pre" (llama-vocab.cpp). PCRE2 runs the HF originals directly (it has (?i:...) and
// lookahead), so no hand-adapted variants are needed.
#include "io/tokenizer_pretokenizer.h"

#include <pcre2.h>

#include <array>

#include "io/tokenizer_internal.h"

namespace llmc::tokenizer_internal {
namespace {

// GPT-2's pattern (HF ByteLevel use_regex=true).
constexpr const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama 3: numbers in groups of up to three, case-insensitive contractions.
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2: as Llama 3 but every digit on its own.
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// SmolLM: HF Digits(individual_digits) then GPT-2's pattern.
constexpr const char* kDigit = R"(\p{N})";

struct NamedSequence {
  const char* name;
  std::vector<const char*> regexes;
};

const std::array<NamedSequence, 4>& Sequences() {
  static const std::array<NamedSequence, 4> kSequences = {{
      {"gpt2", {kGpt2}},
      {"llama3", {kLlama3}},
      {"qwen2", {kQwen2}},
      {"smollm", {kDigit, kGpt2}},
  }};
  return kSequences;
}

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::~PreTokenizer() = default;

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::ForName(const std::string& name) {
  const NamedSequence* found = nullptr;
  for (const NamedSequence& s : Sequences()) {
    if (name == s.name) found = &s;
  }
  if (found == nullptr) {
    return Status::Unsupported("byte-level BPE pre-tokenizer \"{}\" is not supported (gpt2, llama3, qwen2, smollm)", name);
  }
  std::unique_ptr<PreTokenizer> pre(new PreTokenizer());
  for (const char* pattern : found->regexes) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    // MATCH_INVALID_UTF: invalid UTF-8 in the input is never matched (it stays between words)
    // instead of failing the whole match.
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
    if (code == nullptr) {
      std::array<PCRE2_UCHAR, 256> msg{};
      pcre2_get_error_message(error, msg.data(), msg.size());
      return Status::Internal("pre-tokenizer {}: regex does not compile at offset {}: {}", name, offset,
                              reinterpret_cast<const char*>(msg.data()));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // best effort: the interpreter gives the same matches
    auto regex = std::make_unique<Regex>();
    regex->code = code;
    pre->regexes_.push_back(std::move(regex));
  }
  return pre;
}

namespace {

// Appends the matches of `code` in `piece` and the text between them to `out`.
void SplitPiece(pcre2_code* code, pcre2_match_data* match, std::string_view piece, std::vector<std::string_view>& out) {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
  size_t pos = 0;
  size_t gap_start = 0;
  while (pos < piece.size()) {
    const int rc = pcre2_match(code, subject, piece.size(), pos, 0, match, nullptr);
    if (rc < 0) break;  // no further match (PCRE2_ERROR_NOMATCH)
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end == begin) {  // an empty match would loop forever: step over one character
      pos = begin + Utf8SequenceLength(static_cast<unsigned char>(piece[begin]));
      continue;
    }
    if (begin > gap_start) out.push_back(piece.substr(gap_start, begin - gap_start));
    out.push_back(piece.substr(begin, end - begin));
    pos = gap_start = end;
  }
  if (gap_start < piece.size()) out.push_back(piece.substr(gap_start));
}

}  // namespace

std::vector<std::string_view> PreTokenizer::Split(std::string_view text) const {
  std::vector<std::string_view> pieces = {text};
  std::vector<std::string_view> next;
  for (const auto& regex : regexes_) {
    pcre2_match_data* match = pcre2_match_data_create_from_pattern(regex->code, nullptr);
    next.clear();
    for (std::string_view piece : pieces) SplitPiece(regex->code, match, piece, next);
    pcre2_match_data_free(match);
    pieces.swap(next);
  }
  return pieces;
}

std::string PreTokenizerNameForRegex(std::string_view regex) {
  for (const NamedSequence& s : Sequences()) {
    if (s.regexes.size() == 1 && regex == s.regexes[0]) return s.name;
  }
  return "";
}

}  // namespace llmc::tokenizer_internal
