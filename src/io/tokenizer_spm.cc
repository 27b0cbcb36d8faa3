// SentencePiece BPE (LLaMA 1/2 family, stories260K), with the semantics of the sentencepiece library
// and llama.cpp's llm_tokenizer_spm: spaces become "▁" (one prepended when add_space_prefix), the text
// starts as single characters, and the adjacent pair whose concatenation is the highest-scoring piece
// is merged first (leftmost among equals). Characters left without a piece become <0xXX> byte pieces
// (byte_fallback) or the unknown piece.
#include <array>
#include <cstdio>
#include <queue>
#include <unordered_map>

#include "io/tokenizer_internal.h"

namespace llmc::tokenizer_internal {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // "▁"

// One symbol of the text being merged: a byte range of the normalized text, linked to its neighbours.
struct Symbol {
  int prev;
  int next;
  size_t start;
  size_t len;
};

struct Candidate {
  float score;
  int left;
  size_t len;  // bytes of the merged piece: a candidate is stale when its symbols changed size
  bool operator<(const Candidate& o) const {  // priority_queue pops the largest: best score, then leftmost
    return score < o.score || (score == o.score && left > o.left);
  }
};

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(TokenizerSpec spec) : spec_(std::move(spec)), added_(spec_.tokens, spec_.added_tokens) {
    for (size_t i = 0; i < spec_.tokens.size(); ++i) {
      const auto id = static_cast<int32_t>(i);
      id_of_.emplace(spec_.tokens[i], id);
      const int32_t type = spec_.token_types[i];
      // SentencePiece merges only into normal and user-defined pieces; control, byte and unused never.
      if (type == kNormal || type == kUserDefined) mergeable_.emplace(spec_.tokens[i], id);
      if (type == kByte) {
        const std::string& t = spec_.tokens[i];
        unsigned value = 0;
        if (t.size() == 6 && std::sscanf(t.c_str(), "<0x%02X>", &value) == 1) byte_ids_[value] = id;
      }
    }
  }

  std::vector<int32_t> Encode(std::string_view text, bool add_bos) const override {
    std::vector<int32_t> ids;
    if (add_bos && spec_.bos_id >= 0) ids.push_back(spec_.bos_id);
    bool after_special = true;  // llama.cpp prefixes a space at the start and after each added token
    for (const AddedTokenSplitter::Piece& piece : added_.Split(text)) {
      if (piece.id >= 0) {
        ids.push_back(piece.id);
        after_special = true;
        continue;
      }
      EncodeText(Normalize(piece.text, spec_.add_space_prefix && after_special), ids);
      after_special = false;
    }
    return ids;
  }

  std::string Decode(std::span<const int32_t> ids) const override {
    std::string out;
    bool at_start = true;
    for (const int32_t id : ids) {
      if (id < 0 || id >= vocab_size()) continue;
      const int32_t type = spec_.token_types[id];
      if (type == kControl) continue;  // <s>, </s>: no surface text, as in SentencePiece
      if (type == kByte) {
        out += static_cast<char>(ByteValue(id));
      } else if (type == kUnknown) {
        out += " \xE2\x81\x87 ";  // SentencePiece's unk surface " ⁇ "
      } else {
        std::string_view piece = spec_.tokens[id];
        // The space that add_space_prefix put in front of the text is not part of it.
        if (at_start && spec_.add_space_prefix && piece.substr(0, kSpaceSymbol.size()) == kSpaceSymbol) {
          piece.remove_prefix(kSpaceSymbol.size());
        }
        AppendUnescaped(piece, out);
      }
      at_start = false;
    }
    return out;
  }

  int64_t vocab_size() const override { return static_cast<int64_t>(spec_.tokens.size()); }
  int32_t bos_id() const override { return spec_.bos_id; }
  int32_t eos_id() const override { return spec_.eos_id; }
  bool add_bos_by_default() const override { return spec_.add_bos; }

 private:
  static std::string Normalize(std::string_view text, bool add_space_prefix) {
    std::string out;
    if (text.empty()) return out;
    out.reserve(text.size() + text.size() / 4 + 3);
    if (add_space_prefix) out += kSpaceSymbol;
    for (const char c : text) {
      if (c == ' ') out += kSpaceSymbol;
      else out += c;
    }
    return out;
  }

  static void AppendUnescaped(std::string_view piece, std::string& out) {
    for (size_t pos = 0; pos < piece.size();) {
      if (piece.substr(pos, kSpaceSymbol.size()) == kSpaceSymbol) {
        out += ' ';
        pos += kSpaceSymbol.size();
      } else {
        out += piece[pos++];
      }
    }
  }

  unsigned ByteValue(int32_t id) const {
    unsigned value = 0;
    std::sscanf(spec_.tokens[id].c_str(), "<0x%02X>", &value);
    return value;
  }

  void TryCandidate(const std::string& text, const std::vector<Symbol>& symbols, int left,
                    std::priority_queue<Candidate>& queue) const {
    if (left < 0 || symbols[left].next < 0) return;
    const Symbol& a = symbols[left];
    const Symbol& b = symbols[a.next];
    const size_t len = a.len + b.len;
    const auto it = mergeable_.find(std::string_view(text).substr(a.start, len));
    if (it == mergeable_.end()) return;
    queue.push({spec_.scores[it->second], left, len});
  }

  void EncodeText(const std::string& text, std::vector<int32_t>& ids) const {
    if (text.empty()) return;
    std::vector<Symbol> symbols;
    for (size_t pos = 0; pos < text.size();) {
      const size_t len = std::min(Utf8SequenceLength(static_cast<unsigned char>(text[pos])), text.size() - pos);
      const int index = static_cast<int>(symbols.size());
      symbols.push_back({index - 1, pos + len < text.size() ? index + 1 : -1, pos, len});
      pos += len;
    }
    std::priority_queue<Candidate> queue;
    for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) TryCandidate(text, symbols, i, queue);
    while (!queue.empty()) {
      const Candidate c = queue.top();
      queue.pop();
      Symbol& left = symbols[c.left];
      if (left.len == 0 || left.next < 0 || left.len + symbols[left.next].len != c.len) continue;  // stale
      Symbol& right = symbols[left.next];
      left.len += right.len;
      right.len = 0;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = c.left;
      TryCandidate(text, symbols, left.prev, queue);
      TryCandidate(text, symbols, c.left, queue);
    }
    for (int i = 0; i >= 0; i = symbols[i].next) AppendSymbol(std::string_view(text).substr(symbols[i].start, symbols[i].len), ids);
  }

  void AppendSymbol(std::string_view piece, std::vector<int32_t>& ids) const {
    const auto it = id_of_.find(piece);
    if (it != id_of_.end() && spec_.token_types[it->second] != kByte) {
      ids.push_back(it->second);
      return;
    }
    if (spec_.byte_fallback) {
      for (const char c : piece) {
        const int32_t id = byte_ids_[static_cast<unsigned char>(c)];
        if (id >= 0) ids.push_back(id);
        else if (spec_.unk_id >= 0) ids.push_back(spec_.unk_id);
      }
      return;
    }
    if (spec_.unk_id >= 0) ids.push_back(spec_.unk_id);
  }

  TokenizerSpec spec_;
  AddedTokenSplitter added_;
  std::unordered_map<std::string_view, int32_t> id_of_;
  std::unordered_map<std::string_view, int32_t> mergeable_;
  std::array<int32_t, 256> byte_ids_ = MakeNoByteIds();

  static std::array<int32_t, 256> MakeNoByteIds() {
    std::array<int32_t, 256> a{};
    a.fill(-1);
    return a;
  }
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeSentencePieceTokenizer(TokenizerSpec spec) {
  if (spec.unk_id < 0 && !spec.byte_fallback) {
    return Status::Corrupt("tokenizer spec: a SentencePiece vocabulary needs an unk_id or byte_fallback");
  }
  return std::unique_ptr<Tokenizer>(new SentencePieceTokenizer(std::move(spec)));
}

}  // namespace llmc::tokenizer_internal
