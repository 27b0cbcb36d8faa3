#include "llmc/model_config.h"

namespace llmc {

const char* ArchitectureName(Architecture a) {
  switch (a) {
    case Architecture::kLlama: return "llama";
    case Architecture::kMistral: return "mistral";
    case Architecture::kQwen2: return "qwen2";
    case Architecture::kQwen3: return "qwen3";
  }
  return "?";
}

Result<Architecture> ParseArchitecture(std::string_view name) {
  if (name == "llama") return Architecture::kLlama;
  if (name == "mistral") return Architecture::kMistral;
  if (name == "qwen2") return Architecture::kQwen2;
  if (name == "qwen3") return Architecture::kQwen3;
  return Status::Unsupported("unknown architecture '{}' (supported: llama, mistral, qwen2, qwen3)", name);
}

Status ModelConfig::Validate() const {
  auto positive = [](const char* field, int64_t v) -> Status {
    if (v <= 0) return Status::Invalid("model config: {} = {} (expected > 0)", field, v);
    return Status::OK();
  };
  LLMC_RETURN_IF_ERROR(positive("hidden_size", hidden_size));
  LLMC_RETURN_IF_ERROR(positive("intermediate_size", intermediate_size));
  LLMC_RETURN_IF_ERROR(positive("num_layers", num_layers));
  LLMC_RETURN_IF_ERROR(positive("num_heads", num_heads));
  LLMC_RETURN_IF_ERROR(positive("num_kv_heads", num_kv_heads));
  LLMC_RETURN_IF_ERROR(positive("head_dim", head_dim));
  LLMC_RETURN_IF_ERROR(positive("vocab_size", vocab_size));
  if (num_heads % num_kv_heads != 0) {
    return Status::Invalid("model config: num_heads {} is not a multiple of num_kv_heads {}", num_heads,
                           num_kv_heads);
  }
  if (head_dim % 2 != 0) return Status::Invalid("model config: head_dim {} is odd (RoPE needs pairs)", head_dim);
  if (rope_scaling.type != "none" && rope_scaling.type != "linear" && rope_scaling.type != "llama3") {
    return Status::Unsupported("model config: rope_scaling type '{}' (supported: none, linear, llama3)",
                               rope_scaling.type);
  }
  return Status::OK();
}

nlohmann::json ModelConfig::ToJson() const {
  return {
      {"architecture", ArchitectureName(arch)},
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"num_layers", num_layers},
      {"num_heads", num_heads},
      {"num_kv_heads", num_kv_heads},
      {"head_dim", head_dim},
      {"vocab_size", vocab_size},
      {"max_position", max_position},
      {"rms_norm_eps", rms_norm_eps},
      {"rope_theta", rope_theta},
      {"rope_scaling",
       {{"type", rope_scaling.type},
        {"factor", rope_scaling.factor},
        {"low_freq_factor", rope_scaling.low_freq_factor},
        {"high_freq_factor", rope_scaling.high_freq_factor},
        {"original_max_position", rope_scaling.original_max_position}}},
      {"tie_word_embeddings", tie_word_embeddings},
      {"attention_bias", attention_bias},
      {"qk_norm", qk_norm},
      {"sliding_window", sliding_window},
      {"bos_token_id", bos_token_id},
      {"eos_token_id", eos_token_id},
  };
}

Result<ModelConfig> ModelConfig::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::Corrupt("model config: expected a JSON object");
  ModelConfig c;
  try {
    auto arch = ParseArchitecture(j.at("architecture").get<std::string>());
    if (!arch.ok()) return arch.status();
    c.arch = *arch;
    c.hidden_size = j.at("hidden_size").get<int64_t>();
    c.intermediate_size = j.at("intermediate_size").get<int64_t>();
    c.num_layers = j.at("num_layers").get<int64_t>();
    c.num_heads = j.at("num_heads").get<int64_t>();
    c.num_kv_heads = j.at("num_kv_heads").get<int64_t>();
    c.head_dim = j.at("head_dim").get<int64_t>();
    c.vocab_size = j.at("vocab_size").get<int64_t>();
    c.max_position = j.value("max_position", int64_t{0});
    c.rms_norm_eps = j.value("rms_norm_eps", 1e-5);
    c.rope_theta = j.value("rope_theta", 10000.0);
    if (j.contains("rope_scaling")) {
      const auto& r = j.at("rope_scaling");
      c.rope_scaling.type = r.value("type", std::string("none"));
      c.rope_scaling.factor = r.value("factor", 1.0);
      c.rope_scaling.low_freq_factor = r.value("low_freq_factor", 1.0);
      c.rope_scaling.high_freq_factor = r.value("high_freq_factor", 4.0);
      c.rope_scaling.original_max_position = r.value("original_max_position", int64_t{8192});
    }
    c.tie_word_embeddings = j.value("tie_word_embeddings", false);
    c.attention_bias = j.value("attention_bias", false);
    c.qk_norm = j.value("qk_norm", false);
    c.sliding_window = j.value("sliding_window", int64_t{0});
    c.bos_token_id = j.value("bos_token_id", int64_t{-1});
    c.eos_token_id = j.value("eos_token_id", int64_t{-1});
  } catch (const nlohmann::json::exception& e) {
    return Status::Corrupt("model config: {}", e.what());
  }
  LLMC_RETURN_IF_ERROR(c.Validate());
  return c;
}

int64_t ModelConfig::ParameterCount() const {
  const int64_t d = hidden_size;
  const int64_t q = num_heads * head_dim;
  const int64_t kv = num_kv_heads * head_dim;
  int64_t per_layer = d * q + 2 * d * kv + q * d + 3 * d * intermediate_size + 2 * d;
  if (attention_bias) per_layer += q + 2 * kv;
  if (qk_norm) per_layer += 2 * head_dim;
  const int64_t embed = vocab_size * d;
  return embed * (tie_word_embeddings ? 1 : 2) + num_layers * per_layer + d;
}

}  // namespace llmc
