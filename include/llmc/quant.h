// Quantization: the scalar reference for every quantized encoding (what the optimised kernels are
// tested against), round-to-nearest PTQ, and the QuantizationConfig that picks a spec per tensor.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "llmc/tensor.h"

namespace llmc {

// The zero a grid subtracts from codes (kAsymmetric: 0, its zeros are stored per group).
float GridZero(QuantGrid grid, int bits);

// Reference dequantization of one row of any WeightTensor (dense or quantized) into floats.
void DequantizeRow(const WeightTensor& w, int64_t row, float* out);
// Whole tensor to FP32.
std::vector<float> DequantizeToFloat(const WeightTensor& w);

struct RtnOptions {
  bool mse_clip = true;  // search clip ratios per group for the lowest squared error
  // Optional per-column importance (e.g. mean x² of the layer's inputs): weights the clip search.
  std::span<const float> importance;
};

// Round-to-nearest quantization of a dense tensor (rows = output channels, groups along the row).
Result<WeightTensor> QuantizeRtn(const WeightTensor& dense, const QuantSpec& spec, const RtnOptions& opts = {});

}  // namespace llmc
