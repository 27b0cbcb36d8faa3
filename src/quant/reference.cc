// The scalar reference for every encoding: what a stored code means. Optimised kernels are tested
// against DequantizeRow; nothing else in the tree defines the value of a code.
#include <algorithm>
#include <cstring>

#include "llmc/quant.h"

namespace llmc {

namespace {

// Code j of a row packed as a little-endian bit stream (docs/FORMAT.md, "Packing").
inline uint32_t CodeAt(const uint8_t* row, int64_t j, int bits) {
  const int64_t bit = j * bits;
  const int64_t byte = bit >> 3;
  const int shift = static_cast<int>(bit & 7);
  uint32_t v = row[byte] >> shift;
  if (shift + bits > 8) v |= static_cast<uint32_t>(row[byte + 1]) << (8 - shift);
  return v & ((1u << bits) - 1);
}

}  // namespace

float GridZero(QuantGrid grid, int bits) {
  switch (grid) {
    case QuantGrid::kSigned: return static_cast<float>(1 << (bits - 1));
    case QuantGrid::kSymmetricHalf: return static_cast<float>((1 << bits) - 1) / 2.0f;
    case QuantGrid::kAsymmetric: return 0.0f;  // stored per group
  }
  return 0.0f;
}

void DequantizeRow(const WeightTensor& w, int64_t row, float* out) {
  if (w.order == CodeOrder::kTiles16) {
    std::vector<uint8_t> storage;
    return DequantizeRow(RowOrderCopy(w, row, row + 1, storage), 0, out);
  }
  const int64_t cols = w.cols();
  const uint8_t* src = w.data.data() + row * w.row_bytes();
  if (!w.quantized()) {
    ToFloat(w.encoding == Encoding::kF32 ? DType::kF32 : w.encoding == Encoding::kF16 ? DType::kF16 : DType::kBF16,
            src, out, cols);
    return;
  }
  const int bits = w.quant.bits;
  const int64_t gs = w.quant.group_size;
  const int64_t groups = w.groups_per_row();
  const uint16_t* scales = w.scales.as<uint16_t>() + row * groups;
  const uint8_t* zeros = w.quant.grid == QuantGrid::kAsymmetric ? w.zero_points.data() + row * groups : nullptr;
  const float fixed_zero = GridZero(w.quant.grid, bits);
  for (int64_t g = 0; g < groups; ++g) {
    const float s = HalfToFloat(scales[g]);
    const float z = zeros != nullptr ? static_cast<float>(zeros[g]) : fixed_zero;
    const int64_t end = std::min(cols, (g + 1) * gs);
    for (int64_t j = g * gs; j < end; ++j) out[j] = s * (static_cast<float>(CodeAt(src, j, bits)) - z);
  }
}

std::vector<float> DequantizeToFloat(const WeightTensor& w) {
  std::vector<float> out(static_cast<size_t>(w.numel()));
  const int64_t cols = w.cols();
  for (int64_t r = 0; r < w.rows(); ++r) DequantizeRow(w, r, out.data() + r * cols);
  return out;
}

}  // namespace llmc
