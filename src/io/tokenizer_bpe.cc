// Byte-level BPE (GPT-2 family, SmolLM, Llama 3, Qwen2), with the semantics of HF tokenizers:
// added tokens split out first, the pre-tokenizer regexes cut words, each word's UTF-8 bytes are mapped
// to printable code points (GPT-2's bytes_to_unicode) and merged by merge rank, lowest rank first and
// leftmost first among equals. Results are cached per word: natural text repeats words constantly.
#include <array>
#include <limits>
#include <mutex>
#include <unordered_map>

#include "io/tokenizer_internal.h"
#include "io/tokenizer_pretokenizer.h"

namespace llmc::tokenizer_internal {
namespace {

// GPT-2's reversible byte <-> code point map: printable Latin-1 bytes map to themselves, the other 68
// bytes to U+0100 upwards, so every byte string becomes printable text without spaces or controls.
struct ByteMap {
  std::array<std::string, 256> byte_to_text;
  std::unordered_map<uint32_t, uint8_t> code_point_to_byte;
  ByteMap() {
    uint32_t next_extra = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const uint32_t cp = printable ? b : next_extra++;
      AppendUtf8(cp, byte_to_text[b]);
      code_point_to_byte[cp] = static_cast<uint8_t>(b);
    }
  }
};

const ByteMap& Bytes() {
  static const ByteMap kMap;
  return kMap;
}

// Decodes one UTF-8 code point at `pos` (advancing it); invalid bytes come back as themselves.
uint32_t NextCodePoint(std::string_view s, size_t& pos) {
  const auto lead = static_cast<unsigned char>(s[pos]);
  const size_t len = Utf8SequenceLength(lead);
  if (len == 1 || pos + len > s.size()) {
    ++pos;
    return lead;
  }
  uint32_t cp = lead & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[pos + i]) & 0x3F);
  pos += len;
  return cp;
}

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

class ByteLevelBpeTokenizer final : public Tokenizer {
 public:
  ByteLevelBpeTokenizer(TokenizerSpec spec, std::unique_ptr<PreTokenizer> pre)
      : spec_(std::move(spec)), pre_(std::move(pre)), added_(spec_.tokens, spec_.added_tokens) {
    for (size_t i = 0; i < spec_.tokens.size(); ++i) id_of_.emplace(spec_.tokens[i], static_cast<int32_t>(i));
    is_added_.assign(spec_.tokens.size(), false);
    for (const int32_t id : spec_.added_tokens) is_added_[id] = true;
    for (size_t rank = 0; rank < spec_.merges.size(); ++rank) AddMerge(spec_.merges[rank], static_cast<int32_t>(rank));
  }

  std::vector<int32_t> Encode(std::string_view text, bool add_bos) const override {
    std::vector<int32_t> ids;
    if (add_bos && spec_.bos_id >= 0) ids.push_back(spec_.bos_id);
    std::lock_guard<std::mutex> lock(cache_mutex_);
    for (const AddedTokenSplitter::Piece& piece : added_.Split(text)) {
      if (piece.id >= 0) {
        ids.push_back(piece.id);
        continue;
      }
      for (std::string_view word : pre_->Split(piece.text)) AppendWord(word, ids);
    }
    return ids;
  }

  std::string Decode(std::span<const int32_t> ids) const override {
    std::string out;
    for (const int32_t id : ids) {
      if (id < 0 || id >= vocab_size()) continue;
      const std::string& token = spec_.tokens[id];
      if (is_added_[id]) {
        out += token;  // added tokens are stored as plain text, not byte-mapped
        continue;
      }
      for (size_t pos = 0; pos < token.size();) {
        const size_t start = pos;
        const uint32_t cp = NextCodePoint(token, pos);
        const auto it = Bytes().code_point_to_byte.find(cp);
        if (it != Bytes().code_point_to_byte.end()) out += static_cast<char>(it->second);
        else out.append(token, start, pos - start);
      }
    }
    return out;
  }

  int64_t vocab_size() const override { return static_cast<int64_t>(spec_.tokens.size()); }
  int32_t bos_id() const override { return spec_.bos_id; }
  int32_t eos_id() const override { return spec_.eos_id; }
  bool add_bos_by_default() const override { return spec_.add_bos; }

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };

  // Merges naming tokens absent from the vocabulary can never apply; HF refuses such files, we skip them.
  void AddMerge(const std::string& merge, int32_t rank) {
    const size_t space = merge.find(' ', 1);  // a leading space would be part of the left token
    if (space == std::string::npos) return;
    const auto left = id_of_.find(merge.substr(0, space));
    const auto right = id_of_.find(merge.substr(space + 1));
    const auto result = id_of_.find(merge.substr(0, space) + merge.substr(space + 1));
    if (left == id_of_.end() || right == id_of_.end() || result == id_of_.end()) return;
    merges_.emplace(PairKey(left->second, right->second), Merge{rank, result->second});
  }

  // Appends the ids of one pre-tokenized word, from the cache when it was seen before.
  void AppendWord(std::string_view word, std::vector<int32_t>& ids) const {
    std::string key(word);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      if (cache_.size() >= kMaxCachedWords) cache_.clear();
      it = cache_.emplace(std::move(key), EncodeWord(word)).first;
    }
    ids.insert(ids.end(), it->second.begin(), it->second.end());
  }

  std::vector<int32_t> EncodeWord(std::string_view word) const {
    std::string mapped;
    for (const char c : word) mapped += Bytes().byte_to_text[static_cast<unsigned char>(c)];
    if (spec_.ignore_merges) {
      const auto whole = id_of_.find(mapped);
      if (whole != id_of_.end()) return {whole->second};
    }
    std::vector<int32_t> symbols;
    for (size_t pos = 0; pos < mapped.size();) {
      const size_t start = pos;
      NextCodePoint(mapped, pos);
      // A byte the vocabulary lacks (SmolLM2 has no 0xC0, 0xF5..0xFF, a few controls) is dropped, as
      // llama.cpp and HF tokenizers without an unk token do.
      const auto it = id_of_.find(mapped.substr(start, pos - start));
      if (it != id_of_.end()) symbols.push_back(it->second);
    }
    MergeSymbols(symbols);
    return symbols;
  }

  // Repeatedly applies the best-ranked merge, leftmost first: words are short, so a scan beats a heap.
  void MergeSymbols(std::vector<int32_t>& symbols) const {
    while (symbols.size() > 1) {
      int32_t best_rank = std::numeric_limits<int32_t>::max();
      size_t best_pos = 0;
      int32_t best_result = -1;
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        const auto it = merges_.find(PairKey(symbols[i], symbols[i + 1]));
        if (it != merges_.end() && it->second.rank < best_rank) {
          best_rank = it->second.rank;
          best_pos = i;
          best_result = it->second.result;
        }
      }
      if (best_result < 0) return;
      symbols[best_pos] = best_result;
      symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
    }
  }

  static constexpr size_t kMaxCachedWords = 1 << 18;

  TokenizerSpec spec_;
  std::unique_ptr<PreTokenizer> pre_;
  AddedTokenSplitter added_;
  std::unordered_map<std::string, int32_t> id_of_;
  std::vector<bool> is_added_;
  std::unordered_map<uint64_t, Merge> merges_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeByteLevelBpeTokenizer(TokenizerSpec spec) {
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<PreTokenizer> pre, PreTokenizer::ForName(spec.pre));
  return std::unique_ptr<Tokenizer>(new ByteLevelBpeTokenizer(std::move(spec), std::move(pre)));
}

}  // namespace llmc::tokenizer_internal
