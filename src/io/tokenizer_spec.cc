// The canonical tokenizer spec (docs/tokenizer-spec.md): JSON <-> TokenizerSpec, and the two public
// entry points that build it from a HuggingFace directory or from a GGUF file's tokenizer keys.
#include <cmath>
#include <string>
#include <vector>

#include "io/tokenizer_internal.h"
#include "llmc/file.h"
#include "llmc/tokenizer.h"

namespace llmc {
namespace tokenizer_internal {
namespace {

using nlohmann::json;

nlohmann::json IdOrNull(int32_t id) { return id < 0 ? json(nullptr) : json(id); }

Status ReadId(const json& j, const char* key, int64_t n_tokens, const std::string& what, int32_t& out) {
  out = -1;
  if (!j.contains(key) || j[key].is_null()) return Status::OK();
  const json& v = j[key];
  if (!v.is_number_integer()) return Status::Corrupt("{}: \"{}\" must be an integer or null, found {}", what, key, v.dump());
  const int64_t id = v.get<int64_t>();
  if (id < 0) return Status::OK();  // GGUF and SentencePiece write -1 for "none"
  if (id >= n_tokens) return Status::Corrupt("{}: \"{}\" = {} is outside the vocabulary of {} tokens", what, key, id, n_tokens);
  out = static_cast<int32_t>(id);
  return Status::OK();
}

Status ReadBool(const json& j, const char* key, bool fallback, const std::string& what, bool& out) {
  out = fallback;
  if (!j.contains(key) || j[key].is_null()) return Status::OK();
  if (!j[key].is_boolean()) return Status::Corrupt("{}: \"{}\" must be a boolean, found {}", what, key, j[key].dump());
  out = j[key].get<bool>();
  return Status::OK();
}

Status ReadStringArray(const json& j, const char* key, const std::string& what, std::vector<std::string>& out) {
  const json& v = j[key];
  if (!v.is_array()) return Status::Corrupt("{}: \"{}\" must be an array of strings", what, key);
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) return Status::Corrupt("{}: \"{}\"[{}] must be a string, found {}", what, key, i, v[i].dump());
    out.push_back(v[i].get<std::string>());
  }
  return Status::OK();
}

template <typename T>
Status ReadNumberArray(const json& j, const char* key, size_t expected, const std::string& what, std::vector<T>& out) {
  const json& v = j[key];
  if (!v.is_array() || v.size() != expected) {
    return Status::Corrupt("{}: \"{}\" must be an array of {} numbers (one per token), found {}", what, key, expected,
                           v.is_array() ? std::to_string(v.size()) + " entries" : std::string(v.type_name()));
  }
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number()) return Status::Corrupt("{}: \"{}\"[{}] must be a number, found {}", what, key, i, v[i].dump());
    out.push_back(v[i].get<T>());
  }
  return Status::OK();
}

bool Has(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

}  // namespace

json TokenizerSpec::ToJson() const {
  json j = {{"model", model},
            {"tokens", tokens},
            {"token_types", token_types},
            {"bos_id", IdOrNull(bos_id)},
            {"eos_id", IdOrNull(eos_id)},
            {"unk_id", IdOrNull(unk_id)},
            {"pad_id", IdOrNull(pad_id)},
            {"add_bos", add_bos},
            {"add_space_prefix", add_space_prefix},
            {"byte_fallback", byte_fallback},
            {"ignore_merges", ignore_merges},
            {"chat_template", chat_template.empty() ? json(nullptr) : json(chat_template)},
            {"added_tokens", added_tokens}};
  if (!scores.empty()) j["scores"] = scores;
  if (model == "bpe") {
    j["merges"] = merges;
    j["pre"] = pre;
  }
  return j;
}

Result<TokenizerSpec> TokenizerSpec::FromJson(const json& j, const std::string& what) {
  if (!j.is_object()) return Status::Corrupt("{}: tokenizer spec must be a JSON object, found {}", what, j.type_name());
  TokenizerSpec s;
  if (!Has(j, "model") || !j["model"].is_string()) return Status::Corrupt("{}: tokenizer spec has no \"model\" string", what);
  s.model = j["model"].get<std::string>();
  if (s.model != "spm" && s.model != "bpe") {
    return Status::Unsupported("{}: tokenizer model \"{}\" is not supported (expected \"spm\" or \"bpe\")", what, s.model);
  }
  if (!Has(j, "tokens")) return Status::Corrupt("{}: tokenizer spec has no \"tokens\"", what);
  LLMC_RETURN_IF_ERROR(ReadStringArray(j, "tokens", what, s.tokens));
  if (s.tokens.empty()) return Status::Corrupt("{}: tokenizer spec has an empty \"tokens\" array", what);
  const size_t n = s.tokens.size();
  if (Has(j, "scores")) LLMC_RETURN_IF_ERROR(ReadNumberArray(j, "scores", n, what, s.scores));
  for (size_t i = 0; i < s.scores.size(); ++i) {
    if (!std::isfinite(s.scores[i])) return Status::Corrupt("{}: scores[{}] is not a finite number", what, i);
  }
  if (s.model == "spm" && s.scores.empty()) s.scores.assign(n, 0.0f);
  if (Has(j, "token_types")) {
    LLMC_RETURN_IF_ERROR(ReadNumberArray(j, "token_types", n, what, s.token_types));
    for (size_t i = 0; i < n; ++i) {
      if (s.token_types[i] < kNormal || s.token_types[i] > kByte) {
        return Status::Corrupt("{}: token_types[{}] = {} is not a known type (1..6)", what, i, s.token_types[i]);
      }
    }
  } else {
    s.token_types.assign(n, kNormal);
  }
  if (s.model == "bpe") {
    if (!Has(j, "merges")) return Status::Corrupt("{}: byte-level BPE spec has no \"merges\"", what);
    LLMC_RETURN_IF_ERROR(ReadStringArray(j, "merges", what, s.merges));
    if (!Has(j, "pre") || !j["pre"].is_string()) return Status::Corrupt("{}: byte-level BPE spec has no \"pre\" string", what);
    s.pre = j["pre"].get<std::string>();
  }
  const auto n_tokens = static_cast<int64_t>(n);
  LLMC_RETURN_IF_ERROR(ReadId(j, "bos_id", n_tokens, what, s.bos_id));
  LLMC_RETURN_IF_ERROR(ReadId(j, "eos_id", n_tokens, what, s.eos_id));
  LLMC_RETURN_IF_ERROR(ReadId(j, "unk_id", n_tokens, what, s.unk_id));
  LLMC_RETURN_IF_ERROR(ReadId(j, "pad_id", n_tokens, what, s.pad_id));
  LLMC_RETURN_IF_ERROR(ReadBool(j, "add_bos", false, what, s.add_bos));
  LLMC_RETURN_IF_ERROR(ReadBool(j, "add_space_prefix", false, what, s.add_space_prefix));
  LLMC_RETURN_IF_ERROR(ReadBool(j, "byte_fallback", false, what, s.byte_fallback));
  LLMC_RETURN_IF_ERROR(ReadBool(j, "ignore_merges", false, what, s.ignore_merges));
  if (Has(j, "chat_template")) {
    if (!j["chat_template"].is_string()) return Status::Corrupt("{}: \"chat_template\" must be a string or null", what);
    s.chat_template = j["chat_template"].get<std::string>();
  }
  if (Has(j, "added_tokens")) {
    const json& a = j["added_tokens"];
    if (!a.is_array()) return Status::Corrupt("{}: \"added_tokens\" must be an array of token ids", what);
    for (size_t i = 0; i < a.size(); ++i) {
      if (!a[i].is_number_integer() || a[i].get<int64_t>() < 0 || a[i].get<int64_t>() >= n_tokens) {
        return Status::Corrupt("{}: added_tokens[{}] = {} is not a token id below {}", what, i, a[i].dump(), n);
      }
      s.added_tokens.push_back(a[i].get<int32_t>());
    }
  }
  return s;
}

namespace {

// tokenizer_config.json writes special tokens as a string or as {"content": "..."}.
std::string SpecialTokenContent(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

int32_t FindToken(const TokenizerSpec& spec, const std::string& content) {
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    if (spec.tokens[i] == content) return static_cast<int32_t>(i);
  }
  return -1;
}

// chat_template is a string, or a list of {"name", "template"} of which "default" is the one to use.
std::string ChatTemplate(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) return "";
  for (const json& t : v) {
    if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string()) {
      return t["template"].get<std::string>();
    }
  }
  return "";
}

Status ApplyConfigFields(const json& cfg, const std::string& path, TokenizerSpec& spec) {
  if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()) spec.add_bos = cfg["add_bos_token"].get<bool>();
  const std::pair<const char*, int32_t*> specials[] = {
      {"bos_token", &spec.bos_id}, {"eos_token", &spec.eos_id}, {"unk_token", &spec.unk_id}, {"pad_token", &spec.pad_id}};
  for (const auto& [key, id] : specials) {
    if (!cfg.contains(key) || cfg[key].is_null()) continue;
    const std::string content = SpecialTokenContent(cfg[key]);
    const int32_t found = FindToken(spec, content);
    if (found < 0) return Status::Corrupt("{}: \"{}\" is \"{}\", which is not in the vocabulary", path, key, content);
    *id = found;
  }
  if (cfg.contains("chat_template")) spec.chat_template = ChatTemplate(cfg["chat_template"]);
  return Status::OK();
}

// Settings in tokenizer_config.json override what the tokenizer file itself implies.
Status ApplyTokenizerConfig(const std::string& path, TokenizerSpec& spec) {
  LLMC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  const json cfg = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (cfg.is_discarded() || !cfg.is_object()) return Status::Corrupt("{}: not a JSON object", path);
  try {  // json::value() throws on a field of the wrong type
    return ApplyConfigFields(cfg, path, spec);
  } catch (const json::exception& e) {
    return Status::Corrupt("{}: a field has an unexpected type: {}", path, e.what());
  }
}

}  // namespace
}  // namespace tokenizer_internal

Result<nlohmann::json> TokenizerSpecFromHfDir(const std::string& dir) {
  using tokenizer_internal::TokenizerSpec;
  const std::string json_path = dir + "/tokenizer.json";
  const std::string model_path = dir + "/tokenizer.model";
  const bool has_json = FileExists(json_path);
  if (!has_json && !FileExists(model_path)) return nlohmann::json(nullptr);  // legal: no tokenizer shipped
  // tokenizer.json wins when both exist: it carries the added tokens and pre-tokenizer HF really uses.
  LLMC_ASSIGN_OR_RETURN(TokenizerSpec spec, has_json ? tokenizer_internal::SpecFromHfTokenizerJson(json_path)
                                                     : tokenizer_internal::SpecFromSentencePieceModel(model_path));
  const std::string config_path = dir + "/tokenizer_config.json";
  if (FileExists(config_path)) LLMC_RETURN_IF_ERROR(tokenizer_internal::ApplyTokenizerConfig(config_path, spec));
  return spec.ToJson();
}

namespace {

using nlohmann::json;

Status CopyGgufId(const json& keys, const char* key, int32_t& out) {
  if (!keys.contains(key)) return Status::OK();
  if (!keys[key].is_number_integer()) return Status::Corrupt("GGUF key {}: expected an integer, found {}", key, keys[key].dump());
  out = keys[key].get<int32_t>();
  return Status::OK();
}

Status CopyGgufBool(const json& keys, const char* key, bool& out) {
  if (!keys.contains(key)) return Status::OK();
  if (!keys[key].is_boolean()) return Status::Corrupt("GGUF key {}: expected a boolean, found {}", key, keys[key].dump());
  out = keys[key].get<bool>();
  return Status::OK();
}

}  // namespace

// Field by field as llama.cpp's llama_vocab::load reads them, with its defaults.
Result<nlohmann::json> TokenizerSpecFromGgufKeys(const nlohmann::json& keys) {
  using tokenizer_internal::TokenizerSpec;
  if (!keys.is_object()) return Status::Invalid("GGUF tokenizer keys must be a JSON object, found {}", keys.type_name());
  if (!keys.contains("tokenizer.ggml.model")) return json(nullptr);  // no tokenizer in this file
  if (!keys["tokenizer.ggml.model"].is_string()) return Status::Corrupt("GGUF key tokenizer.ggml.model: expected a string");
  const std::string ggml_model = keys["tokenizer.ggml.model"].get<std::string>();
  json j;
  if (ggml_model == "llama") {
    j["model"] = "spm";
  } else if (ggml_model == "gpt2") {
    j["model"] = "bpe";
    j["pre"] = "default";  // llama.cpp's name when the key is missing
    if (keys.contains("tokenizer.ggml.pre")) {
      if (!keys["tokenizer.ggml.pre"].is_string()) return Status::Corrupt("GGUF key tokenizer.ggml.pre: expected a string");
      j["pre"] = keys["tokenizer.ggml.pre"];
    }
    if (!keys.contains("tokenizer.ggml.merges")) return Status::Corrupt("GGUF: gpt2 tokenizer without tokenizer.ggml.merges");
    j["merges"] = keys["tokenizer.ggml.merges"];
  } else {
    return Status::Unsupported("GGUF key tokenizer.ggml.model: \"{}\" is not supported (expected \"llama\" or \"gpt2\")",
                               ggml_model);
  }
  if (!keys.contains("tokenizer.ggml.tokens")) return Status::Corrupt("GGUF: tokenizer without tokenizer.ggml.tokens");
  j["tokens"] = keys["tokenizer.ggml.tokens"];
  if (keys.contains("tokenizer.ggml.scores")) j["scores"] = keys["tokenizer.ggml.scores"];
  if (keys.contains("tokenizer.ggml.token_type")) j["token_types"] = keys["tokenizer.ggml.token_type"];
  LLMC_ASSIGN_OR_RETURN(TokenizerSpec spec, TokenizerSpec::FromJson(j, "GGUF tokenizer keys"));

  const bool is_spm = spec.model == "spm";
  spec.unk_id = is_spm ? 0 : -1;
  spec.bos_id = is_spm ? 1 : -1;
  spec.eos_id = is_spm ? 2 : -1;
  spec.add_bos = is_spm;
  spec.add_space_prefix = is_spm;
  spec.ignore_merges = spec.pre == "llama3";  // as llama.cpp decides it
  LLMC_RETURN_IF_ERROR(CopyGgufId(keys, "tokenizer.ggml.bos_token_id", spec.bos_id));
  LLMC_RETURN_IF_ERROR(CopyGgufId(keys, "tokenizer.ggml.eos_token_id", spec.eos_id));
  LLMC_RETURN_IF_ERROR(CopyGgufId(keys, "tokenizer.ggml.unknown_token_id", spec.unk_id));
  LLMC_RETURN_IF_ERROR(CopyGgufId(keys, "tokenizer.ggml.padding_token_id", spec.pad_id));
  LLMC_RETURN_IF_ERROR(CopyGgufBool(keys, "tokenizer.ggml.add_bos_token", spec.add_bos));
  LLMC_RETURN_IF_ERROR(CopyGgufBool(keys, "tokenizer.ggml.add_space_prefix", spec.add_space_prefix));
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    const int32_t type = spec.token_types[i];
    if (type == tokenizer_internal::kByte) spec.byte_fallback = is_spm;
    // llama.cpp with parse_special, like HF tokenizers, matches control and user-defined tokens verbatim.
    if (type == tokenizer_internal::kControl || type == tokenizer_internal::kUserDefined) {
      spec.added_tokens.push_back(static_cast<int32_t>(i));
    }
  }
  if (keys.contains("tokenizer.chat_template") && keys["tokenizer.chat_template"].is_string()) {
    spec.chat_template = keys["tokenizer.chat_template"].get<std::string>();
  }
  // Round trip through FromJson so out-of-range ids from the keys are reported, not stored.
  LLMC_ASSIGN_OR_RETURN(TokenizerSpec checked, TokenizerSpec::FromJson(spec.ToJson(), "GGUF tokenizer keys"));
  return checked.ToJson();
}

}  // namespace llmc
