// The decoder-only transformer behind Model: one implementation for LLaMA, Mistral, Qwen2 and Qwen3,
// whose differences are config switches (q/k/v bias, q/k norm, sliding window, RoPE scaling).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "llmc/model.h"
#include "model/rope.h"

namespace llmc {

// The weights of one decoder layer, pointing into the model's tensor map (nodes of an
// unordered_map stay put, so ReplaceWeight can assign in place). Norm weights and biases are
// dense F32; the optional ones are null when the architecture has none.
struct LayerWeights {
  const WeightTensor* q_proj = nullptr;
  const WeightTensor* k_proj = nullptr;
  const WeightTensor* v_proj = nullptr;
  const WeightTensor* o_proj = nullptr;
  const WeightTensor* gate_proj = nullptr;
  const WeightTensor* up_proj = nullptr;
  const WeightTensor* down_proj = nullptr;
  const WeightTensor* input_norm = nullptr;
  const WeightTensor* post_attention_norm = nullptr;
  const WeightTensor* q_bias = nullptr;
  const WeightTensor* k_bias = nullptr;
  const WeightTensor* v_bias = nullptr;
  const WeightTensor* q_norm = nullptr;
  const WeightTensor* k_norm = nullptr;
};

// Where one layer's keys and values live: head-major, [num_kv_heads][capacity][head_dim], so a KV
// head's positions are one contiguous run (decode attention streams them; position-major rows would
// leave each head's keys strided through the others'). Floats, or halves in a kF16 cache (the pair of
// pointers of that type is set). `past` positions are filled, new ones go after them.
struct KvView {
  KvCacheType type = KvCacheType::kF32;
  float* keys = nullptr;
  float* values = nullptr;
  uint16_t* half_keys = nullptr;
  uint16_t* half_values = nullptr;
  int64_t past = 0;
  int64_t capacity = 0;

  bool half() const { return type == KvCacheType::kF16; }
  // Offset of KV head h's position p in the keys and values, for heads of d elements.
  int64_t At(int64_t h, int64_t p, int64_t d) const { return (h * capacity + p) * d; }
  // Stores KV head h's key and value (d floats each) at position p, rounded to halves in a half cache.
  void Put(int64_t h, int64_t p, int64_t d, const float* key, const float* value) const;
  // KV head h's keys (or values) of positions [0, n) as float rows of d: the cache itself, or, in a
  // half cache, widened into `scratch` (n * d floats).
  const float* KeysAsFloats(int64_t h, int64_t n, int64_t d, float* scratch) const;
  const float* ValuesAsFloats(int64_t h, int64_t n, int64_t d, float* scratch) const;
};

// KV cache: per layer, keys and values for `capacity` positions, as floats or halves.
class KvSequence : public Sequence {
 public:
  KvSequence(int64_t num_layers, int64_t kv_dim, int64_t capacity, KvCacheType type);
  int64_t length() const override { return length_; }
  int64_t capacity() const override { return capacity_; }
  void Reset() override { length_ = 0; }

  int64_t num_layers() const { return num_layers_; }
  int64_t kv_dim() const { return kv_dim_; }
  KvView View(int64_t layer);
  void Advance(int64_t n) { length_ += n; }

 private:
  int64_t num_layers_;
  int64_t kv_dim_;
  int64_t capacity_;
  int64_t length_ = 0;
  KvCacheType type_;
  // [layer][kv_head][capacity][head_dim], one pair used: floats (kF32) or halves (kF16).
  std::vector<float> keys_, values_;
  std::vector<uint16_t> half_keys_, half_values_;
};

// A tensor as the model holds it, converted once when it enters the model (Weight() returns this
// form). Norm weights and biases (1-D) are read directly as floats by the layer code; they are tiny,
// so any other encoding is expanded to F32. Matmul weights take PrepareForMatMul's form: the stored
// one, 3-bit codes widened to 4 bits with the same values, or 2-, 4- and 8-bit codes in tile order.
WeightTensor RuntimeForm(WeightTensor t);

class TransformerModel : public Model {
 public:
  // Takes the tensors (already checked by Build) and wires up the layers.
  TransformerModel(ModelConfig config, nlohmann::json tokenizer,
                   std::unordered_map<std::string, WeightTensor> weights);

  const ModelConfig& config() const override { return config_; }
  const nlohmann::json& tokenizer_spec() const override { return tokenizer_; }
  int64_t weight_bytes() const override;

  std::unique_ptr<Sequence> NewSequence(int64_t capacity, KvCacheType kv_type) const override;
  Status Forward(Sequence& seq, std::span<const int32_t> tokens, float* logits, float* hidden) override;

  void Embed(std::span<const int32_t> tokens, float* hidden) const override;
  Status ForwardLayer(int64_t layer, float* hidden, int64_t n_tokens) override;
  Status ForwardLayerStaged(int64_t layer, std::span<std::vector<float>> hidden, const StageHook& before_stage) override;
  void Head(const float* hidden, int64_t n_tokens, float* logits) const override;
  void SetLinearInputObserver(LinearInputObserver observer) override { observer_ = std::move(observer); }

  std::vector<std::string> LinearWeightNames(int64_t layer) const override;
  const WeightTensor& Weight(const std::string& name) const override;
  Status ReplaceWeight(WeightTensor w) override;

 private:
  // One sequence's part in a layer run: its residual stream [n_tokens][hidden_size], updated in
  // place, and the cache its attention appends to and reads.
  struct LayerRun {
    float* hidden;
    int64_t n_tokens;
    KvView kv;
  };
  // The one decoder-layer implementation, stage by stage over every run (ForwardLayerStaged); Forward
  // and ForwardLayer are one run and no hook. Stage inputs go to the observer.
  Status RunLayer(int64_t layer, std::span<const LayerRun> runs, const StageHook& before_stage);
  // Forward after its checks: the tokens through every layer, then the final norm and LM head.
  Status RunTokens(KvSequence& kv, std::span<const int32_t> tokens, float* logits, float* hidden);
  void Attention(int64_t layer, const float* normed, int64_t n_tokens, KvView kv, float* out);
  // silu(gate x) * (up x): the down projection's input.
  void GatedActivation(int64_t layer, const float* normed, int64_t n_tokens, float* out);
  void Observe(const WeightTensor& w, const float* x, int64_t n_tokens) const;
  void FinalNorm(const float* hidden, int64_t n_tokens, float* normed) const;

  ModelConfig config_;
  nlohmann::json tokenizer_;
  std::unordered_map<std::string, WeightTensor> weights_;
  std::vector<LayerWeights> layers_;
  const WeightTensor* embed_ = nullptr;
  const WeightTensor* lm_head_ = nullptr;
  const WeightTensor* final_norm_ = nullptr;
  RopeTable rope_;
  LinearInputObserver observer_;
};

}  // namespace llmc
