// GPTQ, following the reference algorithm (Frantar et al., "GPTQ", 2022; the AutoGPTQ/AngelSlim loop):
//   dead columns (diag H = 0) → H_ii = 1, W[:,i] = 0;  optional act-order permutation by diag H;
//   H += λ·mean(diag H)·I, λ ×10 until Cholesky succeeds;  U = upper Cholesky factor of H⁻¹;
//   for each block of columns (lazy batch): quantize one column, err = (w − q)/U_ii, update the rest
//   of the block with err·U_i,·, then the columns after the block with one GEMM.
// Rows are independent given U, so each block runs row-parallel (OpenMP); the cross-block update is an
// Eigen GEMM. Group parameters come from QuantizeRtn (see gptq.h) — either all up front from the
// original W (static groups; required with act-order so that groups stay contiguous in the original
// column order the tensor is stored in) or when the group's first column is reached, from the
// already-updated W (the paper's default).
#include "quant/gptq.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "quant/packing.h"

namespace llmc {

namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixD = Eigen::MatrixXd;

constexpr int kMaxDampIncreases = 8;

Status CheckGptqInputs(const WeightTensor& dense, const std::vector<double>& hessian, const GptqOptions& o) {
  if (dense.quantized()) return Status::Invalid("tensor '{}': GPTQ needs a dense tensor, found {}", dense.name,
                                                dense.type_name());
  if (dense.shape.size() != 2) {
    return Status::Invalid("tensor '{}': GPTQ needs a 2-D weight, found shape {}", dense.name,
                           ShapeToString(dense.shape));
  }
  LLMC_RETURN_IF_ERROR(dense.Validate());
  if (o.spec.bits < 2 || o.spec.bits > 4) {
    return Status::Invalid("tensor '{}': GPTQ bits {} (expected 2, 3 or 4)", dense.name, o.spec.bits);
  }
  if (o.spec.group_size <= 0) return Status::Invalid("tensor '{}': group size {} (expected > 0)", dense.name,
                                                     o.spec.group_size);
  if (o.block_size <= 0) return Status::Invalid("tensor '{}': GPTQ block size {} (expected > 0)", dense.name,
                                                o.block_size);
  if (!(o.damp > 0) || !std::isfinite(o.damp)) {
    return Status::Invalid("tensor '{}': GPTQ damp {} (expected a positive fraction such as 0.01)", dense.name,
                           o.damp);
  }
  if (o.act_order && !o.static_groups) {
    return Status::Invalid("tensor '{}': act_order needs static_groups (groups must stay contiguous in the "
                           "stored column order)", dense.name);
  }
  const auto cols = static_cast<size_t>(dense.cols());
  if (hessian.size() != cols * cols) {
    return Status::Invalid("tensor '{}': Hessian of {} values for {} input columns (expected {})", dense.name,
                           hessian.size(), cols, cols * cols);
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

// Upper Cholesky factor U of H⁻¹ (UᵀU = H⁻¹), damping H by λ·mean(diag H) and raising λ tenfold while
// either factorization fails. Returns the λ used.
Result<double> InverseCholeskyUpper(const std::string& name, const MatrixD& h, double damp, RowMatrixF& u) {
  const int64_t n = h.rows();
  const double mean_diag = h.diagonal().mean();
  double lambda = damp;
  for (int attempt = 0; attempt <= kMaxDampIncreases; ++attempt, lambda *= 10) {
    MatrixD damped = h;
    damped.diagonal().array() += lambda * mean_diag;
    Eigen::LLT<MatrixD> llt(damped);
    if (llt.info() != Eigen::Success) continue;
    const MatrixD inverse = llt.solve(MatrixD::Identity(n, n));
    Eigen::LLT<MatrixD> llt_inv(inverse);
    if (llt_inv.info() != Eigen::Success) continue;
    u = llt_inv.matrixU().toDenseMatrix().cast<float>();
    return lambda;
  }
  return Status::Invalid("tensor '{}': Hessian not positive definite even with damp {} (mean diag {})", name,
                         lambda / 10, mean_diag);
}

std::vector<int64_t> ActOrderPermutation(const MatrixD& h, bool act_order) {
  std::vector<int64_t> perm(static_cast<size_t>(h.rows()));
  std::iota(perm.begin(), perm.end(), 0);
  if (act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return h(a, a) > h(b, b); });
  }
  return perm;
}

// Quantizes columns [p0, p1) of the permuted W (all within block [p0, block_end)) row by row,
// pushing each column's error onto the rest of the block and recording it in err [rows][block].
void QuantizeSpan(int64_t p0, int64_t p1, int64_t block_start, int64_t block_end, int64_t block, const RowMatrixF& u,
                  const std::vector<int64_t>& perm, const GroupTable& t, int64_t group_size, int bits,
                  RowMatrixF& wp, std::vector<float>& err, std::vector<uint8_t>& codes) {
  const int64_t rows = wp.rows();
  const int64_t cols = wp.cols();
  const float code_max = static_cast<float>((1 << bits) - 1);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* w = wp.data() + r * cols;
    float* e = err.data() + r * block;
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = perm[p];
      const int64_t at = r * t.groups + c / group_size;
      const float s = t.scale[at];
      const float z = t.zero[at];
      const float inv = s == 0 ? 0.0f : 1.0f / s;
      const float code = std::clamp(std::nearbyint(w[p] * inv + z), 0.0f, code_max);
      codes[r * cols + c] = static_cast<uint8_t>(code);
      const float e_p = (w[p] - s * (code - z)) / u(p, p);
      e[p - block_start] = e_p;
      const float* u_row = u.data() + p * cols;
      for (int64_t k = p + 1; k < block_end; ++k) w[k] -= e_p * u_row[k];
    }
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

// ‖W − Ŵ‖/‖W‖ and tr(ΔHΔᵀ)/tr(WHWᵀ) with the undamped Hessian.
void MeasureErrors(const std::vector<float>& original, const WeightTensor& q, const MatrixD& h, GptqStats& stats) {
  const int64_t rows = q.rows();
  const int64_t cols = q.cols();
  const std::vector<float> deq = DequantizeToFloat(q);
  Eigen::Map<const RowMatrixF> w(original.data(), rows, cols);
  Eigen::Map<const RowMatrixF> wq(deq.data(), rows, cols);
  const RowMatrixF delta = w - wq;
  const Eigen::MatrixXf hf = h.cast<float>();
  const double w_norm2 = w.cast<double>().squaredNorm();
  stats.weight_rel_error = w_norm2 > 0 ? std::sqrt(delta.cast<double>().squaredNorm() / w_norm2) : 0.0;
  const double out_ref = static_cast<double>((w * hf).cwiseProduct(w).sum());
  const double out_err = static_cast<double>((delta * hf).cwiseProduct(delta).sum());
  stats.output_rel_error = out_ref > 0 ? out_err / out_ref : 0.0;
}

}  // namespace

HessianAccumulator::HessianAccumulator(int64_t cols)
    : cols_(cols), xtx_(static_cast<size_t>(cols * cols), 0.0), scratch_(static_cast<size_t>(cols * cols)) {}

void HessianAccumulator::Add(const float* x, int64_t n_tokens) {
  if (n_tokens <= 0) return;
  Eigen::Map<const RowMatrixF> xm(x, n_tokens, cols_);
  Eigen::Map<Eigen::MatrixXf> s(scratch_.data(), cols_, cols_);
  // One symmetric rank-k update in float per call (a few hundred tokens: half the flops of a full
  // GEMM), added into the double total: the float sums stay short, the long sum over all calibration
  // tokens is in double. Only the lower triangle is kept; Hessian() mirrors it.
  s.setZero();
  s.selfadjointView<Eigen::Lower>().rankUpdate(xm.transpose());
  for (int64_t j = 0; j < cols_; ++j) {
    for (int64_t i = j; i < cols_; ++i) xtx_[j * cols_ + i] += static_cast<double>(scratch_[j * cols_ + i]);
  }
  tokens_ += n_tokens;
}

std::vector<double> HessianAccumulator::Hessian() const {
  std::vector<double> h(xtx_.size(), 0.0);
  if (tokens_ == 0) return h;
  const double f = 2.0 / static_cast<double>(tokens_);
  for (int64_t j = 0; j < cols_; ++j) {
    for (int64_t i = j; i < cols_; ++i) h[j * cols_ + i] = h[i * cols_ + j] = f * xtx_[j * cols_ + i];
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

Result<GptqResult> QuantizeGptq(const WeightTensor& dense, const std::vector<double>& hessian,
                                const GptqOptions& options) {
  LLMC_RETURN_IF_ERROR(CheckGptqInputs(dense, hessian, options));
  const int64_t rows = dense.rows();
  const int64_t cols = dense.cols();
  const int64_t gs = options.spec.group_size;
  const std::vector<float> original = DequantizeToFloat(dense);
  std::vector<float> w = original;
  const MatrixD h0 = Eigen::Map<const MatrixD>(hessian.data(), cols, cols);
  MatrixD h = h0;

  GptqResult result;
  std::vector<float> importance;
  if (options.activation_aware) {
    importance.resize(static_cast<size_t>(cols));
    for (int64_t i = 0; i < cols; ++i) importance[i] = static_cast<float>(h0(i, i) / 2);
  }
  for (int64_t i = 0; i < cols; ++i) {
    if (h(i, i) != 0) continue;
    h(i, i) = 1;
    for (int64_t r = 0; r < rows; ++r) w[r * cols + i] = 0;
    ++result.stats.dead_columns;
  }

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

  const std::vector<int64_t> perm = ActOrderPermutation(h, options.act_order);
  MatrixD hp(cols, cols);
  RowMatrixF wp(rows, cols);
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) hp(i, j) = h(perm[i], perm[j]);
    for (int64_t r = 0; r < rows; ++r) wp(r, i) = w[r * cols + perm[i]];
  }
  RowMatrixF u;
  LLMC_ASSIGN_OR_RETURN(result.stats.damp, InverseCholeskyUpper(dense.name, hp, options.damp, u));

  // Blocks hold whole groups, so a group's columns all see the same in-block updates before its
  // parameters are chosen (dynamic groups).
  const int64_t block = gs >= options.block_size ? gs : options.block_size / gs * gs;
  std::vector<float> err(static_cast<size_t>(rows * block));
  std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
  for (int64_t b0 = 0; b0 < cols; b0 += block) {
    const int64_t b1 = std::min(cols, b0 + block);
    const int64_t span = options.static_groups ? b1 - b0 : gs;
    for (int64_t p0 = b0; p0 < b1; p0 += span) {
      const int64_t p1 = std::min(b1, p0 + span);
      if (!options.static_groups) {
        LLMC_RETURN_IF_ERROR(
            ChooseGroupParams(dense.name, wp.data(), rows, cols, p0, p1 - p0, options, importance, table));
      }
      QuantizeSpan(p0, p1, b0, b1, block, u, perm, table, gs, options.spec.bits, wp, err, codes);
    }
    if (b1 < cols) {
      Eigen::Map<RowMatrixF> e(err.data(), rows, block);
      wp.rightCols(cols - b1).noalias() -= e.leftCols(b1 - b0) * u.block(b0, b1, b1 - b0, cols - b1);
    }
  }
  result.tensor = PackResult(dense, options.spec, codes, table);
  MeasureErrors(original, result.tensor, h0, result.stats);
  return result;
}

}  // namespace llmc
