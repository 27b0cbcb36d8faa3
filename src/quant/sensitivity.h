// Sensitivity-driven mixed precision for the calibrated backends (`target_bpw`).
//
// Sensitivity of a decoder linear: the mean KL divergence KL(p_model ‖ p_quantized) of the final
// next-token distributions when that weight alone is quantized to 2 bits (RTN, its planned group
// size and grid), on the first calibration tokens (never evaluation text). Layers are replayed from
// cached inputs, so only the layers after the weight's own are recomputed.
//
// Bits from {2, 3, 4, 8} are then assigned per tensor by a greedy knapsack: every tensor starts at 2
// bits and the upgrade with the largest estimated KL reduction per extra stored bit is taken while the
// budget allows. The KL at b bits is modelled as sensitivity·4^−(b−2) (each extra bit halves the
// step, quartering the squared error). The budget is target_bpw over the decoder's linear weights
// (scales and zero points included); embeddings and norms follow the plan and are not counted.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "llmc/model.h"
#include "llmc/quant_config.h"
#include "quant/calibration_data.h"
#include "quant/quantize_model.h"

namespace llmc {

struct BitChoice {
  std::string name;
  int64_t numel = 0;
  double sensitivity = 0;  // mean KL (nats/token) with only this weight at 2 bits
  int bits = 2;
};

struct BitAllocation {
  std::vector<BitChoice> tensors;
  double target_bpw = 0;
  double achieved_bpw = 0;  // over the allocated tensors, scales and zero points included
  int64_t tokens = 0;       // calibration tokens the sensitivities were measured on
  double seconds = 0;
  nlohmann::json ToJson() const;
};

// Storage bits per weight of `spec` with b bits (codes + fp16 scale + uint8 zero on the asym grid).
double BitsPerWeight(const QuantSpec& spec, int64_t cols);

// Greedy knapsack over the measured sensitivities (exposed for tests). `spec_of[i]`/`cols_of[i]` give
// each tensor's grid and row length; fails when even all-2-bit exceeds the target.
Status AssignBits(std::vector<BitChoice>& tensors, const std::vector<QuantSpec>& spec_of,
                  const std::vector<int64_t>& cols_of, double target_bpw, double& achieved_bpw);

// Measures the sensitivities on `model` (left unchanged), assigns bits for config.target_bpw and
// writes the choice into the plan (spec.bits, rule "target_bpw").
Result<BitAllocation> AllocateBitsForTarget(Model& model, const CalibrationSet& calib,
                                            const QuantizationConfig& config, std::vector<TensorPlan>& plan);

}  // namespace llmc
