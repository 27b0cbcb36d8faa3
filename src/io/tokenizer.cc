// Tokenizer::FromSpec and the pieces both runtimes share: added-token splitting and UTF-8 helpers.
#include <algorithm>

#include "io/tokenizer_internal.h"
#include "llmc/tokenizer.h"

namespace llmc {

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromSpec(const nlohmann::json& spec) {
  if (spec.is_null()) return Status::NotFound("this model has no tokenizer (its tokenizer spec is null)");
  LLMC_ASSIGN_OR_RETURN(tokenizer_internal::TokenizerSpec s,
                        tokenizer_internal::TokenizerSpec::FromJson(spec, "tokenizer spec"));
  if (s.model == "spm") return tokenizer_internal::MakeSentencePieceTokenizer(std::move(s));
  return tokenizer_internal::MakeByteLevelBpeTokenizer(std::move(s));
}

namespace tokenizer_internal {

AddedTokenSplitter::AddedTokenSplitter(const std::vector<std::string>& tokens, const std::vector<int32_t>& added_ids) {
  for (const int32_t id : added_ids) {
    const std::string& t = tokens[id];
    if (!t.empty()) by_first_byte_[static_cast<unsigned char>(t[0])].emplace_back(t, id);
  }
  for (auto& [byte, candidates] : by_first_byte_) {
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  }
}

std::vector<AddedTokenSplitter::Piece> AddedTokenSplitter::Split(std::string_view text) const {
  std::vector<Piece> pieces;
  size_t plain_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const auto it = by_first_byte_.find(static_cast<unsigned char>(text[pos]));
    const std::pair<std::string, int32_t>* match = nullptr;
    if (it != by_first_byte_.end()) {
      for (const auto& candidate : it->second) {
        if (text.compare(pos, candidate.first.size(), candidate.first) == 0) {
          match = &candidate;
          break;
        }
      }
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    if (pos > plain_start) pieces.push_back({text.substr(plain_start, pos - plain_start), -1});
    pieces.push_back({text.substr(pos, match->first.size()), match->second});
    pos += match->first.size();
    plain_start = pos;
  }
  if (plain_start < text.size()) pieces.push_back({text.substr(plain_start), -1});
  return pieces;
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

size_t Utf8SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;  // a stray continuation or invalid byte stands alone
}

}  // namespace tokenizer_internal
}  // namespace llmc
