// Round-to-nearest quantization (QuantizeRtn): per group of a row, pick a scale (and, on the asymmetric
// grid, a zero point), then round every weight to the nearest code.
//
// Groups run along a row (the input dimension); granularity is only the group size, per channel being
// group_size >= row length. When the row length is not a multiple of the group size (stories260K rows
// are 172 wide, so 128 + 44), the row's last group is shorter and gets its own scale from its own
// elements only — groups never straddle rows.
//
// Scale choice. Without clipping the scale is the smallest one that represents the group's extremes on
// the grid without clipping either sign: on the signed grid (codes −2^(b−1)..2^(b−1)−1, int8 limited to
// −127..127 so it is symmetric) a positive extreme maps to the top code and a negative one to the bottom
// code, whichever needs the larger scale. Every element is then within scale/2 of its reconstruction.
// With MSE clipping (2/3/4-bit only: at 8 bits the gain is negligible) the scale is searched over clip
// ratios 1.0 down to 0.5 — plus, on the signed grid, max|w| ↦ −2^(b−1), i.e. the positive extreme
// clipped to the shorter side — and the candidate with the least (importance-weighted) squared error
// wins; ratio 1.0 is a candidate, so clipping never increases the error.
//
// Scales are stored in fp16, so each candidate is rounded up to the next representable half before any
// code is computed: codes are chosen for the scale that dequantization will really use, and the unclipped
// scale never shrinks below what the extremes need. All-zero groups get scale 0 (codes at the zero point),
// never a division by zero.
#include <algorithm>
#include <cmath>
#include <limits>

#include "llmc/quant.h"
#include "quant/packing.h"

namespace llmc {

namespace {

constexpr float kMinClipRatio = 0.5f;
constexpr float kClipRatioStep = 0.02f;
constexpr int64_t kMinParallelWeights = 1 << 16;

// The code range of a grid and its fixed zero (unused on the asymmetric grid, whose zero is per group).
struct GridShape {
  QuantGrid grid;
  int bits;
  float zero;
  float code_min;
  float code_max;
};

GridShape ShapeOf(const QuantSpec& spec) {
  const float code_max = static_cast<float>((1 << spec.bits) - 1);
  // int8 on the signed grid leaves code 0 (−128) unused: −127..127 is symmetric.
  const float code_min = spec.grid == QuantGrid::kSigned && spec.bits == 8 ? 1.0f : 0.0f;
  return {spec.grid, spec.bits, GridZero(spec.grid, spec.bits), code_min, code_max};
}

// The smallest fp16 value >= s (s >= 0); +inf when s exceeds the fp16 range.
uint16_t HalfAtLeast(float s) {
  uint16_t h = FloatToHalf(s);
  if (HalfToFloat(h) < s) ++h;  // positive halves are ordered like their bit patterns
  return h;
}

// A scale and zero for one group; `zero` is the grid's fixed zero except on the asymmetric grid.
struct GroupParams {
  uint16_t scale_half = 0;
  float scale = 0;
  float zero = 0;
};

// Round half to even by adding and subtracting 1.5·2^23, exact for |x| < 2^22 (codes are clamped to
// 0..255 first). Unlike std::nearbyint it vectorises on baseline x86-64, which the clip search needs.
inline float RoundToNearestEven(float x) {
  constexpr float kMagic = 12582912.0f;
  return (x + kMagic) - kMagic;
}

inline float CodeOf(float w, float inv_scale, float zero, const GridShape& g) {
  return RoundToNearestEven(std::clamp(w * inv_scale + zero, g.code_min, g.code_max));
}

// Squared error in eight independent lanes, so the compiler can vectorise the sum without reordering it.
template <bool kWeighted>
float SquaredErrorLanes(const float* w, const float* importance, int64_t n, const GroupParams& p, const GridShape& g) {
  constexpr int kLanes = 8;
  const float inv = 1.0f / p.scale;
  auto term = [&](int64_t j) {
    const float d = w[j] - p.scale * (CodeOf(w[j], inv, p.zero, g) - p.zero);
    return kWeighted ? importance[j] * d * d : d * d;
  };
  float lanes[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += term(j + l);
  }
  float err = 0;
  for (; j < n; ++j) err += term(j);
  for (float l : lanes) err += l;
  return err;
}

float SquaredError(const float* w, const float* importance, int64_t n, const GroupParams& p, const GridShape& g) {
  return importance != nullptr ? SquaredErrorLanes<true>(w, importance, n, p, g)
                               : SquaredErrorLanes<false>(w, importance, n, p, g);
}

struct GroupRange {
  float lo = 0;  // min(0, min w)
  float hi = 0;  // max(0, max w)
  bool finite = true;
};

GroupRange RangeOf(const float* w, int64_t n) {
  GroupRange r;
  for (int64_t j = 0; j < n; ++j) {
    if (!std::isfinite(w[j])) {
      r.finite = false;
      return r;
    }
    r.lo = std::min(r.lo, w[j]);
    r.hi = std::max(r.hi, w[j]);
  }
  return r;
}

// Parameters for the range [ratio·lo, ratio·hi]; the scale is the fp16 value dequantization will use.
GroupParams ParamsFor(const GroupRange& r, float ratio, const GridShape& g) {
  GroupParams p;
  if (g.grid == QuantGrid::kAsymmetric) {
    p.scale_half = HalfAtLeast(ratio * (r.hi - r.lo) / g.code_max);
    p.scale = HalfToFloat(p.scale_half);
    p.zero = p.scale == 0 ? 0.0f : std::clamp(std::nearbyint(-ratio * r.lo / p.scale), 0.0f, g.code_max);
    return p;
  }
  const float up = g.code_max - g.zero;    // codes above the zero
  const float down = g.zero - g.code_min;  // codes below the zero
  p.scale_half = HalfAtLeast(ratio * std::max(r.hi / up, -r.lo / down));
  p.scale = HalfToFloat(p.scale_half);
  p.zero = g.zero;
  return p;
}

GroupParams WithScale(float s, const GridShape& g) {
  GroupParams p;
  p.scale_half = HalfAtLeast(s);
  p.scale = HalfToFloat(p.scale_half);
  p.zero = g.zero;
  return p;
}

// The scale (and zero) for one group: unclipped, or the least-error candidate of the clip search.
GroupParams ChooseParams(const float* w, const float* importance, int64_t n, const GroupRange& r,
                         const GridShape& g, bool clip) {
  GroupParams best = ParamsFor(r, 1.0f, g);
  if (!clip || best.scale == 0) return best;
  float best_err = SquaredError(w, importance, n, best, g);
  auto consider = [&](const GroupParams& p) {
    if (p.scale == 0) return;
    const float err = SquaredError(w, importance, n, p, g);
    if (err < best_err) {
      best_err = err;
      best = p;
    }
  };
  for (float ratio = 1.0f - kClipRatioStep; ratio >= kMinClipRatio - 1e-6f; ratio -= kClipRatioStep) {
    consider(ParamsFor(r, ratio, g));
  }
  if (g.grid == QuantGrid::kSigned) consider(WithScale(std::max(r.hi, -r.lo) / (g.zero - g.code_min), g));
  return best;
}

Status CheckInputs(const WeightTensor& dense, const QuantSpec& spec, const RtnOptions& opts) {
  if (dense.quantized()) return Status::Invalid("tensor '{}': already quantized ({})", dense.name, dense.type_name());
  LLMC_RETURN_IF_ERROR(dense.Validate());
  if (spec.bits != 2 && spec.bits != 3 && spec.bits != 4 && spec.bits != 8) {
    return Status::Invalid("tensor '{}': bits {} (expected 2, 3, 4 or 8)", dense.name, spec.bits);
  }
  if (spec.group_size <= 0) {
    return Status::Invalid("tensor '{}': group size {} (expected > 0)", dense.name, spec.group_size);
  }
  if (!opts.importance.empty() && static_cast<int64_t>(opts.importance.size()) != dense.cols()) {
    return Status::Invalid("tensor '{}': {} importance values for rows of {} (expected one per column)", dense.name,
                           opts.importance.size(), dense.cols());
  }
  return Status::OK();
}

// Why a row could not be quantized (the first such row is reported).
enum class RowProblem : int { kNone, kNonFinite, kScaleOverflow };

}  // namespace

Result<WeightTensor> QuantizeRtn(const WeightTensor& dense, const QuantSpec& spec, const RtnOptions& opts) {
  LLMC_RETURN_IF_ERROR(CheckInputs(dense, spec, opts));
  WeightTensor out;
  out.name = dense.name;
  out.shape = dense.shape;
  out.encoding = Encoding::kQuantized;
  out.quant = spec;
  const int64_t rows = out.rows();
  const int64_t cols = out.cols();
  const int64_t groups = out.groups_per_row();
  const int64_t row_bytes = out.row_bytes();
  const GridShape grid = ShapeOf(spec);
  const bool asym = spec.grid == QuantGrid::kAsymmetric;
  const bool clip = opts.mse_clip && spec.bits < 8;
  const float* importance = opts.importance.empty() ? nullptr : opts.importance.data();

  std::vector<uint8_t> data(out.expected_data_bytes());
  std::vector<uint16_t> scales(static_cast<size_t>(rows * groups));
  std::vector<uint8_t> zeros(out.expected_zero_bytes());
  int64_t bad_row = rows;  // the first row that could not be quantized, and why
  RowProblem problem = RowProblem::kNone;

  // Threads only pay off for real weight matrices; small tensors stay on the calling thread.
#pragma omp parallel if (rows * cols >= kMinParallelWeights)
  {
    std::vector<float> values(static_cast<size_t>(cols));
    std::vector<uint8_t> codes(static_cast<size_t>(cols));
#pragma omp for schedule(dynamic, 16)
    for (int64_t r = 0; r < rows; ++r) {
      DequantizeRow(dense, r, values.data());
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t begin = g * spec.group_size;
        const int64_t n = std::min(cols, begin + spec.group_size) - begin;
        const float* w = values.data() + begin;
        const GroupRange range = RangeOf(w, n);
        GroupParams p;
        if (range.finite) p = ChooseParams(w, importance == nullptr ? nullptr : importance + begin, n, range, grid, clip);
        const RowProblem bad = !range.finite ? RowProblem::kNonFinite
                               : std::isinf(p.scale) ? RowProblem::kScaleOverflow
                                                     : RowProblem::kNone;
        if (bad != RowProblem::kNone) {
#pragma omp critical(llmc_rtn_problem)
          if (r < bad_row) {
            bad_row = r;
            problem = bad;
          }
          break;
        }
        const float inv = p.scale == 0 ? 0.0f : 1.0f / p.scale;
        for (int64_t j = 0; j < n; ++j) codes[begin + j] = static_cast<uint8_t>(CodeOf(w[j], inv, p.zero, grid));
        scales[r * groups + g] = p.scale_half;
        if (asym) zeros[r * groups + g] = static_cast<uint8_t>(p.zero);
      }
      PackRow(codes.data(), cols, spec.bits, data.data() + r * row_bytes);
    }
  }
  if (problem == RowProblem::kNonFinite) {
    return Status::Invalid("tensor '{}': non-finite weight in row {}", dense.name, bad_row);
  }
  if (problem == RowProblem::kScaleOverflow) {
    return Status::Invalid("tensor '{}': row {} needs a scale beyond the fp16 range (|w| too large for {} bits)",
                           dense.name, bad_row, spec.bits);
  }
  out.data = Bytes::Own(std::move(data));
  out.scales = Bytes::CopyOf(scales.data(), scales.size());
  out.zero_points = Bytes::Own(std::move(zeros));
  return out;
}

}  // namespace llmc
