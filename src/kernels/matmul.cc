// The kernel front: thread and activation settings, preparing activations once per call (padding,
// per-group sums, int8 copies with per-block scales), and splitting output rows over OpenMP threads.
// The per-target files (*_hwy.cc, gemv_x86_*.cc) only compute. Every output is computed by one thread
// in a fixed order, so results do not depend on the thread count.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "kernels/gemv_x86.h"
#include "kernels/kernels_internal.h"
#include "llmc/kernels.h"

namespace llmc {
namespace {

std::atomic<int> g_num_threads{0};  // 0: all hardware threads
std::atomic<bool> g_activation_int8{true};

// Below this many weights a call is too short to pay for waking threads.
constexpr int64_t kMinParallelWeights = 1 << 15;
// GEMV rows are split between threads in whole blocks of this many rows (a multiple of the kernels'
// row groups: where a thread's rows start never changes how rows are grouped).
constexpr int64_t kGemvRowBlock = 16;

int ThreadsFor(const WeightTensor& w) { return w.numel() < kMinParallelWeights ? 1 : NumThreads(); }

// Sum of x over each quantization group of a row (float path: the hoisted zeros).
std::vector<float> GroupSums(const float* x, int64_t cols, int64_t group_size, int64_t groups) {
  std::vector<float> sums(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) {
    float acc = 0;
    for (int64_t c = g * group_size; c < std::min(cols, (g + 1) * group_size); ++c) acc += x[c];
    sums[g] = acc;
  }
  return sums;
}

// x quantized for the int8 path: x ≈ block_scales[c / 32] * q[c], q in [-127, 127] (padding zero).
struct QuantizedActivations {
  std::vector<int16_t> q;
  std::vector<float> block_scales;
  std::vector<float> block_sums;  // block scale * sum of the block's q
  std::vector<float> group_sums;  // per weight group: sum of its block_sums
};

// Symmetric int8 quantization per block of kActivationBlock columns (the llama.cpp Q8_0 scheme,
// kernels::QuantizeBlocks): a block's scale follows its own largest |x|, so the outlier channels of
// real models cost precision only in their block (one per-token scale moved SmolLM2 int4 perplexity by
// 2.9 %); NaN or inf gives the block scale NaN, so y is NaN as on the float path. qa's buffers are
// reused from call to call (the caller keeps one per thread).
void QuantizeActivations(const float* x, int64_t cols, int64_t stride, int64_t group_size, int64_t groups,
                         QuantizedActivations& qa) {
  using kernels::kActivationBlock;
  qa.q.assign(static_cast<size_t>(stride), 0);
  const int64_t blocks = (cols + kActivationBlock - 1) / kActivationBlock;
  qa.block_scales.resize(static_cast<size_t>(blocks));
  qa.block_sums.resize(static_cast<size_t>(blocks));
  kernels::QuantizeBlocks(x, cols, qa.q.data(), qa.block_scales.data(), qa.block_sums.data());
  // Groups hold whole blocks (Int8ActivationsApply), or one group holds the row.
  const int64_t blocks_per_group = groups == 1 ? blocks : group_size / kActivationBlock;
  qa.group_sums.assign(static_cast<size_t>(groups), 0.0f);
  for (int64_t b = 0; b < blocks; ++b) qa.group_sums[b / blocks_per_group] += qa.block_sums[b];
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
  const bool int8 = ActivationInt8() && kernels::Int8ActivationsApply(w);
  const int64_t gs = w.quant.group_size;
  const int64_t groups = w.groups_per_row();
  std::vector<float> x_group_sums;
  // Reused by this thread's next calls (decode makes hundreds per token: no allocations).
  thread_local QuantizedActivations qa;
  thread_local kernels::x86::Activations xa_buffers;
  // What qa and xa_buffers were made from: q, k and v (gate and up) read the same activations, so
  // a call on the same values, groups and bits reuses them.
  thread_local std::vector<float> qa_x;
  thread_local int64_t qa_group_size = 0, qa_groups = 0;
  thread_local int xa_bits = 0;  // 0: xa_buffers are not from qa
  // The workers below must read this thread's buffers: inside the parallel region the name
  // xa_buffers would be each worker's own (empty) thread_local.
  const kernels::x86::Activations& xa = xa_buffers;
  // 2/4/8-bit codes on x86: byte dot products against activations reordered once per call.
  const kernels::x86::Isa x86_isa = int8 ? kernels::x86::IsaFor(w) : kernels::x86::Isa::kNone;
  if (int8) {
    const bool same_input = qa_group_size == gs && qa_groups == groups &&
                            qa_x.size() == static_cast<size_t>(a.cols) &&
                            std::memcmp(qa_x.data(), x, sizeof(float) * static_cast<size_t>(a.cols)) == 0;
    if (!same_input) {
      QuantizeActivations(x, a.cols, a.stride, gs, groups, qa);
      qa_x.assign(x, x + a.cols);
      qa_group_size = gs;
      qa_groups = groups;
      xa_bits = 0;
    }
    a.xq = qa.q.data();
    a.xq_block_scales = qa.block_scales.data();
    a.xq_group_sums = qa.group_sums.data();
    if (x86_isa != kernels::x86::Isa::kNone && xa_bits != w.quant.bits) {
      kernels::x86::PrepareActivations(a, w.quant.bits, xa_buffers);
      xa_bits = w.quant.bits;
    }
  } else if (w.quantized()) {
    x_group_sums = GroupSums(x, a.cols, gs, groups);
    a.x_group_sums = x_group_sums.data();
  }
  // Each thread takes one contiguous run of whole kGemvRowBlock blocks and makes one kernel call for
  // it (per-call setup once per thread, not per block). Runs start on block boundaries, so the
  // kernels see the same row groupings whatever the thread count.
  const int64_t blocks = (a.rows + kGemvRowBlock - 1) / kGemvRowBlock;
#pragma omp parallel num_threads(ThreadsFor(w))
  {
    const int64_t threads = omp_get_num_threads();
    const int64_t t = omp_get_thread_num();
    const int64_t r0 = blocks * t / threads * kGemvRowBlock;
    const int64_t r1 = std::min(a.rows, blocks * (t + 1) / threads * kGemvRowBlock);
    if (r0 < r1) {
      if (x86_isa != kernels::x86::Isa::kNone) {
        kernels::x86::GemvRows(x86_isa, a, xa, r0, r1);
      } else if (int8) {
        kernels::GemvRowsInt8(a, r0, r1);
      } else {
        kernels::GemvRows(a, r0, r1);
      }
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
