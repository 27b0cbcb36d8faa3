// The kernel front: thread and activation settings, preparing activations once per call (padding,
// per-group sums, int8 copies with per-block scales), and splitting output rows over threads
// (RunOnThreads: a decode step's thread team, or an OpenMP region).
// The per-target files (*_hwy.cc, gemv_x86_*.cc) only compute. Every output is computed by one thread
// in a fixed order, so results do not depend on the thread count.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <span>
#include <vector>

#include "core/thread_team.h"
#include "kernels/gemv_x86.h"
#include "kernels/kernels_internal.h"
#include "kernels/row_split.h"
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
  for (int64_t g = 0, b = 0; g < groups; ++g) {
    for (const int64_t end = std::min(blocks, b + blocks_per_group); b < end; ++b) qa.group_sums[g] += qa.block_sums[b];
  }
}

// The int8 forms of one MatMulMany call's decode input: its weights (q, k and v; gate and up) share
// a form when they share groups and code width, so x is quantized once per call (and reordered once
// per code width on x86). The buffers are kept per thread from call to call.
class DecodeInputs {
 public:
  struct Form {
    QuantizedActivations qa;
    kernels::x86::Activations xa;  // bits != 0 only
    int64_t group_size = 0, groups = 0;
    int bits = 0;  // the code width xa is ordered for; 0: none
    bool valid = false;
  };

  // Starts a call on x[0, cols): the forms of the previous call are forgotten.
  void Use(const float* x, int64_t cols) {
    x_ = x;
    cols_ = cols;
    for (const auto& f : forms_) f->valid = false;
  }

  // x quantized for w's groups and, where isa applies, reordered for w's codes; valid until the next
  // Use.
  const Form& For(const WeightTensor& w, kernels::x86::Isa isa) {
    const int64_t gs = w.quant.group_size, groups = w.groups_per_row();
    const int bits = isa != kernels::x86::Isa::kNone ? w.quant.bits : 0;
    Form* free = nullptr;
    for (const auto& f : forms_) {
      if (f->valid && f->group_size == gs && f->groups == groups && f->bits == bits) return *f;
      if (!f->valid) free = f.get();
    }
    Form& f = free != nullptr ? *free : *forms_.emplace_back(std::make_unique<Form>());
    QuantizeActivations(x_, cols_, kernels::PaddedCols(cols_), gs, groups, f.qa);
    if (bits != 0) {
      kernels::MatMulArgs a;
      a.cols = cols_;
      a.xq = f.qa.q.data();
      a.xq_block_scales = f.qa.block_scales.data();
      kernels::x86::PrepareActivations(isa, a, bits, f.xa);
    }
    f.group_size = gs;
    f.groups = groups;
    f.bits = bits;
    f.valid = true;
    return f;
  }

 private:
  const float* x_ = nullptr;
  int64_t cols_ = 0;
  std::vector<std::unique_ptr<Form>> forms_;  // stable addresses: jobs point into them
};

// One product of a decode step, ready for the kernels: its arguments and the path that computes it.
struct GemvJob {
  kernels::MatMulArgs a;
  kernels::x86::Isa isa = kernels::x86::Isa::kNone;  // x86 byte dot products (int8 only)
  bool int8 = false;  // int8 activations: the x86 kernels where isa is set, else Highway's int8 path
  const kernels::x86::Activations* xa = nullptr;
  std::vector<float> x_group_sums;  // float path, quantized weights
  int64_t blocks = 0;               // of kGemvRowBlock rows

  void Rows(int64_t r0, int64_t r1) const {
    if (a.w->order == CodeOrder::kTiles16 && isa != kernels::x86::Isa::kAvx512Vnni) return RowsInRowOrder(r0, r1);
    RowsOf(a, r0, r1);
  }

 private:
  void RowsOf(const kernels::MatMulArgs& args, int64_t r0, int64_t r1) const {
    if (isa != kernels::x86::Isa::kNone) {
      kernels::x86::GemvRows(isa, args, *xa, r0, r1);
    } else if (int8) {
      kernels::GemvRowsInt8(args, r0, r1);
    } else {
      kernels::GemvRows(args, r0, r1);
    }
  }

  // A tile-order weight on a path that reads rows as stored (float activations, or a CPU or test
  // target without the AVX-512 VNNI kernel): each block of rows first copied back into row order.
  // The copies are whole fixed blocks, so which rows end a copy (the kernels treat a buffer's last
  // rows differently) does not depend on the thread count.
  void RowsInRowOrder(int64_t r0, int64_t r1) const {
    thread_local std::vector<uint8_t> storage;
    for (int64_t b = r0; b < r1; b += kGemvRowBlock) {
      const int64_t n = std::min(kGemvRowBlock, r1 - b);
      const WeightTensor rows = RowOrderCopy(*a.w, b, b + n, storage);
      kernels::MatMulArgs part = a;
      part.w = &rows;
      part.rows = n;
      part.y = a.y + b;
      RowsOf(part, 0, n);
    }
  }
};

GemvJob PrepareGemv(const WeightTensor& w, const float* x, float* y, DecodeInputs& inputs) {
  GemvJob job;
  kernels::MatMulArgs& a = job.a;
  a.w = &w;
  a.rows = w.rows();
  a.cols = w.cols();
  a.n_tokens = 1;
  a.stride = kernels::PaddedCols(a.cols);
  a.x = x;  // GEMV reads columns [0, cols) only: no padding needed
  a.y = y;
  job.blocks = (a.rows + kGemvRowBlock - 1) / kGemvRowBlock;
  job.int8 = ActivationInt8() && kernels::Int8ActivationsApply(w);
  if (job.int8) {
    // 2/4/8-bit codes on x86: byte dot products against activations reordered once per input.
    job.isa = kernels::x86::IsaFor(w);
    const DecodeInputs::Form& form = inputs.For(w, job.isa);
    a.xq = form.qa.q.data();
    a.xq_block_scales = form.qa.block_scales.data();
    a.xq_group_sums = form.qa.group_sums.data();
    job.xa = &form.xa;
  } else if (w.quantized()) {
    job.x_group_sums = GroupSums(x, a.cols, w.quant.group_size, w.groups_per_row());
    a.x_group_sums = job.x_group_sums.data();
  }
  return job;
}

// The products of one decode input in one parallel step: the jobs' row blocks are numbered one
// after another and each thread takes one contiguous run of them (kernels::RowSplit, sized by the
// threads' finishing times in earlier calls of the same kind), making one kernel call per job it
// touches (per-call setup once per thread, not per block). Runs start on block boundaries, so the
// kernels see the same row groupings whatever the thread count or split.
void RunGemvs(std::span<const GemvJob> jobs, int threads) {
  thread_local kernels::RowSplits splits;  // the calling thread's: its decode team's timings
  int64_t blocks = 0;
  for (const GemvJob& job : jobs) blocks += job.blocks;
  kernels::RowSplit& split = splits.For(blocks, jobs.empty() ? 0 : jobs.front().a.cols);
  std::vector<double> finished(static_cast<size_t>(std::max(threads, 1)));
  int64_t team = 1;
  const auto start = std::chrono::steady_clock::now();
  RunOnThreads(threads, [&](int64_t t, int64_t n) {
    const int64_t first = split.Cut(t, n, blocks), last = split.Cut(t + 1, n, blocks);
    int64_t job_first = 0;  // the job's first block in the numbering
    for (const GemvJob& job : jobs) {
      const int64_t b0 = std::max(first, job_first) - job_first;
      const int64_t b1 = std::min(last, job_first + job.blocks) - job_first;
      if (b0 < b1) job.Rows(b0 * kGemvRowBlock, std::min(job.a.rows, b1 * kGemvRowBlock));
      job_first += job.blocks;
    }
    finished[static_cast<size_t>(t)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (t == 0) team = n;
  });
  split.Learn({finished.data(), static_cast<size_t>(team)}, blocks);
}

void Gemvs(std::span<const MatMulOutput> outs, const float* x) {
  // Reused by this thread's next calls (decode makes hundreds per token: no allocations).
  thread_local DecodeInputs inputs;
  std::vector<GemvJob> jobs;
  jobs.reserve(outs.size());
  int64_t weights = 0;
  if (!outs.empty()) inputs.Use(x, outs[0].w->cols());
  for (const MatMulOutput& o : outs) {
    if (o.w->rows() == 0) continue;
    jobs.push_back(PrepareGemv(*o.w, x, o.y, inputs));
    weights += o.w->numel();
  }
  RunGemvs(jobs, weights < kMinParallelWeights ? 1 : NumThreads());
}

}  // namespace

void MatMul(const WeightTensor& w, const float* x, int64_t n_tokens, float* y) {
  const MatMulOutput out{&w, y};
  MatMulMany({&out, 1}, x, n_tokens);
}

void MatMulMany(std::span<const MatMulOutput> outs, const float* x, int64_t n_tokens) {
  if (n_tokens <= 0) return;
  if (n_tokens == 1) return Gemvs(outs, x);
  for (const MatMulOutput& o : outs) {
    if (o.w->rows() > 0) kernels::GemmWeights(*o.w, x, n_tokens, o.y);
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
