// HuggingFace tokenizers' tokenizer.json -> TokenizerSpec. Two shapes are recognised:
//  - byte-level BPE: a ByteLevel pre-tokenizer, alone (GPT-2), after Digits (SmolLM) or after a Split
//    regex (Llama 3, Qwen2), named by the regex it uses;
//  - SentencePiece-style BPE: "▁" for spaces via a Metaspace pre-tokenizer or Prepend/Replace normalizers,
//    usually with byte_fallback. Its merge ranks become piece scores (the converter ranked merges by score).
#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/tokenizer_internal.h"
#include "llmc/file.h"

namespace llmc::tokenizer_internal {
namespace {

using nlohmann::json;

constexpr const char* kMetaspace = "\xE2\x96\x81";  // "▁"

std::string TypeOf(const json& j) { return j.is_object() ? j.value("type", std::string()) : std::string(); }

// The pre-tokenizers of a tokenizer.json, flattening one level of Sequence.
std::vector<json> PreTokenizerList(const json& root) {
  const json& pre = root.contains("pre_tokenizer") ? root["pre_tokenizer"] : json(nullptr);
  if (pre.is_null()) return {};
  if (TypeOf(pre) == "Sequence" && pre.contains("pretokenizers") && pre["pretokenizers"].is_array()) {
    return pre["pretokenizers"].get<std::vector<json>>();
  }
  return {pre};
}

// Names the byte-level pre-tokenizer, or fails naming what was found.
Result<std::string> ByteLevelPreName(const std::vector<json>& pres, const std::string& path) {
  const json& byte_level = pres.back();
  if (TypeOf(byte_level) != "ByteLevel") {
    return Status::Unsupported("{}: the ByteLevel pre-tokenizer must come last, found \"{}\"", path, TypeOf(byte_level));
  }
  if (byte_level.value("add_prefix_space", false)) {
    return Status::Unsupported("{}: ByteLevel with add_prefix_space is not supported", path);
  }
  const bool use_regex = byte_level.value("use_regex", true);
  if (pres.size() == 1 && use_regex) return std::string("gpt2");
  if (pres.size() == 2 && use_regex && TypeOf(pres[0]) == "Digits" && pres[0].value("individual_digits", false)) {
    return std::string("smollm");
  }
  if (pres.size() == 2 && !use_regex && TypeOf(pres[0]) == "Split") {
    const json& pattern = pres[0].contains("pattern") ? pres[0]["pattern"] : json(nullptr);
    if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
      const std::string regex = pattern["Regex"].get<std::string>();
      std::string name = PreTokenizerNameForRegex(regex);
      if (!name.empty()) return name;
      return Status::Unsupported("{}: pre-tokenizer Split regex is not a known one (gpt2, llama3, qwen2): {}", path, regex);
    }
  }
  json described = json::array();
  for (const json& p : pres) described.push_back(TypeOf(p));
  return Status::Unsupported("{}: byte-level pre-tokenizer sequence {} is not supported", path, described.dump());
}

bool IsReplaceSpaceWithMetaspace(const json& n) {
  return TypeOf(n) == "Replace" && n.contains("pattern") && n["pattern"].is_object() &&
         n["pattern"].value("String", std::string()) == " " && n.value("content", std::string()) == kMetaspace;
}

// SentencePiece-style: spaces become "▁" and a "▁" is prepended, by normalizers or a Metaspace pre-tokenizer.
// Returns false when the file does not look SentencePiece-style at all.
bool ReadMetaspaceStyle(const json& root, const std::vector<json>& pres, bool& add_space_prefix) {
  if (pres.size() == 1 && TypeOf(pres[0]) == "Metaspace") {
    const std::string scheme = pres[0].value("prepend_scheme", std::string("always"));
    add_space_prefix = pres[0].value("add_prefix_space", scheme != "never");
    return pres[0].value("replacement", std::string(kMetaspace)) == kMetaspace;
  }
  if (!pres.empty()) return false;
  const json& norm = root.contains("normalizer") ? root["normalizer"] : json(nullptr);
  std::vector<json> steps;
  if (TypeOf(norm) == "Sequence" && norm.contains("normalizers")) steps = norm["normalizers"].get<std::vector<json>>();
  else if (!norm.is_null()) steps = {norm};
  bool replaces_spaces = false;
  add_space_prefix = false;
  for (const json& n : steps) {
    if (TypeOf(n) == "Prepend" && n.value("prepend", std::string()) == kMetaspace) add_space_prefix = true;
    else if (IsReplaceSpaceWithMetaspace(n)) replaces_spaces = true;
    else return false;
  }
  return replaces_spaces;
}

// Fills tokens from model.vocab and added_tokens; every id below the largest must be present.
Status ReadVocab(const json& root, const std::string& path, TokenizerSpec& spec) {
  const json& vocab = root["model"]["vocab"];
  if (!vocab.is_object()) return Status::Corrupt("{}: model.vocab must be an object of token -> id", path);
  std::vector<std::pair<int64_t, std::string>> entries;
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer()) return Status::Corrupt("{}: model.vocab[\"{}\"] must be an integer id", path, token);
    entries.emplace_back(id.get<int64_t>(), token);
  }
  const json& added = root.contains("added_tokens") ? root["added_tokens"] : json::array();
  if (!added.is_array()) return Status::Corrupt("{}: added_tokens must be an array", path);
  for (const json& a : added) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
        !a["content"].is_string()) {
      return Status::Corrupt("{}: added_tokens entry {} needs an integer \"id\" and a string \"content\"", path, a.dump());
    }
    entries.emplace_back(a["id"].get<int64_t>(), a["content"].get<std::string>());
  }
  int64_t max_id = -1;
  for (const auto& [id, token] : entries) {
    // 16M ids is far beyond any real vocabulary and keeps a hostile file from forcing a huge allocation.
    if (id < 0 || id > (1 << 24)) return Status::Corrupt("{}: token \"{}\" has id {} out of range", path, token, id);
    max_id = std::max(max_id, id);
  }
  std::vector<bool> seen(static_cast<size_t>(max_id + 1), false);
  spec.tokens.assign(static_cast<size_t>(max_id + 1), "");
  for (const auto& [id, token] : entries) {
    spec.tokens[id] = token;
    seen[id] = true;
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) return Status::Corrupt("{}: no token has id {} (ids must be 0..{} without gaps)", path, i, max_id);
  }
  spec.token_types.assign(spec.tokens.size(), kNormal);
  for (const json& a : added) {
    const auto id = a["id"].get<int32_t>();
    spec.token_types[id] = a.value("special", false) ? kControl : kUserDefined;
    spec.added_tokens.push_back(id);
  }
  return Status::OK();
}

// Merges are "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20).
Status ReadMerges(const json& root, const std::string& path, std::vector<std::string>& merges) {
  const json& m = root["model"].contains("merges") ? root["model"]["merges"] : json::array();
  if (!m.is_array()) return Status::Corrupt("{}: model.merges must be an array", path);
  merges.reserve(m.size());
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i].is_string()) {
      merges.push_back(m[i].get<std::string>());
    } else if (m[i].is_array() && m[i].size() == 2 && m[i][0].is_string() && m[i][1].is_string()) {
      merges.push_back(m[i][0].get<std::string>() + " " + m[i][1].get<std::string>());
    } else {
      return Status::Corrupt("{}: model.merges[{}] must be \"a b\" or [\"a\", \"b\"], found {}", path, i, m[i].dump());
    }
  }
  return Status::OK();
}

// SentencePiece merges by piece score; HF lists merges by that score, so rank order is score order.
void ScoresFromMergeRanks(const std::vector<std::string>& merges, TokenizerSpec& spec) {
  std::unordered_map<std::string, size_t> id_of;
  for (size_t i = 0; i < spec.tokens.size(); ++i) id_of.emplace(spec.tokens[i], i);
  const auto unranked = -static_cast<float>(merges.size() + 1);
  spec.scores.assign(spec.tokens.size(), unranked);
  for (size_t rank = merges.size(); rank-- > 0;) {  // the best rank is written last and wins
    const std::string& m = merges[rank];
    const size_t space = m.find(' ');
    if (space == std::string::npos) continue;
    const auto it = id_of.find(m.substr(0, space) + m.substr(space + 1));
    if (it != id_of.end()) spec.scores[it->second] = -static_cast<float>(rank);
  }
}

// A BOS in the post-processor's single-sequence template means the model expects one.
void ReadBosFromPostProcessor(const json& root, TokenizerSpec& spec) {
  const json& post = root.contains("post_processor") ? root["post_processor"] : json(nullptr);
  if (TypeOf(post) != "TemplateProcessing" || !post.contains("single") || !post["single"].is_array()) return;
  for (const json& item : post["single"]) {
    if (item.contains("Sequence")) return;
    if (item.contains("SpecialToken") && item["SpecialToken"].is_object()) {
      const std::string content = item["SpecialToken"].value("id", std::string());
      for (size_t i = 0; i < spec.tokens.size(); ++i) {
        if (spec.tokens[i] == content) {
          spec.bos_id = static_cast<int32_t>(i);
          spec.add_bos = true;
          return;
        }
      }
    }
  }
}

Result<TokenizerSpec> ParseTokenizerJson(const json& root, const std::string& path) {
  if (!root.contains("model") || !root["model"].is_object()) return Status::Corrupt("{}: no \"model\" object", path);
  const std::string model_type = TypeOf(root["model"]);
  if (model_type != "BPE") {
    return Status::Unsupported("{}: tokenizer model type \"{}\" is not supported (only BPE)", path, model_type);
  }
  TokenizerSpec spec;
  LLMC_RETURN_IF_ERROR(ReadVocab(root, path, spec));
  std::vector<std::string> merges;
  LLMC_RETURN_IF_ERROR(ReadMerges(root, path, merges));
  const json& model = root["model"];
  spec.byte_fallback = model.value("byte_fallback", false);
  spec.ignore_merges = model.value("ignore_merges", false);
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const std::string unk = model["unk_token"].get<std::string>();
    for (size_t i = 0; i < spec.tokens.size(); ++i) {
      if (spec.tokens[i] == unk) spec.unk_id = static_cast<int32_t>(i);
    }
  }
  if (spec.unk_id >= 0) spec.token_types[spec.unk_id] = kUnknown;

  const std::vector<json> pres = PreTokenizerList(root);
  bool add_space_prefix = false;
  const bool byte_level = !pres.empty() && TypeOf(pres.back()) == "ByteLevel";
  if (byte_level) {
    const json& norm = root.contains("normalizer") ? root["normalizer"] : json(nullptr);
    // NFC (Qwen2) is accepted and not applied, as llama.cpp does; text is expected to be NFC already.
    if (!norm.is_null() && TypeOf(norm) != "NFC") {
      return Status::Unsupported("{}: normalizer \"{}\" before a byte-level BPE is not supported", path, TypeOf(norm));
    }
    LLMC_ASSIGN_OR_RETURN(spec.pre, ByteLevelPreName(pres, path));
    spec.model = "bpe";
    spec.merges = std::move(merges);
  } else if (ReadMetaspaceStyle(root, pres, add_space_prefix)) {
    spec.model = "spm";
    spec.add_space_prefix = add_space_prefix;
    ScoresFromMergeRanks(merges, spec);
    for (size_t i = 0; i < spec.tokens.size(); ++i) {
      const std::string& t = spec.tokens[i];
      if (spec.byte_fallback && t.size() == 6 && t.rfind("<0x", 0) == 0 && t.back() == '>') spec.token_types[i] = kByte;
    }
  } else {
    return Status::Unsupported("{}: BPE without a ByteLevel or Metaspace (\"\xE2\x96\x81\") pre-tokenization is not supported",
                               path);
  }
  ReadBosFromPostProcessor(root, spec);
  return spec;
}

}  // namespace

Result<TokenizerSpec> SpecFromHfTokenizerJson(const std::string& path) {
  LLMC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  const json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) return Status::Corrupt("{}: not a JSON object", path);
  // The readers above use json::value() and get<>() for optional settings; a field of the wrong type
  // throws, and becomes a Corrupt status here instead of escaping.
  try {
    return ParseTokenizerJson(root, path);
  } catch (const json::exception& e) {
    return Status::Corrupt("{}: a field has an unexpected type: {}", path, e.what());
  }
}

}  // namespace llmc::tokenizer_internal
