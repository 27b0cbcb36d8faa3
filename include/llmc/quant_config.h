// QuantizationConfig: what `llmc quantize` does to each tensor — backend, bit width, group size, grid,
// clipping, which tensors stay dense, per-pattern overrides — plus the settings of the calibrated
// backends (GPTQ, AngelSlim). Read from JSON or YAML; CLI flags are applied on top as the same keys.
//
// How a tensor's spec is decided (PlanQuantization in src/quant/quantize_model.h applies it):
//   1. tensors with fewer than 2 dimensions (norms, biases) stay dense (dense_dtype);
//   2. tensors matching a `skip` pattern stay dense;
//   3. model.embed_tokens.weight and lm_head.weight get `embedding_bits` (16 keeps them dense);
//      every other tensor gets `bits`;
//   4. `overrides` are applied in order, each matching one replacing the fields it sets (later wins).
// The grid is `grid` unless an override sets one. The group size is the override's if one sets it;
// otherwise 8-bit tensors are per channel (one group per row) unless `bits` itself is 8 and `group_size`
// is given, and 2/3/4-bit tensors use `group_size` (default 128).
// Patterns are globs matched against the whole name ('*' crosses dots: "*.mlp.*"), or, prefixed with
// "re:", regular expressions searched in the name ("re:layers\.(0|1)\.").
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "llmc/dtype.h"
#include "llmc/status.h"
#include "llmc/tensor.h"

namespace llmc {

struct QuantOverride {
  std::string pattern;
  std::optional<int> bits;
  std::optional<int64_t> group_size;
  std::optional<QuantGrid> grid;
};

struct CalibrationConfig {
  std::string data;  // text file or directory of calibration text
  int64_t samples = 128;
  int64_t seq_len = 512;
};

struct GptqConfig {
  int64_t block_size = 128;
  double damp = 0.01;  // fraction of the mean Hessian diagonal added to it
  bool act_order = false;
  bool static_groups = true;
};

struct QuantizationConfig {
  std::string backend = "ptq";  // "ptq", "gptq" or "angelslim"
  int bits = 0;                 // 2, 4 or 8 (3 for gptq); required
  std::optional<int64_t> group_size;
  QuantGrid grid = QuantGrid::kSigned;
  bool mse_clip = true;
  std::vector<std::string> skip;
  std::vector<QuantOverride> overrides;
  int embedding_bits = 8;  // 2, 3, 4, 8, or 16 (dense)
  DType dense_dtype = DType::kF16;
  CalibrationConfig calibration;
  GptqConfig gptq;
  std::optional<double> target_bpw;
  bool activation_aware = false;

  // Parses and validates every key: an unknown key, a wrong type or an out-of-range value is Invalid,
  // naming the key and the value found.
  static Result<QuantizationConfig> FromJson(const nlohmann::json& j);
  // The same document as YAML (yaml-cpp), converted to JSON and parsed by FromJson.
  static Result<QuantizationConfig> FromYaml(const std::string& text);
  // A .yaml/.yml/.json file as a JSON document, so callers can apply CLI flags as keys before parsing.
  static Result<nlohmann::json> ReadDocument(const std::string& path);
  // Every key with its value (defaults included); FromJson(ToJson()) round-trips.
  nlohmann::json ToJson() const;
};

// True when `name` matches a skip/override pattern (glob, or "re:" regular expression).
Result<bool> MatchesPattern(const std::string& pattern, const std::string& name);

}  // namespace llmc
