#include "io/gguf_model.h"

#include <cstring>
#include <map>
#include <optional>

namespace llmc {
namespace {

using nlohmann::json;

// Typed access to GGUF metadata with errors that name the file and key.
class Metadata {
 public:
  explicit Metadata(const GgufFile& g) : g_(g) {}

  Result<std::optional<int64_t>> OptionalInt(const std::string& key) const {
    const json* v = Find(key);
    if (v == nullptr) return std::optional<int64_t>();
    if (!v->is_number_integer()) return WrongType(key, "an integer", *v);
    return std::optional<int64_t>(v->get<int64_t>());
  }
  Result<int64_t> Int(const std::string& key) const {
    LLMC_ASSIGN_OR_RETURN(auto v, OptionalInt(key));
    if (!v) return Missing(key);
    return *v;
  }
  Result<int64_t> IntOr(const std::string& key, int64_t fallback) const {
    LLMC_ASSIGN_OR_RETURN(auto v, OptionalInt(key));
    return v.value_or(fallback);
  }
  Result<double> FloatOr(const std::string& key, double fallback) const {
    const json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_number()) return WrongType(key, "a number", *v);
    return v->get<double>();
  }
  Result<std::optional<std::string>> OptionalString(const std::string& key) const {
    const json* v = Find(key);
    if (v == nullptr) return std::optional<std::string>();
    if (!v->is_string()) return WrongType(key, "a string", *v);
    return std::optional<std::string>(v->get<std::string>());
  }
  Result<std::string> String(const std::string& key) const {
    LLMC_ASSIGN_OR_RETURN(auto v, OptionalString(key));
    if (!v) return Missing(key);
    return *v;
  }
  const json* Find(const std::string& key) const {
    auto it = g_.metadata().find(key);
    return it == g_.metadata().end() ? nullptr : &*it;
  }

 private:
  Status Missing(const std::string& key) const {
    return Status::NotFound("{}: required metadata key '{}' is missing", g_.path(), key);
  }
  Status WrongType(const std::string& key, const char* expected, const json& v) const {
    std::string shown = v.dump();
    if (shown.size() > 60) shown = shown.substr(0, 60) + "...";
    return Status::Corrupt("{}: metadata key '{}' is {}, expected {}", g_.path(), key, shown, expected);
  }
  const GgufFile& g_;
};

bool HasTensor(const GgufFile& g, const std::string& name) {
  for (const auto& t : g.tensors()) {
    if (t.name == name) return true;
  }
  return false;
}

Result<RopeScaling> RopeScalingFromGguf(const GgufFile& g, const Metadata& md, const std::string& arch) {
  RopeScaling r;
  // Llama 3.1-style scaling is stored as a precomputed per-frequency tensor, not as parameters.
  if (HasTensor(g, "rope_freqs.weight")) {
    return Status::Unsupported("{}: rope_freqs.weight (llama3-style RoPE scaling baked into a tensor) is not supported",
                               g.path());
  }
  LLMC_ASSIGN_OR_RETURN(auto type, md.OptionalString(arch + ".rope.scaling.type"));
  if (!type || *type == "none") {
    // Older files spell linear scaling as a bare factor.
    LLMC_ASSIGN_OR_RETURN(double legacy, md.FloatOr(arch + ".rope.scale_linear", 1.0));
    if (legacy != 1.0) {
      r.type = "linear";
      r.factor = legacy;
    }
    return r;
  }
  if (*type != "linear") {
    return Status::Unsupported("{}: {}.rope.scaling.type '{}' (supported: none, linear)", g.path(), arch, *type);
  }
  r.type = "linear";
  LLMC_ASSIGN_OR_RETURN(r.factor, md.FloatOr(arch + ".rope.scaling.factor", 1.0));
  return r;
}

Result<int64_t> VocabSize(const GgufFile& g, const Metadata& md, const std::string& arch) {
  LLMC_ASSIGN_OR_RETURN(auto v, md.OptionalInt(arch + ".vocab_size"));
  if (v) return *v;
  const json* tokens = md.Find("tokenizer.ggml.tokens");
  if (tokens != nullptr && tokens->is_array()) return static_cast<int64_t>(tokens->size());
  for (const auto& t : g.tensors()) {
    if (t.name == "token_embd.weight" && t.shape.size() == 2) return t.shape[0];
  }
  return Status::NotFound("{}: no {}.vocab_size, tokenizer.ggml.tokens or token_embd.weight gives the vocabulary size",
                          g.path(), arch);
}

}  // namespace

Result<ModelConfig> ModelConfigFromGguf(const GgufFile& g) {
  const Metadata md(g);
  LLMC_ASSIGN_OR_RETURN(std::string arch, md.String("general.architecture"));
  ModelConfig c;
  auto parsed = ParseArchitecture(arch);
  if (!parsed.ok()) return parsed.status().WithContext(g.path() + ": general.architecture");
  c.arch = *parsed;
  const std::string p = arch + ".";
  LLMC_ASSIGN_OR_RETURN(c.num_layers, md.Int(p + "block_count"));
  LLMC_ASSIGN_OR_RETURN(c.hidden_size, md.Int(p + "embedding_length"));
  LLMC_ASSIGN_OR_RETURN(c.intermediate_size, md.Int(p + "feed_forward_length"));
  LLMC_ASSIGN_OR_RETURN(c.num_heads, md.Int(p + "attention.head_count"));
  if (c.num_heads <= 0) return Status::Corrupt("{}: {}attention.head_count is {}", g.path(), p, c.num_heads);
  LLMC_ASSIGN_OR_RETURN(c.num_kv_heads, md.IntOr(p + "attention.head_count_kv", c.num_heads));
  LLMC_ASSIGN_OR_RETURN(c.head_dim, md.IntOr(p + "attention.key_length", c.hidden_size / c.num_heads));
  LLMC_ASSIGN_OR_RETURN(c.max_position, md.IntOr(p + "context_length", 0));
  LLMC_ASSIGN_OR_RETURN(c.rope_theta, md.FloatOr(p + "rope.freq_base", 10000.0));
  LLMC_ASSIGN_OR_RETURN(c.rms_norm_eps, md.FloatOr(p + "attention.layer_norm_rms_epsilon", 1e-5));
  LLMC_ASSIGN_OR_RETURN(c.rope_scaling, RopeScalingFromGguf(g, md, arch));
  LLMC_ASSIGN_OR_RETURN(c.vocab_size, VocabSize(g, md, arch));
  LLMC_ASSIGN_OR_RETURN(c.bos_token_id, md.IntOr("tokenizer.ggml.bos_token_id", -1));
  LLMC_ASSIGN_OR_RETURN(c.eos_token_id, md.IntOr("tokenizer.ggml.eos_token_id", -1));
  c.tie_word_embeddings = !HasTensor(g, "output.weight");
  c.attention_bias = HasTensor(g, "blk.0.attn_q.bias");
  c.qk_norm = HasTensor(g, "blk.0.attn_q_norm.weight");
  LLMC_RETURN_IF_ERROR(c.Validate().WithContext(g.path()));
  return c;
}

Result<std::string> HfTensorName(const std::string& gguf_name, int64_t num_layers) {
  static const std::map<std::string, std::string> kGlobal = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
  };
  static const std::map<std::string, std::string> kLayer = {
      {"attn_norm", "input_layernorm"},    {"ffn_norm", "post_attention_layernorm"},
      {"attn_q", "self_attn.q_proj"},      {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"},      {"attn_output", "self_attn.o_proj"},
      {"attn_q_norm", "self_attn.q_norm"}, {"attn_k_norm", "self_attn.k_norm"},
      {"ffn_gate", "mlp.gate_proj"},       {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},
  };
  if (auto it = kGlobal.find(gguf_name); it != kGlobal.end()) return it->second;
  // blk.<layer>.<part>.<weight|bias>
  const Status unknown = Status::Unsupported("tensor '{}' has no HuggingFace counterpart", gguf_name);
  if (gguf_name.rfind("blk.", 0) != 0) return unknown;
  const size_t layer_end = gguf_name.find('.', 4);
  const size_t part_end = gguf_name.rfind('.');
  if (layer_end == std::string::npos || part_end <= layer_end) return unknown;
  const std::string layer_text = gguf_name.substr(4, layer_end - 4);
  const std::string part = gguf_name.substr(layer_end + 1, part_end - layer_end - 1);
  const std::string kind = gguf_name.substr(part_end + 1);
  if (layer_text.empty() || layer_text.size() > 9 || layer_text.find_first_not_of("0123456789") != std::string::npos) {
    return unknown;
  }
  const int64_t layer = std::stoll(layer_text);
  if (layer >= num_layers) {
    return Status::Corrupt("tensor '{}' belongs to layer {}, but the model has {} layers", gguf_name, layer,
                           num_layers);
  }
  auto it = kLayer.find(part);
  if (it == kLayer.end() || (kind != "weight" && kind != "bias")) return unknown;
  return "model.layers." + layer_text + "." + it->second + "." + kind;
}

int64_t PermutedHeadCount(const ModelConfig& config, const std::string& hf_name) {
  if (config.arch != Architecture::kLlama && config.arch != Architecture::kMistral) return 0;
  auto ends_with = [&](const char* suffix) {
    const size_t n = std::strlen(suffix);
    return hf_name.size() >= n && hf_name.compare(hf_name.size() - n, n, suffix) == 0;
  };
  if (ends_with(".self_attn.q_proj.weight") || ends_with(".self_attn.q_proj.bias")) return config.num_heads;
  if (ends_with(".self_attn.k_proj.weight") || ends_with(".self_attn.k_proj.bias")) return config.num_kv_heads;
  return 0;
}

Result<WeightTensor> UnpermuteHeadRows(const WeightTensor& w, int64_t n_heads) {
  // A 1-D bias is a column of rows of one element each.
  const int64_t rows = w.shape.size() == 1 ? w.shape[0] : w.rows();
  const int64_t row_bytes = w.shape.size() == 1 ? static_cast<int64_t>(w.data.size()) / std::max<int64_t>(rows, 1)
                                                : w.row_bytes();
  if (w.quantized() || n_heads <= 0 || rows % n_heads != 0 || (rows / n_heads) % 2 != 0) {
    return Status::Corrupt("tensor '{}' {}: cannot split {} rows into {} heads of paired rows", w.name,
                           ShapeToString(w.shape), rows, n_heads);
  }
  const int64_t head_rows = rows / n_heads;
  const int64_t half = head_rows / 2;
  std::vector<uint8_t> out(w.data.size());
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t i = 0; i < 2; ++i) {
      for (int64_t j = 0; j < half; ++j) {
        const int64_t hf_row = h * head_rows + i * half + j;
        const int64_t gguf_row = h * head_rows + 2 * j + i;
        std::memcpy(out.data() + hf_row * row_bytes, w.data.data() + gguf_row * row_bytes,
                    static_cast<size_t>(row_bytes));
      }
    }
  }
  WeightTensor r = w;
  r.data = Bytes::Own(std::move(out));
  return r;
}

json GgufTokenizerKeys(const GgufFile& g) {
  json keys = json::object();
  for (const auto& [key, value] : g.metadata().items()) {
    if (key.rfind("tokenizer.", 0) == 0) keys[key] = value;
  }
  return keys;
}

}  // namespace llmc
