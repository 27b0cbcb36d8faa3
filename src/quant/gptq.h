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
#include <string>
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
  std::vector<double> xtx_;      // [cols][cols] row-major, lower triangle (j ≤ i) filled
  std::vector<float> xt_;        // one call's Xᵀ [cols][n_tokens]
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

// Everything GPTQ derives from one Hessian alone — dead columns, the act-order permutation, the
// damping λ and the factor U — built once and shared by every weight that reads the same input
// (q/k/v, gate/up): the factorization is the costliest step after the lazy-batch updates.
class GptqHessian {
 public:
  // Uses options.damp and options.act_order (a weight quantized with it must pass the same two).
  // Bad options or a Hessian that is not [cols][cols] → Invalid naming `name`; one that stays
  // indefinite after the damping increases → Invalid naming `name` and the last λ tried.
  static Result<GptqHessian> Prepare(const std::string& name, const std::vector<double>& hessian, int64_t cols,
                                     const GptqOptions& options);

  int64_t cols() const { return cols_; }
  double damp() const { return damp_; }  // the λ that worked
  bool act_order() const { return act_order_; }
  double requested_damp() const { return requested_damp_; }
  // Columns whose input was always zero (diag H = 0): quantized to 0, H_ii = 1 for the factorization.
  const std::vector<int64_t>& dead_columns() const { return dead_; }
  // Processing order: position p handles original column permutation()[p] (identity without act_order).
  const std::vector<int64_t>& permutation() const { return perm_; }
  // Upper triangular U [cols][cols] row-major in processing order, UᵀU = (P·H·Pᵀ + λ·mean(diag H)·I)⁻¹.
  const std::vector<float>& u() const { return u_; }
  // Uᵀ, row-major: the lazy-batch update reads U's blocks as the transposed operand of MatMulF32.
  const std::vector<float>& u_transposed() const { return ut_; }
  // The undamped H as given, [cols][cols] row-major in the original order (for the output error).
  const std::vector<float>& hessian() const { return h_; }
  // diag H / 2 = mean x² per input column, the activation importance of each column.
  const std::vector<float>& importance() const { return importance_; }

 private:
  int64_t cols_ = 0;
  double damp_ = 0;
  double requested_damp_ = 0;
  bool act_order_ = false;
  std::vector<int64_t> dead_;
  std::vector<int64_t> perm_;
  std::vector<float> u_;
  std::vector<float> ut_;
  std::vector<float> h_;
  std::vector<float> importance_;
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

// Quantizes `dense` (any dense encoding, 2-D) with a prepared Hessian of its input. Bad options or
// shapes, or a Hessian prepared for another width or with another damp/act_order → Invalid naming
// the tensor.
Result<GptqResult> QuantizeGptq(const WeightTensor& dense, const GptqHessian& hessian, const GptqOptions& options);

// One weight alone: GptqHessian::Prepare (named after the tensor) followed by the call above.
Result<GptqResult> QuantizeGptq(const WeightTensor& dense, const std::vector<double>& hessian,
                                const GptqOptions& options);

}  // namespace llmc
