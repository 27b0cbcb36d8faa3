// Element-wise work on the model's float rows: SwiGLU's gate·sigmoid(gate)·up, the attention softmax,
// the half-precision copies the KV cache keeps, and the log-sum-exp and arg-max of a row of logits.
// The exps are Highway's vectorized exp (at most 1 ulp from e^x) instead of one libm call per
// element, which cost about as much as a 2-bit layer's weights at decode. Every element goes through
// the same vector code (a row's tail through a padded copy), so results do not depend on where a row
// is cut between threads. Compiled once per Highway target and picked at run time.
#include <algorithm>
#include <cmath>
#include <limits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/activation_hwy.cc"
#include "kernels/hwy_targets.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "llmc/dtype.h"
#include "llmc/kernels.h"

HWY_BEFORE_NAMESPACE();
namespace llmc::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace {

using DF = hn::ScalableTag<float>;

// Calls op(pointer to N floats) over x[0, n): whole vectors in place, the tail through a copy
// padded with `pad`, written back.
template <class Op>
HWY_INLINE void ForEachVector(float* x, int64_t n, float pad, const Op& op) {
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + N <= n; i += N) op(x + i);
  if (i < n) {
    HWY_ALIGN float tail[hn::MaxLanes(DF())];
    std::fill(tail, tail + N, pad);
    std::copy(x + i, x + n, tail);
    op(tail);
    std::copy(tail, tail + (n - i), x + i);
  }
}

// The largest of x[0, n), -inf if none; NaN is skipped (a comparison that is false for NaN keeps it
// out, on every target alike).
HWY_INLINE float MaxOfRow(const float* x, int64_t n) {
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  auto vmax = hn::Set(df, -std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto v = hn::LoadU(df, x + i);
    vmax = hn::IfThenElse(hn::Gt(v, vmax), v, vmax);
  }
  float max = hn::GetLane(hn::MaxOfLanes(df, vmax));
  for (; i < n; ++i) max = x[i] > max ? x[i] : max;
  return max;
}

}  // namespace

void SwiGluImpl(float* gate, const float* up, int64_t n) {
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  const auto one = hn::Set(df, 1.0f);
  // e^88 is still finite: a gate below -88 gives 0 (as in float arithmetic), never inf/inf.
  const auto limit = hn::Set(df, 88.0f);
  const auto swish_times_up = [&](const float* g_in, const float* u, float* out) HWY_ATTR {
    const auto g = hn::LoadU(df, g_in);
    const auto e = hn::Exp(df, hn::Min(hn::Neg(g), limit));
    hn::StoreU(hn::Mul(hn::Div(g, hn::Add(one, e)), hn::LoadU(df, u)), df, out);
  };
  int64_t i = 0;
  for (; i + N <= n; i += N) swish_times_up(gate + i, up + i, gate + i);
  if (i < n) {
    HWY_ALIGN float g[hn::MaxLanes(DF())] = {};
    HWY_ALIGN float u[hn::MaxLanes(DF())] = {};
    std::copy(gate + i, gate + n, g);
    std::copy(up + i, up + n, u);
    swish_times_up(g, u, g);
    std::copy(g, g + (n - i), gate + i);
  }
}

void FloatsToHalvesImpl(const float* x, int64_t n, uint16_t* halves) {
#if !HWY_ARCH_X86 || HWY_TARGET == HWY_SCALAR
  // Only x86's conversion instruction (F16C, AVX-512) is known to round to nearest even here: the
  // scalar target of Highway 1.0 truncates.
  for (int64_t i = 0; i < n; ++i) halves[i] = FloatToHalf(x[i]);
#else
  const DF df;
  const hn::Rebind<hwy::float16_t, DF> dh;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  auto* out = reinterpret_cast<hwy::float16_t*>(halves);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::DemoteTo(dh, hn::LoadU(df, x + i)), dh, out + i);
  if (i < n) {  // the tail through padded copies
    HWY_ALIGN float tail[hn::MaxLanes(DF())] = {};
    HWY_ALIGN hwy::float16_t tail_halves[hn::MaxLanes(DF())];
    std::copy(x + i, x + n, tail);
    hn::Store(hn::DemoteTo(dh, hn::Load(df, tail)), dh, tail_halves);
    std::copy(tail_halves, tail_halves + (n - i), out + i);
  }
#endif
}

SoftmaxPart PartialSoftmaxImpl(float* row, int64_t n, float scale) {
  const DF df;
  const auto vscale = hn::Set(df, scale);
  auto vmax = hn::Set(df, -std::numeric_limits<float>::infinity());
  ForEachVector(row, n, -std::numeric_limits<float>::infinity(), [&](float* p) HWY_ATTR {
    vmax = hn::Max(vmax, hn::Mul(hn::LoadU(df, p), vscale));
  });
  const float max = hn::GetLane(hn::MaxOfLanes(df, vmax));
  const auto vmax_all = hn::Set(df, max);
  auto vsum = hn::Zero(df);
  // Padding scores -inf: e^(-inf) = 0 adds nothing to the sum.
  ForEachVector(row, n, -std::numeric_limits<float>::infinity(), [&](float* p) HWY_ATTR {
    const auto e = hn::Exp(df, hn::Sub(hn::Mul(hn::LoadU(df, p), vscale), vmax_all));
    vsum = hn::Add(vsum, e);
    hn::StoreU(e, df, p);
  });
  return {max, hn::GetLane(hn::SumOfLanes(df, vsum))};
}

void MaskedSoftmaxImpl(float* row, int64_t first, int64_t last, int64_t width, float scale) {
  const DF df;
  float* live = row + first;
  const int64_t n = last - first + 1;
  const auto inv = hn::Set(df, 1.0f / PartialSoftmaxImpl(live, n, scale).sum);
  ForEachVector(live, n, 0.0f, [&](float* p) HWY_ATTR { hn::StoreU(hn::Mul(hn::LoadU(df, p), inv), df, p); });
  std::fill(row, row + first, 0.0f);
  std::fill(row + last + 1, row + width, 0.0f);
}

double LogSumExpImpl(const float* x, int64_t n) {
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  const float kNegInf = -std::numeric_limits<float>::infinity();
  const float max = MaxOfRow(x, n);
  const auto vm = hn::Set(df, max);
  // Each vector's exps summed in float (N terms), the running total in double: rows of 50k logits.
  double total = 0;
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    total += static_cast<double>(hn::GetLane(hn::SumOfLanes(df, hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vm)))));
  }
  if (i < n) {
    HWY_ALIGN float tail[hn::MaxLanes(DF())];
    std::fill(tail, tail + N, kNegInf);
    std::copy(x + i, x + n, tail);
    total += static_cast<double>(hn::GetLane(hn::SumOfLanes(df, hn::Exp(df, hn::Sub(hn::Load(df, tail), vm)))));
  }
  return static_cast<double>(max) + std::log(total);
}

int64_t ArgMaxImpl(const float* x, int64_t n) {
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  // The largest value, then its first position.
  const auto target = hn::Set(df, MaxOfRow(x, n));
  const float max = hn::GetLane(target);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const intptr_t lane = hn::FindFirstTrue(df, hn::Eq(hn::LoadU(df, x + i), target));
    if (lane >= 0) return i + lane;
  }
  for (; i < n; ++i) {
    if (x[i] == max) return i;
  }
  return 0;  // every value NaN
}

}  // namespace llmc::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace llmc {
namespace kernels {
HWY_EXPORT(SwiGluImpl);
HWY_EXPORT(FloatsToHalvesImpl);
HWY_EXPORT(PartialSoftmaxImpl);
HWY_EXPORT(MaskedSoftmaxImpl);
HWY_EXPORT(LogSumExpImpl);
HWY_EXPORT(ArgMaxImpl);
}  // namespace kernels

void SwiGlu(float* gate, const float* up, int64_t n) { HWY_DYNAMIC_DISPATCH(kernels::SwiGluImpl)(gate, up, n); }

void MaskedSoftmax(float* row, int64_t first, int64_t last, int64_t width, float scale) {
  HWY_DYNAMIC_DISPATCH(kernels::MaskedSoftmaxImpl)(row, first, last, width, scale);
}

void FloatsToHalves(const float* x, int64_t n, uint16_t* halves) {
  HWY_DYNAMIC_DISPATCH(kernels::FloatsToHalvesImpl)(x, n, halves);
}

SoftmaxPart PartialSoftmax(float* row, int64_t n, float scale) {
  return HWY_DYNAMIC_DISPATCH(kernels::PartialSoftmaxImpl)(row, n, scale);
}

double LogSumExp(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(kernels::LogSumExpImpl)(x, n); }

int64_t ArgMax(const float* x, int64_t n) { return n <= 0 ? -1 : HWY_DYNAMIC_DISPATCH(kernels::ArgMaxImpl)(x, n); }
}  // namespace llmc
#endif
