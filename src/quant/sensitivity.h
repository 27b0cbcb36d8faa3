// Sensitivity-driven mixed precision for the calibrated backends (`target_bpw`).
//
// Sensitivity of a tensor: the mean KL divergence KL(p_model ‖ p_quantized) of the final next-token
// distributions when that weight alone is quantized to 2 bits (RTN, its planned grid), on the first
// calibration tokens (never evaluation text). Every quantized tensor takes part: the decoder's
// linears (only the layers from the weight's own on are replayed, from cached inputs), the token
// embedding (tied: the LM head too; the whole model is replayed) and an untied LM head (the head
// alone).
//
// Bits from {2, 3, 4, 8} are then assigned per tensor by a greedy knapsack: every tensor starts at 2
// bits and the upgrade with the largest estimated KL reduction per extra stored bit is taken while the
// budget allows. The KL at b bits is modelled as sensitivity·4^−(b−2) (each extra bit halves the
// step, quartering the squared error). The budget is target_bpw over every weight of the model, as
// `inspect` and `compare` count bits per weight: codes, scales and zero points of the quantized
// tensors plus the dense ones (norms) at their stored width.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "llmc/model.h"
#include "llmc/quant_config.h"
#include "quant/calibration_data.h"
#include "quant/quantize_model.h"

namespace llmc {

// Bit widths the allocation chooses from.
inline constexpr int kBitLevels[] = {2, 3, 4, 8};

struct BitChoice {
  std::string name;
  int64_t numel = 0;
  double sensitivity = 0;  // mean KL (nats/token) with only this weight at 2 bits
  int bits = 2;
  std::vector<double> bpw;  // stored bits per weight at each of kBitLevels
};

struct BitAllocation {
  std::vector<BitChoice> tensors;
  double target_bpw = 0;
  double achieved_bpw = 0;  // over every weight of the model, scales and zero points included
  int64_t tokens = 0;       // calibration tokens the sensitivities were measured on
  double seconds = 0;
  nlohmann::json ToJson() const;
};

// Storage bits per weight of `spec` with b bits (codes + fp16 scale + uint8 zero on the asym grid).
double BitsPerWeight(const QuantSpec& spec, int64_t cols);

// Greedy knapsack over the measured sensitivities (exposed for tests): `fixed_bits` are the stored
// bits of the weights outside `tensors`, `total_weights` the model's weights, the budget
// target_bpw · total_weights. Fails when even all tensors at 2 bits exceed it.
Status AssignBits(std::vector<BitChoice>& tensors, double fixed_bits, double total_weights, double target_bpw,
                  double& achieved_bpw);

// Measures the sensitivities on `model` (left unchanged), assigns bits for config.target_bpw and
// writes the choice into the plan (spec.bits, rule "target_bpw").
Result<BitAllocation> AllocateBitsForTarget(Model& model, const CalibrationSet& calib,
                                            const QuantizationConfig& config, std::vector<TensorPlan>& plan);

}  // namespace llmc
