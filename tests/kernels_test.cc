// Table-driven checks of the SIMD kernels against the scalar reference: every encoding, bit width,
// grid and group size, over awkward shapes, token counts and thread counts, on every instruction set
// this CPU can run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
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

// Float-activation path: |y - y_ref| <= kFloatTolerance * output scale of the token.
constexpr double kFloatTolerance = 1e-5;
constexpr int64_t kMaxTokens = 33;
const int64_t kTokenCounts[] = {1, 2, 7, 33};
const int kThreadCounts[] = {1, 2, 3};

std::vector<WeightCase> AllCases() {
  std::vector<WeightCase> cases = {{Encoding::kF32}, {Encoding::kF16}, {Encoding::kBF16}};
  for (int bits : {2, 3, 4, 8}) {
    for (QuantGrid grid : {QuantGrid::kSigned, QuantGrid::kAsymmetric, QuantGrid::kSymmetricHalf}) {
      // 36: group starts that are not byte-aligned for 2- and 3-bit codes.
      for (int64_t gs : {32, 64, 128, 0, 36}) cases.push_back({Encoding::kQuantized, bits, grid, gs});
    }
  }
  return cases;
}

struct Shape {
  int64_t rows, cols;
};
const Shape kShapes[] = {{1, 1}, {5, 7}, {13, 172}, {64, 576}, {96, 1536}, {3, 2050}};

// The Highway targets this CPU supports, each forced in turn (the dispatcher re-picks on change).
std::vector<int64_t> SupportedTargets() {
  std::vector<int64_t> targets;
  for (int64_t t : {int64_t{HWY_AVX3}, int64_t{HWY_AVX2}, int64_t{HWY_SCALAR}}) {
    if ((hwy::SupportedTargets() & t) != 0) targets.push_back(t);
  }
  return targets;
}

class ForcedTarget {
 public:
  explicit ForcedTarget(int64_t target) { hwy::SetSupportedTargetsForTest(target); }
  ~ForcedTarget() { hwy::SetSupportedTargetsForTest(0); }
};

class ThreadCount {
 public:
  explicit ThreadCount(int n) : old_(NumThreads()) { SetNumThreads(n); }
  ~ThreadCount() { SetNumThreads(old_); }

 private:
  int old_;
};

// The int8-activation decode path is the default; these tests pin the float path, whose error is
// float rounding only (kernels_int8_test.cc bounds the int8 path by its activation rounding).
class FloatActivations {
 public:
  FloatActivations() : old_(ActivationInt8()) { SetActivationInt8(false); }
  ~FloatActivations() { SetActivationInt8(old_); }

 private:
  bool old_;
};

class MatMulTest : public ::testing::TestWithParam<std::tuple<WeightCase, Shape>> {};

TEST_P(MatMulTest, MatchesReferenceOnEveryTargetAndIsIdenticalForEveryThreadCount) {
  FloatActivations float_activations;
  const auto& [wc, shape] = GetParam();
  const WeightTensor w = RandomWeight(wc, shape.rows, shape.cols, 1234);
  ASSERT_TRUE(w.Validate().ok()) << w.Validate().ToString();
  const std::vector<float> x = RandomActivations(kMaxTokens * shape.cols, 99);
  std::vector<float> ref(static_cast<size_t>(kMaxTokens * shape.rows));
  MatMulReference(w, x.data(), kMaxTokens, ref.data());
  const std::vector<double> scales = OutputScales(w, x.data(), kMaxTokens);

  for (int64_t target : SupportedTargets()) {
    ForcedTarget forced(target);
    for (int64_t n : kTokenCounts) {
      SCOPED_TRACE(std::string(hwy::TargetName(target)) + " n_tokens=" + std::to_string(n));
      std::vector<float> first;
      for (int threads : kThreadCounts) {
        ThreadCount tc(threads);
        std::vector<float> y(static_cast<size_t>(n * shape.rows), std::nanf(""));
        MatMul(w, x.data(), n, y.data());
        for (int64_t t = 0; t < n; ++t) {
          for (int64_t r = 0; r < shape.rows; ++r) {
            const size_t i = static_cast<size_t>(t * shape.rows + r);
            ASSERT_NEAR(y[i], ref[i], kFloatTolerance * scales[t] + 1e-30) << "token " << t << " row " << r;
          }
        }
        if (first.empty()) {
          first = y;
        } else {
          ASSERT_EQ(0, std::memcmp(first.data(), y.data(), y.size() * sizeof(float))) << threads << " threads";
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, MatMulTest, ::testing::Combine(::testing::ValuesIn(AllCases()),
                                                                 ::testing::ValuesIn(kShapes)),
                         [](const auto& info) {
                           const Shape& s = std::get<1>(info.param);
                           return std::get<0>(info.param).Name() + "_" + std::to_string(s.rows) + "x" +
                                  std::to_string(s.cols);
                         });

TEST(KernelsGetRowTest, EqualsTheReferenceDequantizationExactly) {
  for (const WeightCase& wc : AllCases()) {
    SCOPED_TRACE(wc.Name());
    const WeightTensor w = RandomWeight(wc, 7, 172, 5);
    std::vector<float> got(172), want(172);
    for (int64_t target : SupportedTargets()) {
      ForcedTarget forced(target);
      for (int64_t r = 0; r < w.rows(); ++r) {
        GetRow(w, r, got.data());
        DequantizeRow(w, r, want.data());
        ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float))) << hwy::TargetName(target);
      }
    }
  }
}

TEST(KernelsTargetTest, NamesTheDispatchedInstructionSet) {
  const std::string best = hwy::TargetName(SupportedTargets().front());
  EXPECT_EQ(best, KernelTarget());
  ForcedTarget forced(HWY_SCALAR);
  EXPECT_STREQ("SCALAR", KernelTarget());
}

TEST(KernelsThreadsTest, ZeroMeansEveryHardwareThread) {
  ThreadCount tc(3);
  EXPECT_EQ(3, NumThreads());
  SetNumThreads(0);
  EXPECT_GE(NumThreads(), 1);
}

TEST(KernelsEdgeTest, EmptyShapesAndZeroTokensWriteNothing) {
  const WeightCase int4{Encoding::kQuantized, 4, QuantGrid::kSigned, 32};
  const WeightTensor no_rows = RandomWeight(int4, 0, 64, 1);
  const std::vector<float> x = RandomActivations(64 * 2, 2);
  std::vector<float> y(4, 7.0f);
  MatMul(no_rows, x.data(), 2, y.data());
  const WeightTensor w = RandomWeight(int4, 4, 64, 3);
  MatMul(w, x.data(), 0, y.data());
  EXPECT_EQ(std::vector<float>(4, 7.0f), y);
}

}  // namespace
}  // namespace llmc
