// The kernel front: thread and activation settings, preparing activations once per call (padding,
// per-group sums, int8 copies), and splitting output rows over OpenMP threads. The per-target files
// (*_hwy.cc) only compute. Every output is computed by one thread in a fixed order, so results do not
// depend on the thread count.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/gemv_x86.h"
#include "kernels/kernels_internal.h"
#include "llmc/kernels.h"

namespace llmc {
namespace {

std::atomic<int> g_num_threads{0};  // 0: all hardware threads
std::atomic<bool> g_activation_int8{false};

// Below this many weights a call is too short to pay for waking threads.
constexpr int64_t kMinParallelWeights = 1 << 15;
// Rows per GEMV work item: large enough to amortise per-item setup (unpack tables, scale buffer).
constexpr int64_t kGemvRowBlock = 16;

int ThreadsFor(const WeightTensor& w) { return w.numel() < kMinParallelWeights ? 1 : NumThreads(); }

// Sum of x over each quantization group of a row, accumulated in Acc.
template <typename Acc, typename T>
std::vector<Acc> GroupSums(const T* x, int64_t cols, int64_t group_size, int64_t groups) {
  std::vector<Acc> sums(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) {
    Acc acc = 0;
    for (int64_t c = g * group_size; c < std::min(cols, (g + 1) * group_size); ++c) acc += x[c];
    sums[g] = acc;
  }
  return sums;
}

// Symmetric per-token int8 quantization: x ≈ scale * q with q in [-127, 127]. All-zero x gives scale 0;
// a NaN or infinite x gives scale NaN, so y is NaN as on the float path.
float QuantizeActivations(const float* x, int64_t cols, int16_t* q) {
  float max_abs = 0.0f;
  bool finite = true;
  for (int64_t c = 0; c < cols; ++c) {
    finite = finite && std::isfinite(x[c]);
    max_abs = std::max(max_abs, std::fabs(x[c]));
  }
  if (!finite || max_abs == 0.0f) {
    std::fill(q, q + cols, int16_t{0});
    return finite ? 0.0f : std::numeric_limits<float>::quiet_NaN();
  }
  const float inv = 127.0f / max_abs;
  for (int64_t c = 0; c < cols; ++c) q[c] = static_cast<int16_t>(std::lrint(x[c] * inv));
  return max_abs / 127.0f;
}

void Gemv(const WeightTensor& w, const float* x, float* y) {
  kernels::MatMulArgs a;
  a.w = &w;
  a.rows = w.rows();
  a.cols = w.cols();
  a.n_tokens = 1;
  a.stride = kernels::PaddedCols(a.cols);
  a.x = x;  // GEMV reads columns [0, cols) only: no padding needed
  a.y = y;
  const bool int8 = w.quantized() && ActivationInt8();
  const int64_t gs = w.quant.group_size;
  const int64_t groups = w.groups_per_row();
  std::vector<float> x_group_sums;
  std::vector<int16_t> xq;
  std::vector<int32_t> xq_group_sums;
  float xq_scale = 0.0f;
  // 2/4-bit codes on x86: byte dot products against activations reordered once per call.
  const kernels::x86::Isa x86_isa = int8 ? kernels::x86::IsaFor(w) : kernels::x86::Isa::kNone;
  std::vector<int8_t> xa;
  if (int8) {
    xq.assign(static_cast<size_t>(a.stride), 0);
    xq_scale = QuantizeActivations(x, a.cols, xq.data());
    xq_group_sums = GroupSums<int32_t>(xq.data(), a.cols, gs, groups);
    a.xq = xq.data();
    a.xq_scale = &xq_scale;
    a.xq_group_sums = xq_group_sums.data();
    if (x86_isa != kernels::x86::Isa::kNone) {
      xa.resize(static_cast<size_t>(kernels::x86::InterleavedBytes(a.cols, w.quant.bits)));
      kernels::x86::InterleaveActivations(xq.data(), a.cols, w.quant.bits, xa.data());
    }
  } else if (w.quantized()) {
    x_group_sums = GroupSums<float>(x, a.cols, gs, groups);
    a.x_group_sums = x_group_sums.data();
  }
  const int64_t blocks = (a.rows + kGemvRowBlock - 1) / kGemvRowBlock;
#pragma omp parallel for schedule(static) num_threads(ThreadsFor(w))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t r0 = b * kGemvRowBlock;
    const int64_t r1 = std::min(a.rows, r0 + kGemvRowBlock);
    if (x86_isa != kernels::x86::Isa::kNone) {
      kernels::x86::GemvRows(x86_isa, a, xa.data(), r0, r1);
    } else if (int8) {
      kernels::GemvRowsInt8(a, r0, r1);
    } else {
      kernels::GemvRows(a, r0, r1);
    }
  }
}

}  // namespace

void MatMul(const WeightTensor& w, const float* x, int64_t n_tokens, float* y) {
  if (n_tokens <= 0 || w.rows() == 0) return;
  if (n_tokens == 1) {
    Gemv(w, x, y);
  } else {
    kernels::GemmWeights(w, x, n_tokens, y);
  }
}

void GetRow(const WeightTensor& w, int64_t row, float* out) { kernels::DecodeRows(w, row, row + 1, out); }

void SetNumThreads(int n) { g_num_threads = std::max(0, n); }

int NumThreads() {
  const int n = g_num_threads;
  return n > 0 ? n : omp_get_num_procs();
}

void SetActivationInt8(bool on) { g_activation_int8 = on; }
bool ActivationInt8() { return g_activation_int8; }

const char* KernelTarget() { return kernels::DispatchedTargetName(); }

}  // namespace llmc
