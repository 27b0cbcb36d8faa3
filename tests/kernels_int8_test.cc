// The opt-in int8-activation GEMV path: within its rounding bound of the reference, exact when the
// activations are already on the int8 grid, identical across thread counts, on every target; the
// x86 byte-dot-product kernels (2/4-bit, groups of 32k codes) agree with the Highway int8 path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "hwy/targets.h"
#include "kernels/gemv_x86.h"
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
      for (int64_t gs : {32, 64, 128, 0, 36}) cases.push_back({Encoding::kQuantized, bits, grid, gs});
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
    // 480 and 224 columns walk every x86 chunk size (64, 32, 16 and 8 bytes) for 2 and 4 bits.
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{13, 172}, {40, 576}, {3, 1537}, {7, 480}, {5, 224}}) {
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
  const int64_t cols = 480;  // a multiple of 32: the x86 byte path where it applies
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

TEST(KernelsInt8Test, X86BytePathAppliesToWholeSubgroupsOf2And4BitCodes) {
  using kernels::x86::Isa;
  using kernels::x86::IsaFor;
  const bool x86 = IsaFor(RandomWeight({Encoding::kQuantized, 2, QuantGrid::kSigned, 32}, 2, 64, 1)) != Isa::kNone;
  for (const WeightCase& wc : QuantCases()) {
    for (int64_t cols : {int64_t{172}, int64_t{576}}) {
      const WeightTensor w = RandomWeight(wc, 2, cols, 1);
      const bool fits = (wc.bits == 2 || wc.bits == 4) && (wc.group_size == 0 || wc.group_size % 32 == 0) && cols % 32 == 0;
      EXPECT_EQ(x86 && fits, IsaFor(w) != Isa::kNone) << wc.Name() << " cols " << cols;
    }
  }
  hwy::SetSupportedTargetsForTest(HWY_SCALAR);
  EXPECT_EQ(Isa::kNone, IsaFor(RandomWeight({Encoding::kQuantized, 2, QuantGrid::kSigned, 32}, 2, 64, 1)));
  hwy::SetSupportedTargetsForTest(0);
}

// Same integer dot products, different float summation order: the x86 kernels (picked under the
// AVX2/AVX3 target masks) match the Highway scalar int8 path to float rounding.
TEST(KernelsInt8Test, X86BytePathMatchesTheHighwayInt8Path) {
  Int8Activations int8;
  const std::vector<int64_t> targets = TargetsToTest();
  for (int bits : {2, 4}) {
    for (QuantGrid grid : {QuantGrid::kSigned, QuantGrid::kAsymmetric, QuantGrid::kSymmetricHalf}) {
      for (int64_t gs : {32, 64, 128, 256, 0}) {
        for (int64_t cols : {32, 96, 224, 480, 1568}) {
          const WeightCase wc{Encoding::kQuantized, bits, grid, gs};
          SCOPED_TRACE(wc.Name() + " cols " + std::to_string(cols));
          const WeightTensor w = RandomWeight(wc, 6, cols, 11);
          const std::vector<float> x = RandomActivations(cols, 12);
          const double scale = OutputScales(w, x.data(), 1)[0];
          hwy::SetSupportedTargetsForTest(HWY_SCALAR);
          std::vector<float> highway(6), y(6);
          MatMul(w, x.data(), 1, highway.data());
          for (int64_t target : targets) {
            hwy::SetSupportedTargetsForTest(target);
            MatMul(w, x.data(), 1, y.data());
            for (int r = 0; r < 6; ++r) ASSERT_NEAR(y[r], highway[r], 1e-6 * scale) << hwy::TargetName(target) << " row " << r;
          }
          hwy::SetSupportedTargetsForTest(0);
        }
      }
    }
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
