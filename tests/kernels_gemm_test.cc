// MatMulF32 (the GEMM behind prefill, attention scores and Hessians) against a double-precision
// reference: strided operands, shapes that leave partial panels and token blocks, every Highway
// target this CPU runs, and bit-identical results for every thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "kernels_test_weights.h"
#include "llmc/kernels.h"

namespace llmc {
namespace {

using testing::RandomActivations;

struct GemmShape {
  int64_t m, n, k;
};

// |c - c_ref| <= kTolerance * sum_p |a b|: float rounding of one k-long chain.
constexpr double kTolerance = 2e-6;

TEST(MatMulF32Test, MatchesDoubleReferenceWithStridesOnEveryTargetAndThreadCount) {
  // m == 1 (decode attention) takes the unpacked dot-product path, threaded above 2^18 products.
  const GemmShape shapes[] = {{1, 1, 1}, {1, 300, 64}, {1, 2100, 131}, {3, 5, 7}, {9, 33, 64}, {70, 65, 37}, {130, 200, 576}};
  for (const GemmShape& s : shapes) {
    // Leading dimensions larger than the rows: the operands are windows of wider matrices.
    const int64_t lda = s.k + 3, ldb = s.k + 5, ldc = s.n + 2;
    const std::vector<float> a = RandomActivations(s.m * lda, 11);
    const std::vector<float> b = RandomActivations(s.n * ldb, 12);
    std::vector<double> ref(static_cast<size_t>(s.m * s.n)), bound(ref.size());
    for (int64_t i = 0; i < s.m; ++i) {
      for (int64_t j = 0; j < s.n; ++j) {
        double acc = 0, abs = 0;
        for (int64_t p = 0; p < s.k; ++p) {
          const double v = static_cast<double>(a[i * lda + p]) * b[j * ldb + p];
          acc += v;
          abs += std::fabs(v);
        }
        ref[i * s.n + j] = acc;
        bound[i * s.n + j] = kTolerance * abs + 1e-30;
      }
    }
    for (int64_t target : {int64_t{HWY_AVX3}, int64_t{HWY_AVX2}, int64_t{HWY_SCALAR}}) {
      if ((hwy::SupportedTargets() & target) == 0) continue;
      hwy::SetSupportedTargetsForTest(target);
      std::vector<float> first;
      for (int threads : {1, 2, 3}) {
        SCOPED_TRACE(std::string(hwy::TargetName(target)) + " " + std::to_string(s.m) + "x" + std::to_string(s.n) +
                     "x" + std::to_string(s.k) + " threads " + std::to_string(threads));
        SetNumThreads(threads);
        std::vector<float> c(static_cast<size_t>(s.m * ldc), -7.0f);
        MatMulF32(a.data(), lda, b.data(), ldb, c.data(), ldc, s.m, s.n, s.k);
        for (int64_t i = 0; i < s.m; ++i) {
          for (int64_t j = 0; j < s.n; ++j) {
            ASSERT_NEAR(c[i * ldc + j], ref[i * s.n + j], bound[i * s.n + j]) << "c[" << i << "][" << j << "]";
          }
          for (int64_t j = s.n; j < ldc; ++j) ASSERT_EQ(c[i * ldc + j], -7.0f) << "wrote past row " << i;
        }
        if (first.empty()) {
          first = c;
        } else {
          ASSERT_EQ(0, std::memcmp(first.data(), c.data(), c.size() * sizeof(float)));
        }
      }
      hwy::SetSupportedTargetsForTest(0);
    }
  }
  SetNumThreads(0);
}

TEST(MatMulF32Test, EmptyProductsWriteNothing) {
  const std::vector<float> a(8, 1.0f), b(8, 1.0f);
  std::vector<float> c(4, 5.0f);
  MatMulF32(a.data(), 2, b.data(), 2, c.data(), 2, 0, 2, 2);
  MatMulF32(a.data(), 2, b.data(), 2, c.data(), 2, 2, 0, 2);
  EXPECT_EQ(std::vector<float>(4, 5.0f), c);
  // k == 0: every output is the empty sum.
  MatMulF32(a.data(), 2, b.data(), 2, c.data(), 2, 2, 2, 0);
  EXPECT_EQ(std::vector<float>(4, 0.0f), c);
}

}  // namespace
}  // namespace llmc
