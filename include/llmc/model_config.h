// ModelConfig: the architecture facts a stored model carries (canonical JSON in the store metadata).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "llmc/status.h"

namespace llmc {

enum class Architecture { kLlama, kMistral, kQwen2, kQwen3 };
const char* ArchitectureName(Architecture a);  // "llama", "mistral", "qwen2", "qwen3"
Result<Architecture> ParseArchitecture(std::string_view name);

struct RopeScaling {
  std::string type = "none";  // "none", "linear", "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;    // llama3
  double high_freq_factor = 4.0;   // llama3
  int64_t original_max_position = 8192;  // llama3
};

struct ModelConfig {
  Architecture arch = Architecture::kLlama;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  int64_t max_position = 0;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v projections carry a bias (Qwen2)
  bool qk_norm = false;         // per-head RMSNorm on q and k (Qwen3)
  int64_t sliding_window = 0;   // 0: full attention (Mistral sets it)
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;

  // Checks that sizes are positive and consistent (heads divide, etc.); names the offending field.
  Status Validate() const;
  nlohmann::json ToJson() const;
  static Result<ModelConfig> FromJson(const nlohmann::json& j);
  // Parameter count implied by the config (what a complete store must hold).
  int64_t ParameterCount() const;
};

}  // namespace llmc
