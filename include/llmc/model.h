// The transformer engine: runs a stored model (V1 or V2) straight from its WeightTensors. Quantized
// weights stay quantized; matmuls dequantize on the fly (kernels.h). LLaMA, Mistral, Qwen2, Qwen3.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "llmc/import.h"
#include "llmc/model_config.h"
#include "llmc/store.h"
#include "llmc/tensor.h"

namespace llmc {

// How a Sequence stores its keys and values. kF32 keeps them as the layers compute them (the engine
// then matches transformers' float32 reference). kF16 rounds them to IEEE halves, as llama.cpp's
// default cache does: half the cache memory, and half the bytes decode attention reads per token
// (docs/RESULTS.md measures the speed and the perplexity effect).
enum class KvCacheType { kF32, kF16 };

// KV cache and position of one token sequence.
class Sequence {
 public:
  virtual ~Sequence() = default;
  virtual int64_t length() const = 0;    // tokens already in the cache
  virtual int64_t capacity() const = 0;
  virtual void Reset() = 0;
};

// Observes the input of every linear layer during a forward pass: calibration statistics (GPTQ
// Hessians, activation importance). x is [n_tokens][cols] floats. Called once per weight, in execution
// order, even where weights share an input (q/k/v, gate/up: the same x pointer each time); the LM
// head is observed too, under lm_head.weight or, when tied, model.embed_tokens.weight.
using LinearInputObserver =
    std::function<void(const std::string& weight_name, const float* x, int64_t n_tokens, int64_t cols)>;

// Called by Model::ForwardLayerStaged between the stages of a layer with the names of the weights
// the next stage runs; an error stops the layer.
using StageHook = std::function<Status(std::span<const std::string> weight_names)>;

// The tensors a model of this config needs, HF names, embedding first then layer by layer, final
// norm last. lm_head.weight is not among them: without it (or with tied embeddings) the LM head is
// the embedding matrix.
std::vector<std::string> RequiredTensorNames(const ModelConfig& config);

class Model {
 public:
  // Loads every tensor the architecture needs from the store; a missing one is a NotFound error.
  // Open, FromLoader and FromImported hold the weights in memory advised for transparent huge pages,
  // which decode streams faster.
  static Result<std::unique_ptr<Model>> Open(const std::string& store_path);
  static Result<std::unique_ptr<Model>> FromLoader(WeightLoaderV2& loader);
  // Builds a model from tensors already in memory (e.g. ImportModel output) with the same checks as
  // Open: every required tensor present with the shape the config implies. Tensors the architecture
  // does not use are dropped.
  static Result<std::unique_ptr<Model>> FromTensors(ModelConfig config, nlohmann::json tokenizer,
                                                    std::vector<WeightTensor> tensors);
  // Runs a checkpoint straight from ImportModel (HF directory or GGUF), loading only the tensors the
  // architecture uses, as the importer hands them out (GGUF block-quantized types arrive as F32).
  static Result<std::unique_ptr<Model>> FromImported(const ImportedModel& imported);
  virtual ~Model() = default;

  virtual const ModelConfig& config() const = 0;
  virtual const nlohmann::json& tokenizer_spec() const = 0;
  // Resident bytes of the weights as held in memory.
  virtual int64_t weight_bytes() const = 0;

  // A sequence of up to `capacity` tokens whose cache holds kv_type values.
  virtual std::unique_ptr<Sequence> NewSequence(int64_t capacity, KvCacheType kv_type) const = 0;
  // Appends `tokens` to the sequence (batched prefill when several). Writes, when not null,
  // logits [n][vocab] and final-normed hidden states [n][hidden] for each of the n tokens.
  virtual Status Forward(Sequence& seq, std::span<const int32_t> tokens, float* logits, float* hidden) = 0;

  // Layer-wise access for calibration. hidden is [n_tokens][hidden_size], positions 0..n-1,
  // causal attention within the n tokens, no cache.
  virtual void Embed(std::span<const int32_t> tokens, float* hidden) const = 0;
  virtual Status ForwardLayer(int64_t layer, float* hidden, int64_t n_tokens) = 0;
  // The same over several sequences (hidden[s] is [n_s][hidden_size]) in GPTQ's "true sequential"
  // order. A layer's linears come in stages (q/k/v; o; gate/up; down): every sequence's input to a
  // stage goes to the observer first, then before_stage(the stage's weight names) runs — it may
  // ReplaceWeight them, e.g. with their quantized versions — and only then do those linears run.
  // Each linear runs once per sequence, on inputs that went through the earlier stages as they are
  // then.
  virtual Status ForwardLayerStaged(int64_t layer, std::span<std::vector<float>> hidden,
                                    const StageHook& before_stage) = 0;
  // Final norm and LM head: hidden [n][hidden_size] → logits [n][vocab].
  virtual void Head(const float* hidden, int64_t n_tokens, float* logits) const = 0;
  virtual void SetLinearInputObserver(LinearInputObserver observer) = 0;

  // The linear weights (2-D matmul operands) of one decoder layer, in execution order.
  virtual std::vector<std::string> LinearWeightNames(int64_t layer) const = 0;
  // `name` must be one of the model's tensors (RequiredTensorNames, lm_head.weight when untied); any
  // other name gives an empty tensor (no name, no shape). The tensor is in the form the model runs
  // it, with the stored values: 1-D weights as F32, 3-bit codes possibly widened to 4 bits, 2- and
  // 4-bit codes possibly in tile order (PrepareForMatMul), so write stores from the quantizer's
  // output, not from here.
  virtual const WeightTensor& Weight(const std::string& name) const = 0;
  // Swaps in a new encoding of an existing weight (same name and shape), converted as on loading.
  virtual Status ReplaceWeight(WeightTensor w) = 0;
};

// Picks the next token from a row of logits: greedy (the first maximum) when temperature is 0,
// else a draw from softmax(logits / temperature) restricted to the top_k largest (0: all).
struct SamplingOptions {
  double temperature = 0.0;
  int64_t top_k = 0;
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& opts) : opts_(opts), rng_(opts.seed) {}
  int32_t Sample(std::span<const float> logits);

 private:
  SamplingOptions opts_;
  std::mt19937_64 rng_;
};

}  // namespace llmc
