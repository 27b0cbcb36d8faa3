// SwiGlu, FloatsToHalves, MaskedSoftmax, PartialSoftmax, WeightedRowSum and DotRows (float and half rows), LogSumExp and ArgMax (the
// element kernels of the MLP, attention, the sensitivity KL and greedy decoding) against
// double-precision references, on every Highway target this CPU runs, for lengths that leave a
// partial vector, with extreme gates, masked ends and strided rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "kernels_test_weights.h"
#include "llmc/dtype.h"
#include "llmc/kernels.h"

namespace llmc {
namespace {

using testing::RandomActivations;

std::vector<int64_t> TestedTargets() {
  std::vector<int64_t> out;
  for (int64_t target : {int64_t{HWY_AVX3}, int64_t{HWY_AVX2}, int64_t{HWY_SCALAR}}) {
    if ((hwy::SupportedTargets() & target) != 0) out.push_back(target);
  }
  return out;
}

TEST(SwiGluTest, MatchesDoubleReferenceOnEveryTarget) {
  for (int64_t n : {1, 7, 16, 33, 1536}) {
    std::vector<float> gate = RandomActivations(n, 3), up = RandomActivations(n, 4);
    for (float& g : gate) g *= 4.0f;
    gate[0] = -200.0f;  // far below exp's range: sigmoid 0, never inf/inf
    if (n > 1) gate[1] = 200.0f;
    for (int64_t target : TestedTargets()) {
      SCOPED_TRACE(std::string(hwy::TargetName(target)) + " n " + std::to_string(n));
      hwy::SetSupportedTargetsForTest(target);
      std::vector<float> out = gate;
      SwiGlu(out.data(), up.data(), n);
      hwy::SetSupportedTargetsForTest(0);
      for (int64_t i = 0; i < n; ++i) {
        const double g = gate[i];
        const double ref = g / (1.0 + std::exp(-g)) * up[i];
        ASSERT_TRUE(std::isfinite(out[i])) << i;
        ASSERT_NEAR(out[i], ref, 4e-7 * std::fabs(ref) + 1e-30) << "gate " << g << " at " << i;
      }
    }
  }
}

TEST(SwiGluTest, NanGatePropagates) {
  std::vector<float> gate = {1.0f, std::numeric_limits<float>::quiet_NaN(), -1.0f};
  const std::vector<float> up = {1.0f, 1.0f, 1.0f};
  SwiGlu(gate.data(), up.data(), 3);
  EXPECT_TRUE(std::isnan(gate[1]));
  EXPECT_TRUE(std::isfinite(gate[0]) && std::isfinite(gate[2]));
}

TEST(MaskedSoftmaxTest, MatchesDoubleReferenceAndZeroesTheMaskedEnds) {
  struct Case {
    int64_t first, last, width;
  };
  for (const Case c : {Case{0, 0, 1}, Case{0, 4, 5}, Case{3, 40, 50}, Case{0, 511, 512}, Case{17, 17, 20}}) {
    std::vector<float> scores = RandomActivations(c.width, 5);
    for (float& s : scores) s *= 30.0f;  // scaled by 0.125 below: a wide spread of probabilities
    const float scale = 0.125f;
    double max = -std::numeric_limits<double>::infinity(), total = 0;
    for (int64_t j = c.first; j <= c.last; ++j) max = std::max(max, static_cast<double>(scores[j]) * scale);
    std::vector<double> ref(static_cast<size_t>(c.width), 0.0);
    for (int64_t j = c.first; j <= c.last; ++j) total += ref[j] = std::exp(static_cast<double>(scores[j]) * scale - max);
    for (double& r : ref) r /= total;
    for (int64_t target : TestedTargets()) {
      SCOPED_TRACE(std::string(hwy::TargetName(target)) + " [" + std::to_string(c.first) + ", " +
                   std::to_string(c.last) + "] of " + std::to_string(c.width));
      hwy::SetSupportedTargetsForTest(target);
      std::vector<float> row = scores;
      MaskedSoftmax(row.data(), c.first, c.last, c.width, scale);
      hwy::SetSupportedTargetsForTest(0);
      double sum = 0;
      for (int64_t j = 0; j < c.width; ++j) {
        if (j < c.first || j > c.last) {
          ASSERT_EQ(row[j], 0.0f) << "masked entry " << j;
        } else {
          ASSERT_NEAR(row[j], ref[j], 2e-6 * ref[j] + 1e-12) << j;
        }
        sum += row[j];
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
  }
}

TEST(FloatsToHalvesTest, EqualsFloatToHalfOnEveryTarget) {
  // Every rounding case: ties, subnormals, the largest half and past it, infinities, zeros, NaN.
  std::vector<float> x = RandomActivations(300, 8);
  for (float& v : x) v *= 1000.0f;
  for (float v : {0.0f, -0.0f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 65504.0f, 65520.0f, 1e6f, -1e6f, 6e-8f, 3e-8f,
                  2.9e-8f, 1e-5f, -1e-5f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN()}) {
    x.push_back(v);
  }
  for (uint32_t bits = 0x33000000u; bits < 0x38800000u; bits += 0x1357u) {  // the subnormal range
    float v;
    std::memcpy(&v, &bits, sizeof(v));
    x.push_back(v);
  }
  for (int64_t n : {int64_t{1}, int64_t{17}, static_cast<int64_t>(x.size())}) {
    for (int64_t target : TestedTargets()) {
      SCOPED_TRACE(std::string(hwy::TargetName(target)) + " n " + std::to_string(n));
      hwy::SetSupportedTargetsForTest(target);
      std::vector<uint16_t> halves(static_cast<size_t>(n) + 1, 0xBEEF);
      FloatsToHalves(x.data(), n, halves.data());
      hwy::SetSupportedTargetsForTest(0);
      for (int64_t i = 0; i < n; ++i) {
        if (std::isnan(x[i])) {
          ASSERT_TRUE(std::isnan(HalfToFloat(halves[i]))) << i;
        } else {
          ASSERT_EQ(halves[i], FloatToHalf(x[i])) << i << ": " << x[i];
        }
      }
      EXPECT_EQ(halves[n], 0xBEEF) << "nothing written past n";
    }
  }
}

TEST(PartialSoftmaxTest, GivesTheExpsMaxAndSumAndMergesIntoTheWholeSoftmax) {
  for (const int64_t width : {1, 2, 5, 33, 512}) {
    std::vector<float> scores = RandomActivations(width, 6);
    for (float& s : scores) s *= 30.0f;
    const float scale = 0.125f;
    for (int64_t target : TestedTargets()) {
      SCOPED_TRACE(std::string(hwy::TargetName(target)) + " width " + std::to_string(width));
      hwy::SetSupportedTargetsForTest(target);
      std::vector<float> whole = scores;
      MaskedSoftmax(whole.data(), 0, width - 1, width, scale);
      // The same row in two parts (the first empty when width is 1), as decode attention splits it.
      std::vector<float> parts = scores;
      const int64_t split = width / 2;
      const SoftmaxPart a = PartialSoftmax(parts.data(), split, scale);
      const SoftmaxPart b = PartialSoftmax(parts.data() + split, width - split, scale);
      std::vector<float> alone = scores;
      const SoftmaxPart all = PartialSoftmax(alone.data(), width, scale);
      hwy::SetSupportedTargetsForTest(0);
      if (split == 0) {
        EXPECT_EQ(a.max, -std::numeric_limits<float>::infinity());
        EXPECT_EQ(a.sum, 0.0f);
      }
      // Unsplit, it is MaskedSoftmax before the scaling by 1 / sum, bit for bit.
      for (int64_t j = 0; j < width; ++j) ASSERT_EQ(alone[j] * (1.0f / all.sum), whole[j]) << j;
      const float m = std::max(a.max, b.max);
      const float wa = split == 0 ? 0.0f : std::exp(a.max - m), wb = std::exp(b.max - m);
      const float total = wa * a.sum + wb * b.sum;
      for (int64_t j = 0; j < width; ++j) {
        const float merged = (j < split ? wa : wb) * parts[j] / total;
        ASSERT_NEAR(merged, whole[j], 4e-6 * whole[j] + 1e-12) << j;
        if (j < split) {
          ASSERT_LE(scores[j] * scale, a.max);
        }
        ASSERT_LE(parts[j], 1.0f) << "every exp is at most e^0";
      }
    }
  }
}

TEST(WeightedRowSumTest, MatchesDoubleReferenceWithStridedRows) {
  struct Case {
    int64_t n, cols, ld;
  };
  for (const Case c : {Case{1, 1, 1}, Case{5, 64, 192}, Case{33, 70, 75}, Case{300, 128, 128}, Case{9, 96, 100}}) {
    const std::vector<float> weights = RandomActivations(c.n, 6);
    const std::vector<float> rows = RandomActivations(c.n * c.ld, 7);
    for (int64_t target : TestedTargets()) {
      SCOPED_TRACE(std::string(hwy::TargetName(target)) + " n " + std::to_string(c.n) + " cols " +
                   std::to_string(c.cols));
      hwy::SetSupportedTargetsForTest(target);
      std::vector<float> out(static_cast<size_t>(c.cols + 3), -7.0f);
      WeightedRowSum(weights.data(), c.n, 1, rows.data(), c.ld, c.n, c.cols, out.data(), c.cols);
      hwy::SetSupportedTargetsForTest(0);
      for (int64_t col = 0; col < c.cols; ++col) {
        double ref = 0, abs = 0;
        for (int64_t j = 0; j < c.n; ++j) {
          ref += static_cast<double>(weights[j]) * rows[j * c.ld + col];
          abs += std::fabs(static_cast<double>(weights[j]) * rows[j * c.ld + col]);
        }
        ASSERT_NEAR(out[col], ref, 2e-6 * abs + 1e-30) << col;
      }
      for (int64_t col = c.cols; col < c.cols + 3; ++col) ASSERT_EQ(out[col], -7.0f) << "wrote past " << c.cols;
    }
  }
}

// Rows of halves (a half-precision KV cache) and, as floats, the same values widened.
struct HalfRows {
  std::vector<uint16_t> half;
  std::vector<float> widened;
};
HalfRows RandomHalfRows(int64_t n, uint32_t seed) {
  HalfRows r;
  for (float v : RandomActivations(n, seed)) {
    r.half.push_back(FloatToHalf(v));
    r.widened.push_back(HalfToFloat(r.half.back()));
  }
  return r;
}

// Several queries over the same rows (the query heads of one key-value head) give each query exactly
// what it gives alone, on every target, for group sizes across the kernels' groups of queries, with
// strided queries' outputs untouched between them.
TEST(HalfRowKernelsTest, QueryHeadsTogetherGiveWhatEachGivesAlone) {
  struct Case {
    int64_t n, cols, ld;
  };
  for (const Case c : {Case{1, 1, 1}, Case{7, 64, 192}, Case{9, 70, 75}, Case{33, 13, 13}, Case{6, 96, 96}}) {
    const HalfRows rows = RandomHalfRows(c.n * c.ld, 21);
    for (int64_t queries : {1, 2, 3, 4, 5, 7}) {
      const int64_t ldw = c.n + 3, ldo = c.cols + 2;  // strides past each query's entries
      const std::vector<float> weights = RandomActivations(queries * ldw, 22);
      const std::vector<float> x = RandomActivations(queries * c.cols, 23);
      for (int64_t target : TestedTargets()) {
        SCOPED_TRACE(std::string(hwy::TargetName(target)) + " n " + std::to_string(c.n) + " cols " +
                     std::to_string(c.cols) + " queries " + std::to_string(queries));
        hwy::SetSupportedTargetsForTest(target);
        std::vector<float> sums(static_cast<size_t>(queries * ldo), -7.0f), dots(static_cast<size_t>(queries * ldw), -7.0f);
        std::vector<float> sums_f32(sums.size(), -7.0f), dots_f32(dots.size(), -7.0f);
        WeightedRowSum(weights.data(), ldw, queries, rows.half.data(), c.ld, c.n, c.cols, sums.data(), ldo);
        DotRows(x.data(), queries, rows.half.data(), c.ld, c.n, c.cols, dots.data(), ldw);
        WeightedRowSum(weights.data(), ldw, queries, rows.widened.data(), c.ld, c.n, c.cols, sums_f32.data(), ldo);
        DotRows(x.data(), queries, rows.widened.data(), c.ld, c.n, c.cols, dots_f32.data(), ldw);
        for (int64_t q = 0; q < queries; ++q) {
          std::vector<float> sum_alone(static_cast<size_t>(c.cols)), dots_alone(static_cast<size_t>(c.n));
          WeightedRowSum(weights.data() + q * ldw, ldw, 1, rows.half.data(), c.ld, c.n, c.cols, sum_alone.data(), c.cols);
          DotRows(x.data() + q * c.cols, 1, rows.half.data(), c.ld, c.n, c.cols, dots_alone.data(), c.n);
          for (int64_t col = 0; col < ldo; ++col) {
            const float expected = col < c.cols ? sum_alone[col] : -7.0f;
            ASSERT_EQ(sums[q * ldo + col], expected) << "query " << q << " column " << col;
            ASSERT_EQ(sums_f32[q * ldo + col], expected) << "query " << q << " column " << col;
          }
          for (int64_t j = 0; j < ldw; ++j) {
            const float expected = j < c.n ? dots_alone[j] : -7.0f;
            ASSERT_EQ(dots[q * ldw + j], expected) << "query " << q << " row " << j;
            ASSERT_EQ(dots_f32[q * ldw + j], expected) << "query " << q << " row " << j;
          }
        }
        hwy::SetSupportedTargetsForTest(0);
      }
    }
  }
}

// Half rows give exactly what the float kernels give on the widened rows (widening is exact and the
// summation order is the same), on every target, for row counts and widths with partial vectors.
TEST(HalfRowKernelsTest, EqualTheFloatKernelsOnTheWidenedRows) {
  struct Case {
    int64_t n, cols, ld;
  };
  for (const Case c : {Case{1, 1, 1}, Case{3, 64, 192}, Case{7, 70, 75}, Case{300, 64, 64}, Case{9, 13, 13}}) {
    const std::vector<float> weights = RandomActivations(c.n, 12);
    const std::vector<float> x = RandomActivations(c.cols, 13);
    const HalfRows rows = RandomHalfRows(c.n * c.ld, 14);
    for (int64_t target : TestedTargets()) {
      SCOPED_TRACE(std::string(hwy::TargetName(target)) + " n " + std::to_string(c.n) + " cols " +
                   std::to_string(c.cols));
      hwy::SetSupportedTargetsForTest(target);
      std::vector<float> sum_half(static_cast<size_t>(c.cols)), sum_float(sum_half.size());
      WeightedRowSum(weights.data(), c.n, 1, rows.half.data(), c.ld, c.n, c.cols, sum_half.data(), c.cols);
      WeightedRowSum(weights.data(), c.n, 1, rows.widened.data(), c.ld, c.n, c.cols, sum_float.data(), c.cols);
      std::vector<float> dots_half(static_cast<size_t>(c.n + 2), -7.0f), dots_float(static_cast<size_t>(c.n));
      DotRows(x.data(), 1, rows.half.data(), c.ld, c.n, c.cols, dots_half.data(), c.n);
      MatMulF32(x.data(), c.cols, rows.widened.data(), c.ld, dots_float.data(), c.n, 1, c.n, c.cols);
      hwy::SetSupportedTargetsForTest(0);
      for (int64_t col = 0; col < c.cols; ++col) ASSERT_EQ(sum_half[col], sum_float[col]) << "column " << col;
      for (int64_t j = 0; j < c.n; ++j) {
        double ref = 0, abs = 0;
        for (int64_t p = 0; p < c.cols; ++p) {
          ref += static_cast<double>(x[p]) * rows.widened[j * c.ld + p];
          abs += std::fabs(static_cast<double>(x[p]) * rows.widened[j * c.ld + p]);
        }
        ASSERT_EQ(dots_half[j], dots_float[j]) << "row " << j;
        ASSERT_NEAR(dots_half[j], ref, 2e-6 * abs + 1e-30) << "row " << j;
      }
      for (int64_t j = c.n; j < c.n + 2; ++j) ASSERT_EQ(dots_half[j], -7.0f) << "wrote past " << c.n;
    }
  }
}

TEST(LogSumExpTest, MatchesDoubleReferenceOnEveryTarget) {
  for (int64_t n : {1, 5, 17, 49152}) {
    std::vector<float> x = RandomActivations(n, 8);
    for (float& v : x) v *= 8.0f;  // logits: a spread of several nats
    x[n / 2] = 90.0f;  // e^90 overflows float: the max must come out first
    double max = -std::numeric_limits<double>::infinity(), total = 0;
    for (float v : x) max = std::max(max, static_cast<double>(v));
    for (float v : x) total += std::exp(static_cast<double>(v) - max);
    const double ref = max + std::log(total);
    for (int64_t target : TestedTargets()) {
      SCOPED_TRACE(std::string(hwy::TargetName(target)) + " n " + std::to_string(n));
      hwy::SetSupportedTargetsForTest(target);
      const double got = LogSumExp(x.data(), n);
      hwy::SetSupportedTargetsForTest(0);
      EXPECT_NEAR(got, ref, 1e-6 * std::fabs(ref));
    }
  }
}

// The first largest value's position, as std::max_element finds it, for lengths with a partial
// vector, ties (the first wins), a maximum in the tail, -inf everywhere, and NaN (ignored).
TEST(ArgMaxTest, FindsTheFirstLargestOnEveryTarget) {
  const float kNan = std::numeric_limits<float>::quiet_NaN();
  const float kInf = std::numeric_limits<float>::infinity();
  std::vector<std::vector<float>> cases;
  for (int64_t n : {1, 5, 16, 17, 49152 + 3}) cases.push_back(RandomActivations(n, 9));
  std::vector<float> ties = RandomActivations(100, 10);
  ties[40] = ties[70] = 50.0f;
  cases.push_back(ties);
  std::vector<float> tail = RandomActivations(35, 11);
  tail[34] = 9.0f;
  cases.push_back(tail);
  cases.push_back(std::vector<float>(20, -kInf));
  std::vector<float> with_nan = RandomActivations(40, 12);
  with_nan[3] = kNan;
  with_nan[30] = kNan;
  cases.push_back(with_nan);
  for (const std::vector<float>& x : cases) {
    const auto n = static_cast<int64_t>(x.size());
    std::vector<float> comparable = x;  // NaN as -inf: what max_element does past position 0
    std::replace_if(comparable.begin(), comparable.end(), [](float v) { return std::isnan(v); }, -kInf);
    const int64_t want = std::max_element(comparable.begin(), comparable.end()) - comparable.begin();
    for (int64_t target : TestedTargets()) {
      SCOPED_TRACE(std::string(hwy::TargetName(target)) + " n " + std::to_string(n));
      hwy::SetSupportedTargetsForTest(target);
      EXPECT_EQ(want, ArgMax(x.data(), n));
      hwy::SetSupportedTargetsForTest(0);
    }
  }
  EXPECT_EQ(0, ArgMax(std::vector<float>(9, kNan).data(), 9));
  EXPECT_EQ(-1, ArgMax(nullptr, 0));
}

}  // namespace
}  // namespace llmc
