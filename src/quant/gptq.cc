// GPTQ, following the reference algorithm (Frantar et al., "GPTQ", 2022; the AutoGPTQ/AngelSlim loop):
//   dead columns (diag H = 0) → H_ii = 1, W[:,i] = 0;  optional act-order permutation by diag H;
//   H += λ·mean(diag H)·I, λ ×10 until Cholesky succeeds;  U = upper Cholesky factor of H⁻¹, from one
//   Cholesky of the reversed H with its inverse (see FactorInverseUpper);
//   for each block of columns (lazy batch): quantize one column, err = (w − q)/U_ii, update the rest
//   of the block with err·U_i,·, then the columns after the block with one GEMM.
// Everything that depends on H alone is a GptqHessian, prepared once per layer input and shared by the
// weights that read it. Rows are independent given U (and, with static groups, the group parameters),
// so each thread runs every block for its own rows in one parallel region. The float products (the
// lazy-batch update, the output error, XᵀX, the factorization) use the runtime-dispatched MatMulF32:
// the library is built for baseline x86-64, where Eigen's GEMMs run at a fifth of the AVX2/AVX-512
// kernel's speed. The factorization is in float, as in the reference implementations.
// Group parameters come from QuantizeRtn (see gptq.h) — either all up front from the
// original W (static groups; required with act-order so that groups stay contiguous in the original
// column order the tensor is stored in) or when the group's first column is reached, from the
// already-updated W (the paper's default).
#include "quant/gptq.h"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <omp.h>

#include "llmc/kernels.h"
#include "quant/packing.h"

namespace llmc {

namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr int kMaxDampIncreases = 8;
// Below this many elements a memory pass runs on one thread: waking the team costs more.
constexpr int64_t kMinParallelCopy = int64_t{1} << 16;

Status CheckGptqOptions(const std::string& name, const GptqOptions& o) {
  if (o.spec.bits < 2 || o.spec.bits > 4) {
    return Status::Invalid("tensor '{}': GPTQ bits {} (expected 2, 3 or 4)", name, o.spec.bits);
  }
  if (o.spec.group_size <= 0) return Status::Invalid("tensor '{}': group size {} (expected > 0)", name,
                                                     o.spec.group_size);
  if (o.block_size <= 0) return Status::Invalid("tensor '{}': GPTQ block size {} (expected > 0)", name,
                                                o.block_size);
  if (!(o.damp > 0) || !std::isfinite(o.damp)) {
    return Status::Invalid("tensor '{}': GPTQ damp {} (expected a positive fraction such as 0.01)", name, o.damp);
  }
  if (o.act_order && !o.static_groups) {
    return Status::Invalid("tensor '{}': act_order needs static_groups (groups must stay contiguous in the "
                           "stored column order)", name);
  }
  return Status::OK();
}

Status CheckGptqTensor(const WeightTensor& dense) {
  if (dense.quantized()) return Status::Invalid("tensor '{}': GPTQ needs a dense tensor, found {}", dense.name,
                                                dense.type_name());
  if (dense.shape.size() != 2) {
    return Status::Invalid("tensor '{}': GPTQ needs a 2-D weight, found shape {}", dense.name,
                           ShapeToString(dense.shape));
  }
  return dense.Validate();
}

Status CheckPreparedHessian(const WeightTensor& dense, const GptqHessian& h, const GptqOptions& o) {
  if (h.cols() != dense.cols()) {
    return Status::Invalid("tensor '{}': Hessian prepared for {} input columns, the weight has {}", dense.name,
                           h.cols(), dense.cols());
  }
  if (h.act_order() != o.act_order || h.requested_damp() != o.damp) {
    return Status::Invalid("tensor '{}': Hessian prepared with act_order {} and damp {}, options ask for {} and {}",
                           dense.name, h.act_order(), h.requested_damp(), o.act_order, o.damp);
  }
  return Status::OK();
}

// Per-row, per-group scale and zero as floats (for the loop) and as stored (fp16 scale, uint8 zero).
struct GroupTable {
  int64_t groups = 0;
  std::vector<float> scale, zero;  // [rows][groups]
  std::vector<uint16_t> scale_half;
  std::vector<uint8_t> zero_code;
};

// Copies the parameters QuantizeRtn chose for columns [first_group·gs, ...) into the table.
void StoreGroupParams(const WeightTensor& rtn, const QuantSpec& spec, int64_t first_group, GroupTable& t) {
  const int64_t rows = rtn.rows();
  const int64_t n = rtn.groups_per_row();
  const uint16_t* scales = rtn.scales.as<uint16_t>();
  const bool asym = spec.grid == QuantGrid::kAsymmetric;
  const float fixed_zero = GridZero(spec.grid, spec.bits);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < n; ++g) {
      const int64_t at = r * t.groups + first_group + g;
      t.scale_half[at] = scales[r * n + g];
      t.scale[at] = HalfToFloat(t.scale_half[at]);
      t.zero_code[at] = asym ? rtn.zero_points.data()[r * n + g] : 0;
      t.zero[at] = asym ? static_cast<float>(t.zero_code[at]) : fixed_zero;
    }
  }
}

// RTN's parameters for columns [c0, c0 + n) of row-major `w` [rows][cols] (one or more whole groups).
Status ChooseGroupParams(const std::string& name, const float* w, int64_t rows, int64_t cols, int64_t c0, int64_t n,
                         const GptqOptions& o, const std::vector<float>& importance, GroupTable& t) {
  std::vector<float> slice(static_cast<size_t>(rows * n));
  for (int64_t r = 0; r < rows; ++r) std::copy_n(w + r * cols + c0, n, slice.data() + r * n);
  RtnOptions rtn;
  rtn.mse_clip = o.mse_clip;
  if (!importance.empty()) rtn.importance = std::span<const float>(importance.data() + c0, static_cast<size_t>(n));
  LLMC_ASSIGN_OR_RETURN(WeightTensor q, QuantizeRtn(MakeF32Tensor(name, {rows, n}, std::move(slice)), o.spec, rtn));
  StoreGroupParams(q, o.spec, c0 / o.spec.group_size, t);
  return Status::OK();
}

// Cholesky factor L (A = L·Lᵀ) and its inverse of the n×n block of row-major float matrices at `a`
// and `inv` (rows ld apart; only a's lower triangle is read, L overwrites it; inv's block must be zero
// above its diagonal on entry). Recursing on halves, [A11 ·; A21 A22]:
//   L11 and L11⁻¹ of A11;  L21 = A21·L11⁻ᵀ;  L22 and L22⁻¹ of A22 − L21·L21ᵀ;  (L⁻¹)21 = −L22⁻¹·L21·L11⁻¹,
// the four products (2n³/3 multiply-adds in all, twice a Cholesky plus a triangular inverse) as
// MatMulF32 GEMMs; blocks of kDirect columns are factored and inverted with double sums. Float, like
// the reference GPTQ implementations (fp32 Cholesky and inverse); measured on a SmolLM2-shaped
// Hessian (condition ~2e4): 5e-5 of the largest entry from the double result. False when a pivot is
// not positive (A not positive definite at float precision).
bool CholeskyWithInverse(float* a, float* inv, int64_t n, int64_t ld, std::vector<float>& scratch) {
  constexpr int64_t kDirect = 64;
  if (n <= kDirect) {
    for (int64_t j = 0; j < n; ++j) {
      double d = a[j * ld + j];
      for (int64_t k = 0; k < j; ++k) d -= static_cast<double>(a[j * ld + k]) * a[j * ld + k];
      if (!(d > 0) || !std::isfinite(d)) return false;
      const double pivot = std::sqrt(d);
      a[j * ld + j] = static_cast<float>(pivot);
      for (int64_t i = j + 1; i < n; ++i) {
        double v = a[i * ld + j];
        for (int64_t k = 0; k < j; ++k) v -= static_cast<double>(a[i * ld + k]) * a[j * ld + k];
        a[i * ld + j] = static_cast<float>(v / pivot);
      }
    }
    for (int64_t c = 0; c < n; ++c) {  // forward substitution against the identity, column by column
      for (int64_t i = c; i < n; ++i) {
        double v = i == c ? 1.0 : 0.0;
        for (int64_t k = c; k < i; ++k) v -= static_cast<double>(a[i * ld + k]) * inv[k * ld + c];
        inv[i * ld + c] = static_cast<float>(v / a[i * ld + i]);
      }
    }
    return true;
  }
  const int64_t h = n / 2;
  const int64_t m = n - h;
  float* a21 = a + h * ld;
  float* a22 = a21 + h;
  float* inv21 = inv + h * ld;
  float* inv22 = inv21 + h;
  if (!CholeskyWithInverse(a, inv, h, ld, scratch)) return false;
  if (static_cast<int64_t>(scratch.size()) < 2 * m * m) scratch.resize(static_cast<size_t>(2 * m * m));
  float* t0 = scratch.data();
  float* t1 = t0 + m * m;
  MatMulF32(a21, ld, inv, ld, t0, h, m, h, h);  // L21 = A21·L11⁻ᵀ
  for (int64_t i = 0; i < m; ++i) std::copy_n(t0 + i * h, h, a21 + i * ld);
  MatMulF32(a21, ld, a21, ld, t0, m, m, m, h);  // L21·L21ᵀ, subtracted from A22's lower triangle
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j <= i; ++j) a22[i * ld + j] -= t0[i * m + j];
  }
  if (!CholeskyWithInverse(a22, inv22, m, ld, scratch)) return false;
  t0 = scratch.data();  // the recursion may have grown (moved) the scratch
  t1 = t0 + m * m;
  for (int64_t i = 0; i < h; ++i) {  // t1 = (L11⁻¹)ᵀ, MatMulF32's b for L21·L11⁻¹
    for (int64_t j = 0; j < h; ++j) t1[j * h + i] = inv[i * ld + j];
  }
  MatMulF32(a21, ld, t1, h, t0, h, m, h, h);  // T = L21·L11⁻¹
  for (int64_t i = 0; i < m; ++i) {  // t1 = −Tᵀ, the b for L22⁻¹·(−T)
    for (int64_t j = 0; j < h; ++j) t1[j * m + i] = -t0[i * h + j];
  }
  MatMulF32(inv22, ld, t1, m, inv21, ld, m, h, m);
  return true;
}

// U, upper triangular with UᵀU = A⁻¹, from r = P·A·P (A the damped Hessian in processing order, P the
// exchange matrix), row-major [n][n]: if r = L·Lᵀ then A = (P·L·P)(P·L·P)ᵀ with P·L·P upper, so
// U = (P·L·P)⁻¹ = P·L⁻¹·P. One Cholesky and one triangular inverse, where inverting A and then
// factoring A⁻¹ costs about four times the flops. False when r is not positive definite.
bool FactorInverseUpper(std::vector<float>& r, int64_t n, std::vector<float>& u, std::vector<float>& ut) {
  std::vector<float> inverse(static_cast<size_t>(n * n), 0.0f);
  std::vector<float> scratch;
  if (!CholeskyWithInverse(r.data(), inverse.data(), n, n, scratch)) return false;
  u.assign(static_cast<size_t>(n * n), 0.0f);
  ut.assign(static_cast<size_t>(n * n), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    const float* row = inverse.data() + (n - 1 - i) * n;
    for (int64_t j = i; j < n; ++j) u[i * n + j] = row[n - 1 - j];
  }
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i <= j; ++i) ut[j * n + i] = u[i * n + j];
  }
  return true;
}

std::vector<int64_t> ActOrderPermutation(const std::vector<double>& diag, bool act_order) {
  std::vector<int64_t> perm(diag.size());
  std::iota(perm.begin(), perm.end(), 0);
  if (act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return diag[a] > diag[b]; });
  }
  return perm;
}

// std::nearbyint for 0 ≤ x ≤ 255 (as in rtn.cc) without the library call it is on baseline x86-64 (no
// SSE4.1 roundss): adding and subtracting 1.5·2²³ rounds half to even, exact for |x| < 2²².
inline float RoundToNearestEven(float x) {
  constexpr float kMagic = 12582912.0f;
  return (x + kMagic) - kMagic;
}

// One weight's GPTQ loop: W in processing order, each row's errors in the current block, the codes.
struct GptqLoop {
  const float* u;                     // U [cols][cols]
  const float* ut;                    // Uᵀ
  const std::vector<int64_t>* perm;
  const GroupTable* table;
  int64_t group_size;
  int bits;
  int64_t block;                      // columns per lazy batch
  RowMatrixF wp;                      // [rows][cols], permuted
  std::vector<float> err;             // [rows][block]
  std::vector<float> update;          // [rows][cols − block]: the lazy update of the columns after a block
  std::vector<uint8_t> codes;         // [rows][cols], original order
};

// Quantizes columns [p0, p1) of block [b0, b1) for rows [r0, r1), pushing each column's error onto
// the rest of the block. A span that ends the block then pushes the block's error onto every later
// column, wp[:, b1:] −= E·U[b0:b1, b1:], by one GEMM over these rows (MatMulF32's a·bᵀ with
// b = Uᵀ[b1:, b0:b1]; single-threaded inside the caller's parallel region).
void QuantizeRows(GptqLoop& s, int64_t r0, int64_t r1, int64_t p0, int64_t p1, int64_t b0, int64_t b1) {
  const int64_t cols = s.wp.cols();
  const GroupTable& t = *s.table;
  const float code_max = static_cast<float>((1 << s.bits) - 1);
  for (int64_t r = r0; r < r1; ++r) {
    float* w = s.wp.data() + r * cols;
    float* e = s.err.data() + r * s.block;
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = (*s.perm)[p];
      const int64_t at = r * t.groups + c / s.group_size;
      const float scale = t.scale[at];
      const float z = t.zero[at];
      const float inv = scale == 0 ? 0.0f : 1.0f / scale;
      const float code = RoundToNearestEven(std::clamp(w[p] * inv + z, 0.0f, code_max));
      s.codes[r * cols + c] = static_cast<uint8_t>(code);
      const float* u_row = s.u + p * cols;
      const float e_p = (w[p] - scale * (code - z)) / u_row[p];
      e[p - b0] = e_p;
      for (int64_t k = p + 1; k < b1; ++k) w[k] -= e_p * u_row[k];
    }
  }
  if (p1 < b1 || b1 == cols || r0 == r1) return;
  const int64_t rest = cols - b1;
  // Rows keep a fixed stride in `update`: the threads reach the blocks at different times.
  const int64_t stride = cols - s.block;
  float* update = s.update.data() + r0 * stride;
  MatMulF32(s.err.data() + r0 * s.block, s.block, s.ut + b1 * cols + b0, cols, update, stride, r1 - r0, rest,
            b1 - b0);
  for (int64_t r = r0; r < r1; ++r) {
    float* w = s.wp.data() + r * cols + b1;
    const float* d = update + (r - r0) * stride;
    for (int64_t c = 0; c < rest; ++c) w[c] -= d[c];
  }
}

// Runs f(r0, r1) on contiguous row ranges, one per thread of one parallel region.
template <class F>
void ForRowRanges(int64_t rows, const F& f) {
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num();
    const int64_t n = omp_get_num_threads();
    f(rows * t / n, rows * (t + 1) / n);
  }
}

WeightTensor PackResult(const WeightTensor& dense, const QuantSpec& spec, const std::vector<uint8_t>& codes,
                        const GroupTable& t) {
  WeightTensor out;
  out.name = dense.name;
  out.shape = dense.shape;
  out.encoding = Encoding::kQuantized;
  out.quant = spec;
  std::vector<uint8_t> data(out.expected_data_bytes());
  const int64_t cols = out.cols();
  for (int64_t r = 0; r < out.rows(); ++r) {
    PackRow(codes.data() + r * cols, cols, spec.bits, data.data() + r * out.row_bytes());
  }
  out.data = Bytes::Own(std::move(data));
  out.scales = Bytes::CopyOf(t.scale_half.data(), t.scale_half.size());
  if (spec.grid == QuantGrid::kAsymmetric) out.zero_points = Bytes::CopyOf(t.zero_code.data(), t.zero_code.size());
  return out;
}

// Adds m_r·H·m_rᵀ of each row of m [rows][cols] to forms[r], H symmetric [cols][cols], from H's lower
// triangle only (half the flops of m·H): per block J of columns, 2·⟨m_{<J}·H_{<J,J}, m_J⟩ for the part
// left of the diagonal block and ⟨m_J·H_JJ, m_J⟩ for the block itself.
void AddQuadraticForms(const float* m, int64_t rows, int64_t cols, const float* h, double* forms) {
  constexpr int64_t kBlock = 128;
  std::vector<float> product(static_cast<size_t>(rows * kBlock));
  for (int64_t j0 = 0; j0 < cols; j0 += kBlock) {
    const int64_t nb = std::min(kBlock, cols - j0);
    for (const bool diagonal : {false, true}) {
      if (!diagonal && j0 == 0) continue;
      // a = m's columns [0, j0) or [j0, j0 + nb); b = H's rows [j0, j0 + nb), the same columns.
      const int64_t k0 = diagonal ? j0 : 0;
      const int64_t k = diagonal ? nb : j0;
      MatMulF32(m + k0, cols, h + j0 * cols + k0, cols, product.data(), nb, rows, nb, k);
      const double weight = diagonal ? 1.0 : 2.0;
      for (int64_t r = 0; r < rows; ++r) {
        double sum = 0;
        for (int64_t j = 0; j < nb; ++j) sum += static_cast<double>(product[r * nb + j]) * m[r * cols + j0 + j];
        forms[r] += weight * sum;
      }
    }
  }
}

// ‖W − Ŵ‖/‖W‖ and tr(ΔHΔᵀ)/tr(WHWᵀ) with the undamped Hessian, from the quadratic forms of [W; Δ].
void MeasureErrors(const std::vector<float>& original, const WeightTensor& q, const std::vector<float>& h,
                   GptqStats& stats) {
  const int64_t rows = q.rows();
  const int64_t cols = q.cols();
  const std::vector<float> deq = DequantizeToFloat(q);
  std::vector<float> stacked(static_cast<size_t>(2 * rows * cols));  // W on top, Δ = W − Ŵ below
  double w_norm2 = 0, d_norm2 = 0;
  for (int64_t i = 0; i < rows * cols; ++i) {
    const float d = original[i] - deq[i];
    stacked[i] = original[i];
    stacked[rows * cols + i] = d;
    w_norm2 += static_cast<double>(original[i]) * original[i];
    d_norm2 += static_cast<double>(d) * d;
  }
  stats.weight_rel_error = w_norm2 > 0 ? std::sqrt(d_norm2 / w_norm2) : 0.0;
  std::vector<double> forms(static_cast<size_t>(2 * rows), 0.0);
  // Row ranges in one parallel region (MatMulF32 single-threaded in each): one region, not two per
  // block of columns.
  ForRowRanges(2 * rows, [&](int64_t r0, int64_t r1) {
    AddQuadraticForms(stacked.data() + r0 * cols, r1 - r0, cols, h.data(), forms.data() + r0);
  });
  const double out_ref = std::accumulate(forms.begin(), forms.begin() + rows, 0.0);
  const double out_err = std::accumulate(forms.begin() + rows, forms.end(), 0.0);
  stats.output_rel_error = out_ref > 0 ? out_err / out_ref : 0.0;
}

}  // namespace

HessianAccumulator::HessianAccumulator(int64_t cols)
    : cols_(cols), xtx_(static_cast<size_t>(cols * cols), 0.0), scratch_(static_cast<size_t>(cols * cols)) {}

void HessianAccumulator::Add(const float* x, int64_t n_tokens) {
  if (n_tokens <= 0) return;
  // XᵀX on the runtime-dispatched SIMD GEMM (MatMulF32 with a = b = Xᵀ) rather than Eigen on baseline
  // x86-64, only its lower triangle: per block of kBlock columns, the rows from the block's start
  // (about half the flops of the full product). Added into the double total: the float sums stay short (one
  // call's tokens), the long sum over all calibration tokens is in double.
  constexpr int64_t kBlock = 128;
  xt_.resize(static_cast<size_t>(cols_ * n_tokens));
  // The transposition and the double sums are memory passes: threads over rows of their output.
  const bool parallel = cols_ * n_tokens >= kMinParallelCopy;
#pragma omp parallel for schedule(static) num_threads(NumThreads()) if (parallel)
  for (int64_t c = 0; c < cols_; ++c) {
    for (int64_t t = 0; t < n_tokens; ++t) xt_[c * n_tokens + t] = x[t * cols_ + c];
  }
  // By blocks of columns j0..j1, rows i >= j0: each call packs only its kBlock columns (MatMulF32's
  // b), while the rows (its a) are read in place.
  for (int64_t j0 = 0; j0 < cols_; j0 += kBlock) {
    const int64_t j1 = std::min(cols_, j0 + kBlock);
    const float* from_j0 = xt_.data() + j0 * n_tokens;
    MatMulF32(from_j0, n_tokens, from_j0, n_tokens, scratch_.data() + j0 * cols_ + j0, cols_, cols_ - j0, j1 - j0,
              n_tokens);
  }
#pragma omp parallel for schedule(dynamic, 16) num_threads(NumThreads()) if (parallel)
  for (int64_t i = 0; i < cols_; ++i) {
    for (int64_t j = 0; j <= i; ++j) xtx_[i * cols_ + j] += static_cast<double>(scratch_[i * cols_ + j]);
  }
  tokens_ += n_tokens;
}

std::vector<double> HessianAccumulator::Hessian() const {
  std::vector<double> h(xtx_.size(), 0.0);
  if (tokens_ == 0) return h;
  const double f = 2.0 / static_cast<double>(tokens_);
  for (int64_t i = 0; i < cols_; ++i) {
    for (int64_t j = 0; j <= i; ++j) h[i * cols_ + j] = h[j * cols_ + i] = f * xtx_[i * cols_ + j];
  }
  return h;
}

std::vector<float> HessianAccumulator::Importance() const {
  std::vector<float> imp(static_cast<size_t>(cols_), 0.0f);
  if (tokens_ == 0) return imp;
  for (int64_t i = 0; i < cols_; ++i) {
    imp[i] = static_cast<float>(xtx_[i * cols_ + i] / static_cast<double>(tokens_));
  }
  return imp;
}

Result<GptqHessian> GptqHessian::Prepare(const std::string& name, const std::vector<double>& hessian, int64_t cols,
                                         const GptqOptions& options) {
  LLMC_RETURN_IF_ERROR(CheckGptqOptions(name, options));
  const auto n = static_cast<size_t>(cols);
  if (cols <= 0 || hessian.size() != n * n) {
    return Status::Invalid("tensor '{}': Hessian of {} values for {} input columns (expected {})", name,
                           hessian.size(), cols, cols * cols);
  }
  GptqHessian out;
  out.cols_ = cols;
  out.requested_damp_ = options.damp;
  out.act_order_ = options.act_order;
  out.h_.assign(hessian.begin(), hessian.end());
  out.importance_.resize(n);
  std::vector<double> diag(n);
  for (int64_t i = 0; i < cols; ++i) {
    diag[i] = hessian[i * cols + i];
    out.importance_[i] = static_cast<float>(diag[i] / 2);
    if (diag[i] != 0) continue;
    diag[i] = 1;  // a dead column: its weights become 0 and it must not make H singular
    out.dead_.push_back(i);
  }
  out.perm_ = ActOrderPermutation(diag, options.act_order);
  const double mean_diag = std::accumulate(diag.begin(), diag.end(), 0.0) / static_cast<double>(cols);

  // r = P·(permuted H)·P, P the reversal, row-major (only the lower triangle is read).
  std::vector<float> reversed(n * n);
  for (int64_t i = 0; i < cols; ++i) {
    const double* h_row = hessian.data() + out.perm_[cols - 1 - i] * cols;
    for (int64_t j = 0; j <= i; ++j) reversed[i * cols + j] = static_cast<float>(h_row[out.perm_[cols - 1 - j]]);
  }
  std::vector<float> damped(n * n);
  double lambda = options.damp;
  for (int attempt = 0; attempt <= kMaxDampIncreases; ++attempt, lambda *= 10) {
    damped = reversed;
    for (int64_t i = 0; i < cols; ++i) {
      damped[i * cols + i] = static_cast<float>(diag[out.perm_[cols - 1 - i]] + lambda * mean_diag);
    }
    if (!FactorInverseUpper(damped, cols, out.u_, out.ut_)) continue;
    out.damp_ = lambda;
    return out;
  }
  return Status::Invalid("tensor '{}': Hessian not positive definite even with damp {} (mean diag {})", name,
                         lambda / 10, mean_diag);
}

Result<GptqResult> QuantizeGptq(const WeightTensor& dense, const GptqHessian& hessian, const GptqOptions& options) {
  LLMC_RETURN_IF_ERROR(CheckGptqTensor(dense));
  LLMC_RETURN_IF_ERROR(CheckGptqOptions(dense.name, options));
  LLMC_RETURN_IF_ERROR(CheckPreparedHessian(dense, hessian, options));
  const int64_t rows = dense.rows();
  const int64_t cols = dense.cols();
  const int64_t gs = options.spec.group_size;
  const std::vector<float> original = DequantizeToFloat(dense);
  std::vector<float> w = original;
  for (int64_t i : hessian.dead_columns()) {
    for (int64_t r = 0; r < rows; ++r) w[r * cols + i] = 0;
  }
  const std::vector<float> no_importance;
  const std::vector<float>& importance = options.activation_aware ? hessian.importance() : no_importance;

  GroupTable table;
  table.groups = (cols + gs - 1) / gs;
  const auto table_size = static_cast<size_t>(rows * table.groups);
  table.scale.resize(table_size);
  table.zero.resize(table_size);
  table.scale_half.resize(table_size);
  table.zero_code.resize(table_size);
  if (options.static_groups) {
    LLMC_RETURN_IF_ERROR(ChooseGroupParams(dense.name, w.data(), rows, cols, 0, cols, options, importance, table));
  }

  const std::vector<int64_t>& perm = hessian.permutation();
  RowMatrixF wp(rows, cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < cols; ++i) wp(r, i) = w[r * cols + perm[i]];
  }
  GptqLoop loop{hessian.u().data(), hessian.u_transposed().data(), &perm, &table, gs, options.spec.bits,
                // Blocks hold whole groups, so a group's columns all see the same in-block updates
                // before its parameters are chosen (dynamic groups).
                gs >= options.block_size ? gs : options.block_size / gs * gs, std::move(wp), {}, {}, {}};
  const int64_t block = loop.block;
  loop.err.resize(static_cast<size_t>(rows * block));
  loop.update.resize(static_cast<size_t>(rows * std::max<int64_t>(0, cols - block)));
  loop.codes.resize(static_cast<size_t>(rows * cols));
  if (options.static_groups) {
    // Rows are independent given U and the groups: one parallel region runs every block, with no
    // barrier between blocks (many short regions cost more than the work on a loaded 2-core machine).
    ForRowRanges(rows, [&](int64_t r0, int64_t r1) {
      for (int64_t b0 = 0; b0 < cols; b0 += block) {
        const int64_t b1 = std::min(cols, b0 + block);
        QuantizeRows(loop, r0, r1, b0, b1, b0, b1);
      }
    });
  } else {
    for (int64_t b0 = 0; b0 < cols; b0 += block) {
      const int64_t b1 = std::min(cols, b0 + block);
      for (int64_t p0 = b0; p0 < b1; p0 += gs) {
        const int64_t p1 = std::min(b1, p0 + gs);
        LLMC_RETURN_IF_ERROR(
            ChooseGroupParams(dense.name, loop.wp.data(), rows, cols, p0, p1 - p0, options, importance, table));
        ForRowRanges(rows, [&](int64_t r0, int64_t r1) { QuantizeRows(loop, r0, r1, p0, p1, b0, b1); });
      }
    }
  }
  const std::vector<uint8_t>& codes = loop.codes;
  GptqResult result;
  result.tensor = PackResult(dense, options.spec, codes, table);
  result.stats.damp = hessian.damp();
  result.stats.dead_columns = static_cast<int64_t>(hessian.dead_columns().size());
  MeasureErrors(original, result.tensor, hessian.hessian(), result.stats);
  return result;
}

Result<GptqResult> QuantizeGptq(const WeightTensor& dense, const std::vector<double>& hessian,
                                const GptqOptions& options) {
  LLMC_RETURN_IF_ERROR(CheckGptqTensor(dense));
  LLMC_ASSIGN_OR_RETURN(GptqHessian prepared, GptqHessian::Prepare(dense.name, hessian, dense.cols(), options));
  return QuantizeGptq(dense, prepared, options);
}

}  // namespace llmc
