#include "io/hf_config.h"

#include <optional>

#include "llmc/file.h"

namespace llmc {
namespace {

using nlohmann::json;

// model_type names the architecture; older configs may only carry `architectures`.
Result<Architecture> DetectArchitecture(const json& j, const std::string& origin) {
  if (j.contains("model_type") && j["model_type"].is_string()) {
    const std::string type = j["model_type"].get<std::string>();
    auto arch = ParseArchitecture(type);
    if (!arch.ok()) return arch.status().WithContext(origin + ": model_type");
    return arch;
  }
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string()) {
    const std::string cls = j["architectures"][0].get<std::string>();
    if (cls == "LlamaForCausalLM") return Architecture::kLlama;
    if (cls == "MistralForCausalLM") return Architecture::kMistral;
    if (cls == "Qwen2ForCausalLM") return Architecture::kQwen2;
    if (cls == "Qwen3ForCausalLM") return Architecture::kQwen3;
    return Status::Unsupported(
        "{}: architecture '{}' (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
        "Qwen3ForCausalLM)",
        origin, cls);
  }
  return Status::Corrupt("{}: neither 'model_type' nor 'architectures' names the architecture", origin);
}

// Reads a key that may be absent or null; the wrong type is an error naming the key.
template <typename T>
Result<std::optional<T>> Optional(const json& j, const char* key, const std::string& origin) {
  if (!j.contains(key) || j[key].is_null()) return std::optional<T>();
  const json& v = j[key];
  const bool fits = std::is_same_v<T, bool>             ? v.is_boolean()
                    : std::is_floating_point_v<T>       ? v.is_number()
                    : std::is_integral_v<T>             ? v.is_number_integer()
                                                        : v.is_string();
  if (!fits) return Status::Corrupt("{}: '{}' has unexpected type ({})", origin, key, v.dump());
  return std::optional<T>(v.get<T>());
}

template <typename T>
Result<T> Required(const json& j, const char* key, const std::string& origin) {
  LLMC_ASSIGN_OR_RETURN(auto v, Optional<T>(j, key, origin));
  if (!v) return Status::NotFound("{}: required key '{}' is missing", origin, key);
  return *v;
}

template <typename T>
Result<T> WithDefault(const json& j, const char* key, T fallback, const std::string& origin) {
  LLMC_ASSIGN_OR_RETURN(auto v, Optional<T>(j, key, origin));
  return v ? *v : fallback;
}

// bos/eos ids: an integer, a list (the first entry counts), or absent (-1).
Result<int64_t> TokenId(const json& j, const char* key, const std::string& origin) {
  if (!j.contains(key) || j[key].is_null()) return int64_t{-1};
  const json& v = j[key];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int64_t>();
  if (v.is_array() && v.empty()) return int64_t{-1};
  return Status::Corrupt("{}: '{}' is neither a token id nor a list of them ({})", origin, key, v.dump());
}

// The RoPE settings object: "rope_scaling" (the layout published checkpoints use) or, when that is
// absent, "rope_parameters" (transformers 5 saves rope_type, factor, ... and rope_theta there).
const char* RopeKey(const json& j) {
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) return "rope_scaling";
  if (j.contains("rope_parameters") && !j["rope_parameters"].is_null()) return "rope_parameters";
  return nullptr;
}

// rope_scaling: null/absent, or {"rope_type"|"type": "linear"|"llama3"|"default", "factor", ...}.
Result<RopeScaling> ParseRopeScaling(const json& j, const std::string& origin) {
  RopeScaling r;
  const char* key = RopeKey(j);
  if (key == nullptr) return r;
  const json& s = j[key];
  if (!s.is_object()) return Status::Corrupt("{}: '{}' is not an object", origin, key);
  const std::string where = origin + " " + key;
  LLMC_ASSIGN_OR_RETURN(auto rope_type, Optional<std::string>(s, "rope_type", where));
  if (!rope_type) {
    LLMC_ASSIGN_OR_RETURN(rope_type, Optional<std::string>(s, "type", where));
  }
  const std::string type = rope_type.value_or("default");
  if (type == "default") return r;
  if (type != "linear" && type != "llama3") {
    return Status::Unsupported("{}: {} type '{}' (supported: linear, llama3)", origin, key, type);
  }
  r.type = type;
  LLMC_ASSIGN_OR_RETURN(r.factor, Required<double>(s, "factor", where));
  if (type == "llama3") {
    LLMC_ASSIGN_OR_RETURN(r.low_freq_factor, Required<double>(s, "low_freq_factor", where));
    LLMC_ASSIGN_OR_RETURN(r.high_freq_factor, Required<double>(s, "high_freq_factor", where));
    LLMC_ASSIGN_OR_RETURN(r.original_max_position, Required<int64_t>(s, "original_max_position_embeddings", where));
  }
  return r;
}

// Mistral uses its declared window; Qwen2/3 declare one too but use it only with use_sliding_window
// = true (false when absent, as in transformers' config classes).
Result<int64_t> ParseSlidingWindow(const json& j, Architecture arch, const std::string& origin) {
  if (arch == Architecture::kLlama) return int64_t{0};
  LLMC_ASSIGN_OR_RETURN(bool use, WithDefault<bool>(j, "use_sliding_window", arch == Architecture::kMistral, origin));
  if (!use) return int64_t{0};
  return WithDefault<int64_t>(j, "sliding_window", 0, origin);
}

// rope_theta at the top level, else inside rope_parameters (transformers 5), else 10000.
Result<double> RopeTheta(const json& j, const std::string& origin) {
  if (j.contains("rope_theta") || !j.contains("rope_parameters") || !j["rope_parameters"].is_object()) {
    return WithDefault<double>(j, "rope_theta", 10000.0, origin);
  }
  return WithDefault<double>(j["rope_parameters"], "rope_theta", 10000.0, origin + " rope_parameters");
}

}  // namespace

Result<ModelConfig> ModelConfigFromHfJson(const json& j, const std::string& origin) {
  if (!j.is_object()) return Status::Corrupt("{}: expected a JSON object", origin);
  ModelConfig c;
  LLMC_ASSIGN_OR_RETURN(c.arch, DetectArchitecture(j, origin));
  LLMC_ASSIGN_OR_RETURN(c.hidden_size, Required<int64_t>(j, "hidden_size", origin));
  LLMC_ASSIGN_OR_RETURN(c.intermediate_size, Required<int64_t>(j, "intermediate_size", origin));
  LLMC_ASSIGN_OR_RETURN(c.num_layers, Required<int64_t>(j, "num_hidden_layers", origin));
  LLMC_ASSIGN_OR_RETURN(c.num_heads, Required<int64_t>(j, "num_attention_heads", origin));
  LLMC_ASSIGN_OR_RETURN(c.num_kv_heads, WithDefault<int64_t>(j, "num_key_value_heads", c.num_heads, origin));
  if (c.num_heads <= 0) return Status::Corrupt("{}: num_attention_heads = {} (expected > 0)", origin, c.num_heads);
  LLMC_ASSIGN_OR_RETURN(c.head_dim, WithDefault<int64_t>(j, "head_dim", c.hidden_size / c.num_heads, origin));
  LLMC_ASSIGN_OR_RETURN(c.vocab_size, Required<int64_t>(j, "vocab_size", origin));
  LLMC_ASSIGN_OR_RETURN(c.max_position, WithDefault<int64_t>(j, "max_position_embeddings", 0, origin));
  // Defaults are those of the transformers config classes for these architectures.
  LLMC_ASSIGN_OR_RETURN(c.rms_norm_eps, WithDefault<double>(j, "rms_norm_eps", 1e-6, origin));
  LLMC_ASSIGN_OR_RETURN(c.rope_theta, RopeTheta(j, origin));
  LLMC_ASSIGN_OR_RETURN(c.rope_scaling, ParseRopeScaling(j, origin));
  LLMC_ASSIGN_OR_RETURN(c.tie_word_embeddings, WithDefault<bool>(j, "tie_word_embeddings", false, origin));
  // Qwen2's q/k/v projections always carry biases; its config class has no attention_bias key.
  LLMC_ASSIGN_OR_RETURN(c.attention_bias,
                        WithDefault<bool>(j, "attention_bias", c.arch == Architecture::kQwen2, origin));
  c.qk_norm = c.arch == Architecture::kQwen3;
  LLMC_ASSIGN_OR_RETURN(c.sliding_window, ParseSlidingWindow(j, c.arch, origin));
  LLMC_ASSIGN_OR_RETURN(c.bos_token_id, TokenId(j, "bos_token_id", origin));
  LLMC_ASSIGN_OR_RETURN(c.eos_token_id, TokenId(j, "eos_token_id", origin));
  LLMC_RETURN_IF_ERROR(c.Validate().WithContext(origin));
  return c;
}

Result<ModelConfig> ReadHfConfig(const std::string& dir) {
  const std::string path = dir + "/config.json";
  if (!FileExists(path)) return Status::NotFound("{}: config.json not found", path);
  LLMC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Corrupt("{}: not valid JSON", path);
  return ModelConfigFromHfJson(j, path);
}

}  // namespace llmc
