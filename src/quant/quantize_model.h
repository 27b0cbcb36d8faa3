// The quantization driver: source checkpoint → a spec per tensor (the plan) → quantized tensors
// streamed one at a time into a V2 store → a report of sizes and errors. Backend-neutral: a backend is
// a TensorQuantizer (RTN here; GPTQ plugs in the same way), and each piece is usable on its own.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "llmc/import.h"
#include "llmc/quant.h"
#include "llmc/quant_config.h"
#include "llmc/store.h"

namespace llmc {

// The HF names of the token embedding and the (untied) LM head, which the config's embedding_bits covers.
inline constexpr char kTokenEmbeddingName[] = "model.embed_tokens.weight";
inline constexpr char kLmHeadName[] = "lm_head.weight";

// Group size of quantized weights when the config names none (8 bits: one scale per output channel).
inline constexpr int64_t kDefaultGroupSize = 128;

// What one tensor becomes.
struct TensorPlan {
  std::string name;
  std::vector<int64_t> shape;
  bool quantize = false;         // false: stored dense as dense_dtype
  QuantSpec spec;                // when quantize
  DType dense_dtype = DType::kF16;
  std::string rule;              // why: "1-D", "skip 'P'", "bits", "embedding_bits", "override 'P'"
  nlohmann::json ToJson() const;
};

struct TensorShape {
  std::string name;
  std::vector<int64_t> shape;
};
std::vector<TensorShape> ShapesOf(const ImportedModel& model);

// Applies the config's rules (include/llmc/quant_config.h) to every tensor. A skip or override pattern
// that matches no tensor is Invalid, naming the pattern.
Result<std::vector<TensorPlan>> PlanQuantization(const QuantizationConfig& config,
                                                 const std::vector<TensorShape>& tensors);

// A HuggingFace directory, a GGUF file or an llmc store (quantized tensors are dequantized on load),
// as tensors loaded on demand.
Result<ImportedModel> OpenQuantizationSource(const std::string& path);

// One backend: quantizes a dense tensor to plan.spec.
using TensorQuantizer = std::function<Result<WeightTensor>(const WeightTensor& dense, const TensorPlan& plan)>;
TensorQuantizer RtnQuantizer(const QuantizationConfig& config);

struct TensorReport {
  std::string name;
  std::vector<int64_t> shape;
  std::string source_type;  // "F32", "Q4_1", ...
  std::string stored_type;  // "int2", "f16", ...
  std::string rule;
  int64_t numel = 0;
  int64_t stored_bytes = 0;  // codes + scales + zero points (or dense values)
  double rel_error = 0;      // ‖W − Ŵ‖ / ‖W‖
  double cosine = 1;         // cos(W, Ŵ)
  nlohmann::json ToJson() const;
};
// Compares the stored tensor with the original it came from.
TensorReport MeasureTensor(const WeightTensor& original, const WeightTensor& stored, const std::string& source_type,
                           const std::string& rule);

struct QuantizationReport {
  std::string input;
  std::string output;
  std::string backend;
  std::vector<TensorReport> tensors;
  int64_t file_bytes = 0;  // the store on disk (Parquet framing and metadata included)
  double seconds = 0;

  int64_t total_weights() const;
  int64_t stored_bytes() const;
  double bits_per_weight() const;  // over all weights, scales and zero points included
  double ratio_vs_fp16() const;    // stored bytes / (2 bytes × weights)
  nlohmann::json ToJson() const;
  // A summary and the `worst` tensors by relative error.
  std::string ToText(size_t worst = 5) const;
};

// The store metadata: the source's config and tokenizer; "quantization" in extra records the config
// and every tensor's plan.
StoreMetadata QuantizedStoreMetadata(const ImportedModel& source, const QuantizationConfig& config,
                                     const std::vector<TensorPlan>& plan);

// Streams every tensor of `source` (one in memory at a time) through `quantizer`, or ToDense (store.h)
// for tensors kept dense, into a V2 store at `output` that appears only if everything succeeds.
Result<QuantizationReport> QuantizeModel(const ImportedModel& source, const QuantizationConfig& config,
                                         const std::vector<TensorPlan>& plan, const TensorQuantizer& quantizer,
                                         const std::string& output);

}  // namespace llmc
