// TransformerModel outside the layer maths: wiring the tensors, the KV cache, whole-model forward
// (embed → layers → final norm → LM head), and weight access for calibration and quantization.
#include "model/transformer.h"

#include <algorithm>

#include "core/thread_team.h"
#include "llmc/dtype.h"
#include "llmc/kernels.h"

namespace llmc {

KvSequence::KvSequence(int64_t num_layers, int64_t kv_dim, int64_t capacity, KvCacheType type)
    : num_layers_(num_layers), kv_dim_(kv_dim), capacity_(std::max<int64_t>(capacity, 0)), type_(type) {
  const auto size = static_cast<size_t>(num_layers * capacity_ * kv_dim);
  if (type == KvCacheType::kF16) {
    half_keys_.resize(size);
    half_values_.resize(size);
  } else {
    keys_.resize(size);
    values_.resize(size);
  }
}

KvView KvSequence::View(int64_t layer) {
  const size_t offset = static_cast<size_t>(layer * capacity_ * kv_dim_);
  KvView v;
  v.type = type_;
  if (type_ == KvCacheType::kF16) {
    v.half_keys = half_keys_.data() + offset;
    v.half_values = half_values_.data() + offset;
  } else {
    v.keys = keys_.data() + offset;
    v.values = values_.data() + offset;
  }
  v.past = length_;
  v.capacity = capacity_;
  return v;
}

void KvView::Put(int64_t h, int64_t p, int64_t d, const float* key, const float* value) const {
  const int64_t at = At(h, p, d);
  if (half()) {
    FloatsToHalves(key, d, half_keys + at);
    FloatsToHalves(value, d, half_values + at);
  } else {
    std::copy_n(key, d, keys + at);
    std::copy_n(value, d, values + at);
  }
}

const float* KvView::KeysAsFloats(int64_t h, int64_t n, int64_t d, float* scratch) const {
  if (!half()) return keys + At(h, 0, d);
  ToFloat(DType::kF16, half_keys + At(h, 0, d), scratch, n * d);
  return scratch;
}

const float* KvView::ValuesAsFloats(int64_t h, int64_t n, int64_t d, float* scratch) const {
  if (!half()) return values + At(h, 0, d);
  ToFloat(DType::kF16, half_values + At(h, 0, d), scratch, n * d);
  return scratch;
}

TransformerModel::TransformerModel(ModelConfig config, nlohmann::json tokenizer,
                                   std::unordered_map<std::string, WeightTensor> weights)
    : config_(std::move(config)), tokenizer_(std::move(tokenizer)), weights_(std::move(weights)), rope_(config_) {
  auto find = [this](const std::string& name) -> const WeightTensor* {
    auto it = weights_.find(name);
    return it == weights_.end() ? nullptr : &it->second;
  };
  embed_ = find("model.embed_tokens.weight");
  final_norm_ = find("model.norm.weight");
  const WeightTensor* head = find("lm_head.weight");
  lm_head_ = head != nullptr ? head : embed_;
  for (int64_t l = 0; l < config_.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.q_proj = find(p + "self_attn.q_proj.weight");
    lw.k_proj = find(p + "self_attn.k_proj.weight");
    lw.v_proj = find(p + "self_attn.v_proj.weight");
    lw.o_proj = find(p + "self_attn.o_proj.weight");
    lw.gate_proj = find(p + "mlp.gate_proj.weight");
    lw.up_proj = find(p + "mlp.up_proj.weight");
    lw.down_proj = find(p + "mlp.down_proj.weight");
    lw.input_norm = find(p + "input_layernorm.weight");
    lw.post_attention_norm = find(p + "post_attention_layernorm.weight");
    lw.q_bias = find(p + "self_attn.q_proj.bias");
    lw.k_bias = find(p + "self_attn.k_proj.bias");
    lw.v_bias = find(p + "self_attn.v_proj.bias");
    lw.q_norm = find(p + "self_attn.q_norm.weight");
    lw.k_norm = find(p + "self_attn.k_norm.weight");
    layers_.push_back(lw);
  }
}

int64_t TransformerModel::weight_bytes() const {
  int64_t total = 0;
  for (const auto& [name, w] : weights_) {
    total += static_cast<int64_t>(w.data.size() + w.scales.size() + w.zero_points.size());
  }
  return total;
}

std::unique_ptr<Sequence> TransformerModel::NewSequence(int64_t capacity, KvCacheType kv_type) const {
  return std::make_unique<KvSequence>(config_.num_layers, config_.num_kv_heads * config_.head_dim, capacity, kv_type);
}

Status TransformerModel::Forward(Sequence& seq, std::span<const int32_t> tokens, float* logits, float* hidden) {
  auto* kv = dynamic_cast<KvSequence*>(&seq);
  if (kv == nullptr || kv->num_layers() != config_.num_layers ||
      kv->kv_dim() != config_.num_kv_heads * config_.head_dim) {
    return Status::Invalid("Forward: the sequence was not made by this model's NewSequence");
  }
  const auto n = static_cast<int64_t>(tokens.size());
  if (kv->length() + n > kv->capacity()) {
    return Status::Invalid("Forward: {} cached + {} new tokens exceed the sequence capacity {}", kv->length(), n,
                           kv->capacity());
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size) {
      return Status::Invalid("Forward: token id {} at index {} is outside the vocabulary [0, {})", tokens[i], i,
                             config_.vocab_size);
    }
  }
  if (n == 0) return Status::OK();
  // A decode step makes about 180 short parallel steps: one thread team serves them all.
  Status status;
  WithThreadTeam(n == 1 ? NumThreads() : 1, [&] { status = RunTokens(*kv, tokens, logits, hidden); });
  return status;
}

Status TransformerModel::RunTokens(KvSequence& kv, std::span<const int32_t> tokens, float* logits, float* hidden) {
  const auto n = static_cast<int64_t>(tokens.size());
  const int64_t d = config_.hidden_size;
  std::vector<float> h(static_cast<size_t>(n * d));
  Embed(tokens, h.data());
  for (int64_t l = 0; l < config_.num_layers; ++l) {
    const LayerRun run{h.data(), n, kv.View(l)};
    LLMC_RETURN_IF_ERROR(RunLayer(l, {&run, 1}, nullptr));
  }
  kv.Advance(n);
  if (logits == nullptr && hidden == nullptr) return Status::OK();
  std::vector<float> normed_scratch;
  float* normed = hidden;
  if (normed == nullptr) {
    normed_scratch.resize(h.size());
    normed = normed_scratch.data();
  }
  FinalNorm(h.data(), n, normed);
  if (logits != nullptr) {
    Observe(*lm_head_, normed, n);
    MatMul(*lm_head_, normed, n, logits);
  }
  return Status::OK();
}

void TransformerModel::Embed(std::span<const int32_t> tokens, float* hidden) const {
  const int64_t d = config_.hidden_size;
  const auto n = static_cast<int64_t>(tokens.size());
#pragma omp parallel for num_threads(NumThreads()) schedule(static) if (n * d > (1 << 15))
  for (int64_t t = 0; t < n; ++t) {
    const int32_t id = tokens[static_cast<size_t>(t)];
    if (id >= 0 && id < config_.vocab_size) {
      GetRow(*embed_, id, hidden + t * d);
    } else {
      std::fill(hidden + t * d, hidden + (t + 1) * d, 0.0f);
    }
  }
}

Status TransformerModel::ForwardLayer(int64_t layer, float* hidden, int64_t n_tokens) {
  std::vector<float> sequence(hidden, hidden + n_tokens * config_.hidden_size);
  LLMC_RETURN_IF_ERROR(ForwardLayerStaged(layer, {&sequence, 1}, nullptr));
  std::copy(sequence.begin(), sequence.end(), hidden);
  return Status::OK();
}

Status TransformerModel::ForwardLayerStaged(int64_t layer, std::span<std::vector<float>> hidden,
                                            const StageHook& before_stage) {
  if (layer < 0 || layer >= config_.num_layers) {
    return Status::Invalid("ForwardLayer: layer {} (the model has {})", layer, config_.num_layers);
  }
  const int64_t d = config_.hidden_size;
  const int64_t kv_dim = config_.num_kv_heads * config_.head_dim;
  // One scratch cache, nothing in the past: attention runs one sequence at a time.
  int64_t longest = 0;
  std::vector<LayerRun> runs;
  for (std::vector<float>& h : hidden) {
    if (h.size() % static_cast<size_t>(d) != 0) {
      return Status::Invalid("ForwardLayer: {} hidden values are not whole tokens of {}", h.size(), d);
    }
    const auto n = static_cast<int64_t>(h.size()) / d;
    if (n == 0) continue;
    runs.push_back({h.data(), n, {}});
    longest = std::max(longest, n);
  }
  std::vector<float> keys(static_cast<size_t>(longest * kv_dim));
  std::vector<float> values(keys.size());
  for (LayerRun& r : runs) {
    r.kv.keys = keys.data();
    r.kv.values = values.data();
    r.kv.capacity = longest;
  }
  return RunLayer(layer, runs, before_stage);
}

void TransformerModel::Head(const float* hidden, int64_t n_tokens, float* logits) const {
  std::vector<float> normed(static_cast<size_t>(n_tokens * config_.hidden_size));
  FinalNorm(hidden, n_tokens, normed.data());
  Observe(*lm_head_, normed.data(), n_tokens);
  MatMul(*lm_head_, normed.data(), n_tokens, logits);
}

std::vector<std::string> TransformerModel::LinearWeightNames(int64_t layer) const {
  if (layer < 0 || layer >= config_.num_layers) return {};
  const LayerWeights& lw = layers_[static_cast<size_t>(layer)];
  return {lw.q_proj->name, lw.k_proj->name,  lw.v_proj->name,   lw.o_proj->name,
          lw.gate_proj->name, lw.up_proj->name, lw.down_proj->name};
}

const WeightTensor& TransformerModel::Weight(const std::string& name) const {
  static const WeightTensor kNone;
  auto it = weights_.find(name);
  return it == weights_.end() ? kNone : it->second;
}

Status TransformerModel::ReplaceWeight(WeightTensor w) {
  auto it = weights_.find(w.name);
  if (it == weights_.end()) return Status::NotFound("ReplaceWeight: tensor '{}' is not part of this model", w.name);
  if (w.shape != it->second.shape) {
    return Status::Invalid("ReplaceWeight: tensor '{}' has shape {} (expected {})", w.name, ShapeToString(w.shape),
                           ShapeToString(it->second.shape));
  }
  LLMC_RETURN_IF_ERROR(w.Validate());
  it->second = RuntimeForm(std::move(w));
  return Status::OK();
}

}  // namespace llmc
