// The opt-in int8-activation GEMV path: within its rounding bound of the reference, exact when the
// activations are already on the int8 grid, identical across thread counts, on every target.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "hwy/targets.h"
#include "kernels_test_weights.h"
#include "llmc/kernels.h"
#include "llmc/quant.h"

namespace llmc {
namespace {

using testing::OutputScales;
using testing::RandomActivations;
using testing::RandomWeight;
using testing::WeightCase;

class Int8Activations {
 public:
  Int8Activations() { SetActivationInt8(true); }
  ~Int8Activations() { SetActivationInt8(false); }
};

std::vector<int64_t> TargetsToTest() {
  std::vector<int64_t> targets;
  for (int64_t t : {int64_t{HWY_AVX3}, int64_t{HWY_AVX2}, int64_t{HWY_SCALAR}}) {
    if ((hwy::SupportedTargets() & t) != 0) targets.push_back(t);
  }
  return targets;
}

std::vector<WeightCase> QuantCases() {
  std::vector<WeightCase> cases;
  for (int bits : {2, 3, 4, 8}) {
    for (QuantGrid grid : {QuantGrid::kSigned, QuantGrid::kAsymmetric, QuantGrid::kSymmetricHalf}) {
      for (int64_t gs : {32, 128, 0, 36}) cases.push_back({Encoding::kQuantized, bits, grid, gs});
    }
  }
  return cases;
}

// Per output, rounding x to the int8 grid moves y by at most half a step times sum_c |W[r][c]|.
std::vector<double> RoundingBounds(const WeightTensor& w, const std::vector<float>& x) {
  const float step = *std::max_element(x.begin(), x.end(), [](float a, float b) { return std::fabs(a) < std::fabs(b); });
  std::vector<double> bounds(static_cast<size_t>(w.rows()));
  std::vector<float> row(static_cast<size_t>(w.cols()));
  for (int64_t r = 0; r < w.rows(); ++r) {
    DequantizeRow(w, r, row.data());
    double abs_sum = 0;
    for (float v : row) abs_sum += std::fabs(v);
    bounds[r] = 0.5 * std::fabs(step) / 127.0 * abs_sum;
  }
  return bounds;
}

TEST(KernelsInt8Test, WithinTheActivationRoundingBoundAndIdenticalForEveryThreadCount) {
  Int8Activations int8;
  for (const WeightCase& wc : QuantCases()) {
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{13, 172}, {40, 576}, {3, 1537}}) {
      SCOPED_TRACE(wc.Name() + " " + std::to_string(rows) + "x" + std::to_string(cols));
      const WeightTensor w = RandomWeight(wc, rows, cols, 7);
      const std::vector<float> x = RandomActivations(cols, 8);
      std::vector<float> ref(static_cast<size_t>(rows));
      MatMulReference(w, x.data(), 1, ref.data());
      const std::vector<double> bounds = RoundingBounds(w, x);
      const double scale = OutputScales(w, x.data(), 1)[0];
      for (int64_t target : TargetsToTest()) {
        hwy::SetSupportedTargetsForTest(target);
        std::vector<float> first;
        for (int threads : {1, 2, 3}) {
          SetNumThreads(threads);
          std::vector<float> y(static_cast<size_t>(rows));
          MatMul(w, x.data(), 1, y.data());
          for (int64_t r = 0; r < rows; ++r) {
            ASSERT_NEAR(y[r], ref[r], bounds[r] + 1e-5 * scale) << hwy::TargetName(target) << " row " << r;
          }
          if (first.empty()) first = y;
          ASSERT_EQ(0, std::memcmp(first.data(), y.data(), y.size() * sizeof(float))) << threads << " threads";
        }
      }
      hwy::SetSupportedTargetsForTest(0);
      SetNumThreads(0);
    }
  }
}

TEST(KernelsInt8Test, ExactWhenActivationsAreOnTheInt8Grid) {
  Int8Activations int8;
  const int64_t cols = 300;
  std::vector<float> x(cols);
  for (int64_t c = 0; c < cols; ++c) x[c] = static_cast<float>((c * 37) % 255 - 127);  // integers, max |x| 127
  for (const WeightCase& wc : QuantCases()) {
    SCOPED_TRACE(wc.Name());
    const WeightTensor w = RandomWeight(wc, 9, cols, 3);
    std::vector<float> ref(9), y(9);
    MatMulReference(w, x.data(), 1, ref.data());
    MatMul(w, x.data(), 1, y.data());
    const double scale = OutputScales(w, x.data(), 1)[0];
    for (int r = 0; r < 9; ++r) ASSERT_NEAR(y[r], ref[r], 1e-5 * scale) << "row " << r;
  }
}

TEST(KernelsInt8Test, ZeroActivationsGiveZeroAndDenseWeightsKeepTheFloatPath) {
  Int8Activations int8;
  const WeightTensor w = RandomWeight({Encoding::kQuantized, 4, QuantGrid::kAsymmetric, 32}, 5, 64, 4);
  const std::vector<float> zeros(64, 0.0f);
  std::vector<float> y(5, 1.0f);
  MatMul(w, zeros.data(), 1, y.data());
  EXPECT_EQ(std::vector<float>(5, 0.0f), y);

  const WeightTensor dense = RandomWeight({Encoding::kF16}, 5, 64, 4);
  const std::vector<float> x = RandomActivations(64, 5);
  std::vector<float> ref(5);
  MatMulReference(dense, x.data(), 1, ref.data());
  MatMul(dense, x.data(), 1, y.data());
  const double scale = OutputScales(dense, x.data(), 1)[0];
  for (int r = 0; r < 5; ++r) EXPECT_NEAR(y[r], ref[r], 1e-5 * scale);
}

}  // namespace
}  // namespace llmc
