// GPTQ on one weight matrix: lower output error than RTN on correlated inputs for every bit width,
// grid and group size; dead columns, extra damping, act-order validity, option errors; the prepared
// Hessian (its factor against the textbook construction, sharing it across weights).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "llmc/quant.h"
#include "quant/gptq.h"
#include "quant/packing.h"

namespace llmc {
namespace {

// Calibration inputs with a strong low-rank structure (what real activations look like): tokens are
// mixtures of `rank` directions plus a little noise, and a few columns carry much larger values.
std::vector<float> CorrelatedInputs(int64_t tokens, int64_t cols, int rank, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> basis(static_cast<size_t>(rank * cols));
  for (auto& v : basis) v = normal(rng);
  std::vector<float> x(static_cast<size_t>(tokens * cols));
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<float> z(static_cast<size_t>(rank));
    for (auto& v : z) v = normal(rng);
    for (int64_t c = 0; c < cols; ++c) {
      float v = 0.05f * normal(rng);
      for (int k = 0; k < rank; ++k) v += z[k] * basis[k * cols + c];
      x[t * cols + c] = (c % 17 == 3 ? 4.0f : 1.0f) * v;
    }
  }
  return x;
}

WeightTensor RandomWeight(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& v : w) v = normal(rng);
  return MakeF32Tensor("layer.weight", {rows, cols}, std::move(w));
}

std::vector<double> HessianOf(const std::vector<float>& x, int64_t cols) {
  HessianAccumulator acc(cols);
  acc.Add(x.data(), static_cast<int64_t>(x.size()) / cols);
  return acc.Hessian();
}

// ‖XWᵀ − XŴᵀ‖² summed over tokens and outputs.
double OutputError(const std::vector<float>& x, const WeightTensor& w, const WeightTensor& q) {
  const int64_t cols = w.cols();
  const std::vector<float> a = DequantizeToFloat(w);
  const std::vector<float> b = DequantizeToFloat(q);
  std::vector<double> delta(a.size());
  for (size_t i = 0; i < a.size(); ++i) delta[i] = static_cast<double>(a[i]) - b[i];
  double err = 0;
  const int64_t tokens = static_cast<int64_t>(x.size()) / cols;
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t r = 0; r < w.rows(); ++r) {
      double y = 0;
      for (int64_t c = 0; c < cols; ++c) y += x[t * cols + c] * delta[r * cols + c];
      err += y * y;
    }
  }
  return err;
}

// Every dequantized value is scale·(code − zero) for an in-range integer code of its group.
void ExpectOnGrid(const WeightTensor& q) {
  ASSERT_TRUE(q.Validate().ok()) << q.Validate().ToString();
  const std::vector<float> deq = DequantizeToFloat(q);
  const int64_t groups = q.groups_per_row();
  const float code_max = static_cast<float>((1 << q.quant.bits) - 1);
  for (int64_t r = 0; r < q.rows(); ++r) {
    for (int64_t c = 0; c < q.cols(); ++c) {
      const int64_t g = r * groups + c / q.quant.group_size;
      const float s = HalfToFloat(q.scales.as<uint16_t>()[g]);
      const float z = q.quant.grid == QuantGrid::kAsymmetric ? q.zero_points.data()[g] : GridZero(q.quant.grid, q.quant.bits);
      if (s == 0) continue;
      const float code = deq[r * q.cols() + c] / s + z;
      EXPECT_NEAR(code, std::nearbyint(code), 1e-3) << "row " << r << " col " << c;
      EXPECT_GE(std::nearbyint(code), 0.0f);
      EXPECT_LE(std::nearbyint(code), code_max);
    }
  }
}

struct Case {
  int bits;
  QuantGrid grid;
  int64_t group;
  int64_t cols;
  bool act_order;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return fmt::format("int{}_{}_g{}_c{}{}", c.bits, QuantGridName(c.grid), c.group, c.cols, c.act_order ? "_act" : "");
}

class GptqVersusRtn : public ::testing::TestWithParam<Case> {};

TEST_P(GptqVersusRtn, LowerOutputErrorThanRtn) {
  const Case& c = GetParam();
  const int64_t rows = 24;
  const std::vector<float> x = CorrelatedInputs(768, c.cols, 6, 7);
  const WeightTensor w = RandomWeight(rows, c.cols, 11);
  const QuantSpec spec{c.bits, c.group, c.grid};

  GptqOptions opts;
  opts.spec = spec;
  opts.act_order = c.act_order;
  auto gptq = QuantizeGptq(w, HessianOf(x, c.cols), opts);
  ASSERT_TRUE(gptq.ok()) << gptq.status().ToString();
  auto rtn = QuantizeRtn(w, spec);
  ASSERT_TRUE(rtn.ok()) << rtn.status().ToString();

  ExpectOnGrid(gptq->tensor);
  const double e_gptq = OutputError(x, w, gptq->tensor);
  const double e_rtn = OutputError(x, w, *rtn);
  EXPECT_LT(e_gptq, 0.7 * e_rtn) << "GPTQ " << e_gptq << " vs RTN " << e_rtn;
  // The reported output error is the same quantity, relative to ‖XWᵀ‖².
  const double ref = OutputError(x, w, MakeF32Tensor("zero", {rows, c.cols}, std::vector<float>(rows * c.cols, 0.0f)));
  EXPECT_NEAR(gptq->stats.output_rel_error, e_gptq / ref, 1e-2 * e_gptq / ref + 1e-6);
  EXPECT_GT(gptq->stats.weight_rel_error, 0.0);
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (int bits : {2, 3, 4}) {
    for (QuantGrid grid : {QuantGrid::kSigned, QuantGrid::kAsymmetric, QuantGrid::kSymmetricHalf}) {
      for (int64_t group : {32, 128}) {
        for (int64_t cols : {172, 256}) cases.push_back({bits, grid, group, cols, false});
        cases.push_back({bits, grid, group, 172, true});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Grids, GptqVersusRtn, ::testing::ValuesIn(AllCases()), CaseName);

TEST(GptqQuantize, DynamicGroupsAlsoBeatRtn) {
  const std::vector<float> x = CorrelatedInputs(768, 172, 6, 3);
  const WeightTensor w = RandomWeight(16, 172, 5);
  GptqOptions opts;
  opts.spec = {2, 32, QuantGrid::kAsymmetric};
  opts.static_groups = false;
  opts.block_size = 100;  // rounded down to whole groups (96)
  auto gptq = QuantizeGptq(w, HessianOf(x, 172), opts);
  ASSERT_TRUE(gptq.ok()) << gptq.status().ToString();
  ExpectOnGrid(gptq->tensor);
  auto rtn = QuantizeRtn(w, opts.spec);
  ASSERT_TRUE(rtn.ok());
  EXPECT_LT(OutputError(x, w, gptq->tensor), 0.7 * OutputError(x, w, *rtn));
}

TEST(GptqQuantize, DeadColumnIsZeroed) {
  const int64_t cols = 64;
  std::vector<float> x = CorrelatedInputs(256, cols, 4, 9);
  for (int64_t t = 0; t < 256; ++t) x[t * cols + 5] = 0.0f;
  const WeightTensor w = RandomWeight(8, cols, 2);
  GptqOptions opts;
  opts.spec = {4, 32, QuantGrid::kSigned};
  auto gptq = QuantizeGptq(w, HessianOf(x, cols), opts);
  ASSERT_TRUE(gptq.ok()) << gptq.status().ToString();
  EXPECT_EQ(gptq->stats.dead_columns, 1);
  const std::vector<float> deq = DequantizeToFloat(gptq->tensor);
  for (int64_t r = 0; r < 8; ++r) EXPECT_EQ(deq[r * cols + 5], 0.0f);
  EXPECT_LT(gptq->stats.output_rel_error, 0.05);
}

TEST(GptqQuantize, IndefiniteHessianGetsMoreDamping) {
  const int64_t cols = 48;
  std::vector<double> h = HessianOf(CorrelatedInputs(256, cols, 3, 4), cols);
  double mean_diag = 0;
  for (int64_t i = 0; i < cols; ++i) mean_diag += h[i * cols + i] / cols;
  for (int64_t i = 0; i < cols; ++i) h[i * cols + i] -= 0.05 * mean_diag;  // eigenvalues down to -0.05·mean
  GptqOptions opts;
  opts.spec = {2, 16, QuantGrid::kSymmetricHalf};
  auto gptq = QuantizeGptq(RandomWeight(4, cols, 1), h, opts);
  ASSERT_TRUE(gptq.ok()) << gptq.status().ToString();
  EXPECT_NEAR(gptq->stats.damp, 0.1, 1e-12);  // 0.01 fails, 0.1 · mean(diag) suffices
  ExpectOnGrid(gptq->tensor);
}

TEST(GptqQuantize, HopelessHessianIsAnError) {
  const int64_t cols = 8;
  std::vector<double> h(cols * cols, 0.0);
  for (int64_t i = 0; i < cols; ++i) h[i * cols + i] = -1.0;
  GptqOptions opts;
  opts.spec = {2, 8, QuantGrid::kSigned};
  auto gptq = QuantizeGptq(RandomWeight(2, cols, 1), h, opts);
  ASSERT_FALSE(gptq.ok());
  EXPECT_NE(gptq.status().message().find("layer.weight"), std::string::npos);
  EXPECT_NE(gptq.status().message().find("not positive definite"), std::string::npos);
}

TEST(GptqQuantize, RejectsBadOptions) {
  const WeightTensor w = RandomWeight(2, 8, 1);
  std::vector<double> h(64, 0.0);
  for (int i = 0; i < 8; ++i) h[i * 8 + i] = 1.0;
  GptqOptions opts;
  opts.spec = {8, 8, QuantGrid::kSigned};
  EXPECT_EQ(QuantizeGptq(w, h, opts).status().code(), StatusCode::kInvalidArgument);
  opts.spec = {2, 8, QuantGrid::kSigned};
  opts.act_order = true;
  opts.static_groups = false;
  auto no_static = QuantizeGptq(w, h, opts);
  ASSERT_FALSE(no_static.ok());
  EXPECT_NE(no_static.status().message().find("static_groups"), std::string::npos);
  opts.act_order = false;
  auto bad_h = QuantizeGptq(w, std::vector<double>(63, 0.0), opts);
  ASSERT_FALSE(bad_h.ok());
  EXPECT_NE(bad_h.status().message().find("Hessian of 63 values"), std::string::npos);
  opts.damp = 0;
  EXPECT_FALSE(QuantizeGptq(w, h, opts).ok());
}

TEST(GptqQuantize, ActivationAwareScalesStayOnGrid) {
  const std::vector<float> x = CorrelatedInputs(512, 128, 4, 21);
  const WeightTensor w = RandomWeight(16, 128, 22);
  GptqOptions opts;
  opts.spec = {2, 64, QuantGrid::kSigned};
  opts.activation_aware = true;
  opts.act_order = true;
  auto gptq = QuantizeGptq(w, HessianOf(x, 128), opts);
  ASSERT_TRUE(gptq.ok()) << gptq.status().ToString();
  ExpectOnGrid(gptq->tensor);
  auto rtn = QuantizeRtn(w, opts.spec);
  ASSERT_TRUE(rtn.ok());
  EXPECT_LT(OutputError(x, w, gptq->tensor), OutputError(x, w, *rtn));
}

TEST(GptqHessian, AccumulatesInChunksAndGivesImportance) {
  const int64_t cols = 5;
  const std::vector<float> x = CorrelatedInputs(40, cols, 2, 8);
  HessianAccumulator whole(cols), parts(cols);
  whole.Add(x.data(), 40);
  parts.Add(x.data(), 15);
  parts.Add(x.data() + 15 * cols, 25);
  EXPECT_EQ(parts.tokens(), 40);
  const std::vector<double> a = whole.Hessian(), b = parts.Hessian();
  const std::vector<float> imp = parts.Importance();
  for (int64_t i = 0; i < cols; ++i) {
    double mean_sq = 0, hij = 0;
    for (int64_t t = 0; t < 40; ++t) {
      mean_sq += static_cast<double>(x[t * cols + i]) * x[t * cols + i] / 40;
      hij += 2.0 * x[t * cols + i] * x[t * cols + (i + 1) % cols] / 40;
    }
    EXPECT_NEAR(imp[i], mean_sq, 1e-4 * mean_sq);
    EXPECT_NEAR(b[i * cols + i], 2 * mean_sq, 1e-4 * mean_sq);
    EXPECT_NEAR(b[i * cols + (i + 1) % cols], hij, 1e-4 * std::abs(hij) + 1e-6);
    for (int64_t j = 0; j < cols; ++j) EXPECT_NEAR(a[i * cols + j], b[i * cols + j], 1e-5 * std::abs(a[i * cols + j]) + 1e-9);
  }
}

// XᵀX is computed by blocks of 128 rows of its lower triangle: every entry of a 300-column Hessian
// (three blocks, the last one short) against a double sum over the tokens.
TEST(GptqHessian, BlockedProductMatchesDirectSums) {
  const int64_t cols = 300, tokens = 70;
  const std::vector<float> x = CorrelatedInputs(tokens, cols, 5, 61);
  const std::vector<double> h = HessianOf(x, cols);
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      double direct = 0, scale = 0;
      for (int64_t t = 0; t < tokens; ++t) {
        direct += 2.0 * x[t * cols + i] * x[t * cols + j] / tokens;
        scale += 2.0 * std::abs(x[t * cols + i] * x[t * cols + j]) / tokens;
      }
      ASSERT_NEAR(h[i * cols + j], direct, 1e-5 * scale) << i << "," << j;  // float sums of 70 products
    }
  }
}

// Lower Cholesky factor of the symmetric positive definite a [n][n] (row-major), textbook order.
std::vector<double> CholeskyLower(const std::vector<double>& a, int64_t n) {
  std::vector<double> l(a.size(), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= l[j * n + k] * l[j * n + k];
    l[j * n + j] = std::sqrt(d);
    for (int64_t i = j + 1; i < n; ++i) {
      double v = a[i * n + j];
      for (int64_t k = 0; k < j; ++k) v -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = v / l[j * n + j];
    }
  }
  return l;
}

// U as the reference GPTQ code builds it: A⁻¹ from A's Cholesky factor, then A⁻¹'s upper Cholesky
// factor (UᵀU = A⁻¹), all in double.
std::vector<double> TextbookInverseUpper(const std::vector<double>& a, int64_t n) {
  const std::vector<double> l = CholeskyLower(a, n);
  std::vector<double> l_inv(a.size(), 0.0);  // forward substitution against the identity
  for (int64_t c = 0; c < n; ++c) {
    for (int64_t i = c; i < n; ++i) {
      double v = i == c ? 1.0 : 0.0;
      for (int64_t k = c; k < i; ++k) v -= l[i * n + k] * l_inv[k * n + c];
      l_inv[i * n + c] = v / l[i * n + i];
    }
  }
  std::vector<double> inverse(a.size(), 0.0);  // A⁻¹ = L⁻ᵀ·L⁻¹
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t k = std::max(i, j); k < n; ++k) inverse[i * n + j] += l_inv[k * n + i] * l_inv[k * n + j];
    }
  }
  const std::vector<double> lc = CholeskyLower(inverse, n);
  std::vector<double> u(a.size(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i; j < n; ++j) u[i * n + j] = lc[j * n + i];
  }
  return u;
}

// The damped Hessian GPTQ factors: dead columns get H_ii = 1, columns in processing order, then
// λ·mean(diag) on the diagonal.
std::vector<double> DampedInOrder(const std::vector<double>& h, const GptqHessian& prepared) {
  const int64_t n = prepared.cols();
  const std::vector<int64_t>& perm = prepared.permutation();
  std::vector<double> a(h.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) a[i * n + j] = h[perm[i] * n + perm[j]];
  }
  double mean_diag = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (a[i * n + i] == 0) a[i * n + i] = 1;
    mean_diag += a[i * n + i] / n;
  }
  for (int64_t i = 0; i < n; ++i) a[i * n + i] += prepared.damp() * mean_diag;
  return a;
}

struct FactorCase {
  int64_t cols;
  bool act_order;
  bool dead_column;
};

class GptqHessianFactor : public ::testing::TestWithParam<FactorCase> {};

// One Cholesky of the reversed H with its inverse gives the factor the textbook construction gives
// (in double): UᵀU·A = I and U itself, to float precision. 150 and 301 columns recurse two and three
// levels down to the direct blocks, odd splits included; 40 columns are one direct block.
TEST_P(GptqHessianFactor, MatchesTextbookConstruction) {
  const FactorCase& c = GetParam();
  std::vector<float> x = CorrelatedInputs(4 * c.cols, c.cols, 6, 31);
  if (c.dead_column) {
    for (int64_t t = 0; t < 4 * c.cols; ++t) x[t * c.cols + 7] = 0.0f;
  }
  const std::vector<double> h = HessianOf(x, c.cols);
  GptqOptions opts;
  opts.spec = {2, 32, QuantGrid::kSymmetricHalf};
  opts.act_order = c.act_order;
  auto prepared = GptqHessian::Prepare("layer.weight", h, c.cols, opts);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_EQ(prepared->damp(), 0.01);
  EXPECT_EQ(prepared->dead_columns().size(), c.dead_column ? 1u : 0u);
  const int64_t n = c.cols;
  const std::vector<double> a = DampedInOrder(h, *prepared);
  const std::vector<double> ref = TextbookInverseUpper(a, n);
  const std::vector<float>& u = prepared->u();
  double max_ref = 0;
  for (double v : ref) max_ref = std::max(max_ref, std::abs(v));
  double max_diff = 0;
  for (int64_t i = 0; i < n * n; ++i) max_diff = std::max(max_diff, std::abs(u[i] - ref[i]));
  // The factorization runs in float (as in the reference GPTQ code) on Hessians with condition numbers
  // of 1e4..1e5 here: measured 5e-6 (one 40-column direct block) to 3e-4 of the largest entry. Far
  // below what matters to GPTQ, whose rounding steps are a third of a weight's range at 2 bits.
  EXPECT_LT(max_diff, 2e-3 * max_ref) << "max difference " << max_diff << " of max " << max_ref;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < i; ++j) ASSERT_EQ(u[i * n + j], 0.0f) << "U not upper at " << i << "," << j;
  }
  // (UᵀU·A)_ij = Σ_k (U·A)_kj · U_ki, with U·A in double from the float U.
  std::vector<double> ua(a.size(), 0.0);
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t m = k; m < n; ++m) {
      for (int64_t j = 0; j < n; ++j) ua[k * n + j] += u[k * n + m] * a[m * n + j];
    }
  }
  double max_off = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double v = 0;
      for (int64_t k = 0; k <= i; ++k) v += u[k * n + i] * ua[k * n + j];
      max_off = std::max(max_off, std::abs(v - (i == j ? 1.0 : 0.0)));
    }
  }
  // Float U against those condition numbers: measured up to 7.5e-4.
  EXPECT_LT(max_off, 5e-3) << "largest deviation of UᵀU·A from I";
}

INSTANTIATE_TEST_SUITE_P(Shapes, GptqHessianFactor,
                         ::testing::Values(FactorCase{150, false, false}, FactorCase{150, true, true},
                                           FactorCase{301, true, false}, FactorCase{40, false, true}),
                         [](const ::testing::TestParamInfo<FactorCase>& info) {
                           return fmt::format("c{}{}{}", info.param.cols, info.param.act_order ? "_act" : "",
                                              info.param.dead_column ? "_dead" : "");
                         });

// q/k/v share one prepared Hessian: each weight gets exactly what it gets from its own preparation.
TEST(GptqHessianShared, SameResultAsPreparingPerWeight) {
  const int64_t cols = 160;
  const std::vector<float> x = CorrelatedInputs(640, cols, 5, 41);
  const std::vector<double> h = HessianOf(x, cols);
  GptqOptions opts;
  opts.spec = {2, 32, QuantGrid::kSymmetricHalf};
  opts.act_order = true;
  opts.activation_aware = true;
  auto prepared = GptqHessian::Prepare("q_proj", h, cols, opts);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  for (const auto& [rows, bits] : {std::pair<int64_t, int>{24, 2}, {8, 3}, {40, 4}}) {
    opts.spec.bits = bits;
    const WeightTensor w = RandomWeight(rows, cols, static_cast<uint32_t>(rows));
    auto shared = QuantizeGptq(w, *prepared, opts);
    auto own = QuantizeGptq(w, h, opts);
    ASSERT_TRUE(shared.ok() && own.ok());
    EXPECT_EQ(shared->tensor.data.size(), own->tensor.data.size());
    EXPECT_TRUE(std::equal(shared->tensor.data.data(), shared->tensor.data.data() + shared->tensor.data.size(),
                           own->tensor.data.data()));
    EXPECT_EQ(shared->stats.output_rel_error, own->stats.output_rel_error);
    // weight_rel_error is ‖W − Ŵ‖/‖W‖, recomputed here.
    const std::vector<float> a = DequantizeToFloat(w), b = DequantizeToFloat(shared->tensor);
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
      den += static_cast<double>(a[i]) * a[i];
    }
    EXPECT_NEAR(shared->stats.weight_rel_error, std::sqrt(num / den), 1e-6);
  }
}

TEST(GptqHessianShared, RejectsAMismatchedPreparation) {
  const int64_t cols = 64;
  const std::vector<double> h = HessianOf(CorrelatedInputs(256, cols, 4, 5), cols);
  GptqOptions opts;
  opts.spec = {2, 32, QuantGrid::kSigned};
  auto prepared = GptqHessian::Prepare("q_proj", h, cols, opts);
  ASSERT_TRUE(prepared.ok());
  auto narrow = QuantizeGptq(RandomWeight(4, 32, 1), *prepared, opts);
  ASSERT_FALSE(narrow.ok());
  EXPECT_NE(narrow.status().message().find("prepared for 64 input columns"), std::string::npos);
  opts.act_order = true;
  auto reordered = QuantizeGptq(RandomWeight(4, cols, 1), *prepared, opts);
  ASSERT_FALSE(reordered.ok());
  EXPECT_NE(reordered.status().message().find("act_order"), std::string::npos);
  EXPECT_FALSE(GptqHessian::Prepare("q_proj", h, cols + 1, opts).ok());
}

// Rows are split over threads that reach the blocks at different times: the codes must not depend on
// how many threads there are (a lazy-update buffer laid out per block once let them overwrite each
// other's rows). Several runs, since a race shows only sometimes.
TEST(GptqQuantize, SameCodesForEveryThreadCount) {
  const int64_t rows = 300, cols = 640;
  const std::vector<double> h = HessianOf(CorrelatedInputs(1024, cols, 8, 51), cols);
  const WeightTensor w = RandomWeight(rows, cols, 52);
  GptqOptions opts;
  opts.spec = {2, 128, QuantGrid::kSymmetricHalf};
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  auto one = QuantizeGptq(w, h, opts);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  const std::vector<float> expected = DequantizeToFloat(one->tensor);
  for (int threads : {2, 3, 2, 3, 2, 3, 2, 3}) {
    omp_set_num_threads(threads);
    auto many = QuantizeGptq(w, h, opts);
    ASSERT_TRUE(many.ok());
    EXPECT_EQ(DequantizeToFloat(many->tensor), expected) << threads << " threads";
    EXPECT_EQ(many->stats.output_rel_error, one->stats.output_rel_error);
  }
  omp_set_num_threads(saved);
}

}  // namespace
}  // namespace llmc
