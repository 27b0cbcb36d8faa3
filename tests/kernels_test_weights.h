// Random WeightTensors of every encoding for the kernel tests (built directly from random codes,
// scales and zero points: no quantizer involved), and the tolerance measure they share.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "llmc/dtype.h"
#include "llmc/quant.h"
#include "llmc/tensor.h"

namespace llmc::testing {

struct WeightCase {
  Encoding encoding = Encoding::kF32;
  int bits = 0;
  QuantGrid grid = QuantGrid::kSigned;
  int64_t group_size = 0;  // 0: one group per row

  std::string Name() const {
    if (encoding != Encoding::kQuantized) return EncodingName(encoding);
    const std::string g = group_size == 0 ? "row" : std::to_string(group_size);
    return "int" + std::to_string(bits) + "_" + QuantGridName(grid) + "_g" + g;
  }
};

// Every byte of the code stream is random, including the unused bits after a row's last code, which
// the kernels must ignore.
inline WeightTensor RandomWeight(const WeightCase& c, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  WeightTensor w;
  w.name = "test.weight";
  w.shape = {rows, cols};
  w.encoding = c.encoding;
  std::normal_distribution<float> normal(0.0f, 0.05f);
  if (c.encoding != Encoding::kQuantized) {
    std::vector<uint8_t> data(static_cast<size_t>(rows * w.row_bytes()));
    for (int64_t i = 0; i < rows * cols; ++i) {
      const float v = normal(rng);
      if (c.encoding == Encoding::kF32) {
        std::memcpy(data.data() + 4 * i, &v, 4);
      } else {
        const uint16_t h = c.encoding == Encoding::kF16 ? FloatToHalf(v) : FloatToBF16(v);
        std::memcpy(data.data() + 2 * i, &h, 2);
      }
    }
    w.data = Bytes::Own(std::move(data));
    return w;
  }
  w.quant = QuantSpec{c.bits, c.group_size == 0 ? std::max<int64_t>(cols, 1) : c.group_size, c.grid};
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> data(static_cast<size_t>(rows * w.row_bytes()));
  for (auto& b : data) b = static_cast<uint8_t>(byte(rng));
  w.data = Bytes::Own(std::move(data));
  const int64_t n_groups = rows * w.groups_per_row();
  std::uniform_real_distribution<float> magnitude(0.002f, 0.05f);
  std::vector<uint16_t> scales(static_cast<size_t>(n_groups));
  for (auto& s : scales) s = FloatToHalf((byte(rng) & 1 ? 1.0f : -1.0f) * magnitude(rng));
  w.scales = Bytes::CopyOf(scales.data(), scales.size());
  if (c.grid == QuantGrid::kAsymmetric) {
    std::uniform_int_distribution<int> zero(0, (1 << c.bits) - 1);
    std::vector<uint8_t> zeros(static_cast<size_t>(n_groups));
    for (auto& z : zeros) z = static_cast<uint8_t>(zero(rng));
    w.zero_points = Bytes::Own(std::move(zeros));
  }
  return w;
}

inline std::vector<float> RandomActivations(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = normal(rng);
  return x;
}

// Per token, the output scale max_r sum_c |W[r][c] * x[t][c]|: errors are measured against it (a single
// output can be near zero by cancellation).
inline std::vector<double> OutputScales(const WeightTensor& w, const float* x, int64_t n_tokens) {
  const int64_t rows = w.rows();
  const int64_t cols = w.cols();
  std::vector<double> scales(static_cast<size_t>(n_tokens), 0.0);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(w, r, row.data());
    for (int64_t t = 0; t < n_tokens; ++t) {
      double s = 0;
      for (int64_t c = 0; c < cols; ++c) s += std::fabs(static_cast<double>(row[c]) * x[t * cols + c]);
      scales[t] = std::max(scales[t], s);
    }
  }
  return scales;
}

}  // namespace llmc::testing
