// GPTQ (Frantar et al. 2022) on one linear weight W [rows = out][cols = in]: quantizes W column by
// column and spreads each column's rounding error over the columns not yet quantized, weighted by the
// inverse Hessian of the layer's reconstruction loss, H = 2·XᵀX/N (X: the layer's calibration inputs).
// The result is an ordinary quantized WeightTensor (include/llmc/tensor.h), codes in the original
// column order, so every kernel and the store handle it like an RTN tensor.
//
// Scales and zero points are chosen by the RTN quantizer itself (QuantizeRtn on the group's columns:
// the same grid, fp16 rounding and MSE clip search), so GPTQ and RTN cannot drift apart.
#pragma once

#include <cstdint>
#include <vector>

#include "llmc/quant.h"
#include "llmc/status.h"

namespace llmc {

// Sums XᵀX of a layer's inputs in double over every calibration token (shared by the weights that
// read the same input, e.g. q/k/v).
class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t cols);
  // x is [n_tokens][cols] floats.
  void Add(const float* x, int64_t n_tokens);

  int64_t cols() const { return cols_; }
  int64_t tokens() const { return tokens_; }
  // H = 2·XᵀX/N, row-major [cols][cols] (all zeros before any token).
  std::vector<double> Hessian() const;
  // Mean x² per input column (diag H / 2): the activation importance of each column.
  std::vector<float> Importance() const;

 private:
  int64_t cols_;
  int64_t tokens_ = 0;
  std::vector<double> xtx_;      // [cols][cols], lower triangle filled
  std::vector<float> scratch_;   // one call's XᵀX in float before it is added in double
};

struct GptqOptions {
  QuantSpec spec;               // bits 2, 3 or 4; any grid; group size > 0
  int64_t block_size = 128;     // columns per lazy batch (rounded to whole groups)
  double damp = 0.01;           // λ: λ·mean(diag H) is added to the diagonal (×10 while Cholesky fails)
  bool act_order = false;       // process columns by descending diag H (needs static_groups)
  bool static_groups = true;    // every group's scale from the original W, before any update
  bool mse_clip = true;         // the RTN clip search for each group's scale
  bool activation_aware = false;  // weight the clip search by each column's mean x²
};

struct GptqStats {
  double weight_rel_error = 0;  // ‖W − Ŵ‖ / ‖W‖
  // ‖X(W − Ŵ)ᵀ‖² / ‖XWᵀ‖² on the calibration inputs, i.e. tr(ΔHΔᵀ) / tr(WHWᵀ).
  double output_rel_error = 0;
  double damp = 0;              // the λ that worked
  int64_t dead_columns = 0;     // columns whose input was always zero (quantized to 0)
};

struct GptqResult {
  WeightTensor tensor;
  GptqStats stats;
};

// Quantizes `dense` (any dense encoding, 2-D) given its Hessian [cols][cols] (HessianAccumulator).
// Bad options or shapes → Invalid naming the tensor; a Hessian that stays indefinite after the damping
// increases → Invalid naming the tensor and the last λ tried.
Result<GptqResult> QuantizeGptq(const WeightTensor& dense, const std::vector<double>& hessian,
                                const GptqOptions& options);

}  // namespace llmc
