// One decoder layer: pre-norm attention (GQA, RoPE, optional q/k/v bias, q/k norm, sliding window)
// and a pre-norm SwiGLU MLP, each added back onto the residual stream.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "core/thread_team.h"
#include "llmc/kernels.h"
#include "model/transformer.h"

namespace llmc {
namespace {

// Below this many multiply-adds a loop runs on one thread: waking a team costs more than it saves,
// and far more on a loaded machine where a waiting thread may lose its time slice.
constexpr int64_t kMinParallelWork = 1 << 15;

// The vectors of a decode step that were allocated and zero-filled anew in every layer of every
// token (a token's query, new key and value, attention scores and parts, the up projection, the
// products added to the residual): 240 allocations a token, serial work of the main thread while the
// other one waits. Reused instead, one buffer per use and thread: decode about 2–3 % faster in one
// process, alternated (docs/RESULTS.md).
enum class StepBuffer { kScores, kParts, kQuery, kNewKeys, kNewValues, kUp, kDelta, kCount };

// This thread's buffer for `use` in decode, at least n floats, grown as needed and holding what the
// last step left in it: every element must be written before it is read. Not for a RunOnThreads
// function: it runs on other threads too, which have buffers of their own.
float* DecodeBuffer(StepBuffer use, size_t n) {
  thread_local std::array<std::vector<float>, static_cast<size_t>(StepBuffer::kCount)> buffers;
  std::vector<float>& buffer = buffers[static_cast<size_t>(use)];
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

// n floats for `use`: DecodeBuffer for one token; otherwise (prefill, which must not leave a
// prompt-sized buffer behind) `owned`, resized to n zeros.
float* BufferFor(StepBuffer use, int64_t n_tokens, size_t n, std::vector<float>& owned) {
  if (n_tokens == 1) return DecodeBuffer(use, n);
  owned.resize(n);
  return owned.data();
}

// fn(i) for i < n, over the threads (contiguous runs of i) when `parallel`, else in a plain loop on
// this thread: an OpenMP construct that ends up running on one thread still costs about 0.4 µs (more
// when nested), and decode meets a few such small loops per layer.
template <class Fn>
void ForEach(int64_t n, bool parallel, const Fn& fn) {
  if (!parallel) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  RunOnThreads(NumThreads(), [&](int64_t t, int64_t threads) {
    for (int64_t i = n * t / threads; i < n * (t + 1) / threads; ++i) fn(i);
  });
}

// out = x * rsqrt(mean(x²) + eps) * w per row of `dim` floats; the mean is taken in double, in four
// interleaved partial sums (one chain would wait on every add).
void RmsNorm(const float* x, const float* w, int64_t rows, int64_t dim, double eps, float* out) {
  ForEach(rows, rows * dim > kMinParallelWork, [&](int64_t r) {
    const float* xr = x + r * dim;
    double sum_sq[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= dim; i += 4) {
      for (int j = 0; j < 4; ++j) sum_sq[j] += static_cast<double>(xr[i + j]) * xr[i + j];
    }
    for (; i < dim; ++i) sum_sq[0] += static_cast<double>(xr[i]) * xr[i];
    const double total = (sum_sq[0] + sum_sq[1]) + (sum_sq[2] + sum_sq[3]);
    const auto inv_rms = static_cast<float>(1.0 / std::sqrt(total / static_cast<double>(dim) + eps));
    float* o = out + r * dim;
    for (i = 0; i < dim; ++i) o[i] = (xr[i] * inv_rms) * w[i];
  });
}

void AddBias(const WeightTensor* bias, int64_t rows, float* y) {
  if (bias == nullptr) return;
  const float* b = bias->data.as<float>();
  const int64_t dim = bias->cols();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < dim; ++i) y[r * dim + i] += b[i];
  }
}

void AddInto(float* acc, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += x[i];
}

// Queries per prefill attention work item: their scores against every visible key stay in L2.
constexpr int64_t kQueryBlock = 64;

struct AttentionShape {
  int64_t heads, kv_heads, head_dim;
  int64_t window;  // sliding window (0: none)
};

// Attention of n_tokens > 1 new queries (prefill, calibration): per query head and block of
// kQueryBlock queries, the scores against every key up to the block's last position are one GEMM,
// the causal (and sliding-window) softmax is taken row by row, and the outputs are a second GEMM
// against the transposed values. One thread computes each (head, block) item, so results do not
// depend on the thread count.
void AttendPrefill(const AttentionShape& s, const float* q, int64_t n_tokens, const KvView& kv, float* out) {
  const int64_t d = s.head_dim;
  const int64_t q_dim = s.heads * d;
  const int64_t kv_dim = s.kv_heads * d;
  const int64_t keys = kv.past + n_tokens;
  // Every KV head's keys as float rows (read in place, or a half cache widened once per call), and
  // the values transposed, values_t[h * d + c][j] = V_h[j][c]: the value product reads each output
  // column's values contiguously.
  std::vector<float> widened_keys(kv.half() ? static_cast<size_t>(kv_dim * keys) : 0);
  std::vector<float> widened_values(kv.half() ? static_cast<size_t>(keys * d) : 0);
  std::vector<const float*> head_keys(static_cast<size_t>(s.kv_heads));
  std::vector<float> values_t(static_cast<size_t>(kv_dim * keys));
  for (int64_t h = 0; h < s.kv_heads; ++h) {
    head_keys[h] = kv.KeysAsFloats(h, keys, d, widened_keys.data() + (kv.half() ? h * keys * d : 0));
    const float* v = kv.ValuesAsFloats(h, keys, d, widened_values.data());
    for (int64_t j = 0; j < keys; ++j) {
      for (int64_t c = 0; c < d; ++c) values_t[static_cast<size_t>((h * d + c) * keys + j)] = v[j * d + c];
    }
  }
  const int64_t blocks = (n_tokens + kQueryBlock - 1) / kQueryBlock;
  const int64_t group = s.heads / s.kv_heads;
  const auto scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  const int64_t work = s.heads * n_tokens * keys * d;
#pragma omp parallel num_threads(NumThreads()) if (work > kMinParallelWork)
  {
    std::vector<float> scores(static_cast<size_t>(kQueryBlock * keys));
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t h = 0; h < s.heads; ++h) {
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t t0 = b * kQueryBlock;
        const int64_t rows = std::min(kQueryBlock, n_tokens - t0);
        const int64_t visible = kv.past + t0 + rows;
        const int64_t kv_head = h / group;
        MatMulF32(q + t0 * q_dim + h * d, q_dim, head_keys[kv_head], d, scores.data(), visible, rows, visible, d);
        for (int64_t i = 0; i < rows; ++i) {
          const int64_t pos = kv.past + t0 + i;
          // Sliding window (transformers' mask): key j is visible to query i when i - window < j <= i.
          const int64_t first = s.window > 0 ? std::max<int64_t>(0, pos - s.window + 1) : 0;
          MaskedSoftmax(scores.data() + i * visible, first, pos, visible, scale);
        }
        MatMulF32(scores.data(), visible, values_t.data() + kv_head * d * keys, keys, out + t0 * q_dim + h * d,
                  q_dim, rows, d, visible);
      }
    }
  }
}

// Attention of one new query (decode), split over the keys as flash-decoding does: each item takes
// one range of the visible keys for the query heads of one key-value head (GQA: each cached row is
// read once for all of them), and computes their scores (DotRows, contiguous in the head-major
// cache), the softmax of that range (PartialSoftmax) and the value sum it weights (WeightedRowSum),
// reading the same rows of keys and values. The parts are merged at the end with the softmax
// correction. Items are independent: one parallel loop, no barrier between the three steps. The
// ranges are fixed halves, so results do not depend on the thread count. Where there are fewer
// (KV head, half) items than threads (few KV heads, many threads) a KV head's query heads go in
// several runs: a query's result does not depend on which others share its run. T: float, or
// uint16_t for a half cache (the kernels widen it).
template <class T>
void AttendDecode(const AttentionShape& s, const float* q, const KvView& kv, const T* keys, const T* values,
                  float* out) {
  constexpr int64_t kParts = 2;
  const int64_t d = s.head_dim;
  const int64_t pos = kv.past;
  // Sliding window (transformers' mask): key j is visible when pos - window < j <= pos.
  const int64_t first = s.window > 0 ? std::max<int64_t>(0, pos - s.window + 1) : 0;
  const int64_t visible = pos - first + 1;
  const int64_t group = s.heads / s.kv_heads;  // query heads kv_head * group + i share the kv head
  const int64_t runs = std::min(group, (NumThreads() + s.kv_heads * kParts - 1) / (s.kv_heads * kParts));
  struct Item {
    int64_t kv_head, part, head, heads;  // query heads [head, head + heads) of kv_head, key range `part`
  };
  const auto item_at = [&](int64_t i) {
    const int64_t kv_head = i / (kParts * runs), part = i / runs % kParts, run = i % runs;
    const int64_t h0 = group * run / runs, h1 = group * (run + 1) / runs;
    return Item{kv_head, part, kv_head * group + h0, h1 - h0};
  };
  const int64_t items = s.kv_heads * kParts * runs;
  const auto scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  // Per part and query head: the exps of its key range, its softmax part and its unnormalised output.
  float* exps = DecodeBuffer(StepBuffer::kScores, static_cast<size_t>(s.heads * visible));
  std::vector<SoftmaxPart> softmax(static_cast<size_t>(kParts * s.heads));
  float* partial = DecodeBuffer(StepBuffer::kParts, static_cast<size_t>(kParts * s.heads * d));
  ForEach(items, s.heads * visible * d > kMinParallelWork, [&](int64_t i) {
    const Item it = item_at(i);
    const int64_t k0 = visible * it.part / kParts, k1 = visible * (it.part + 1) / kParts;
    float* e = exps + it.head * visible + k0;
    DotRows(q + it.head * d, it.heads, keys + kv.At(it.kv_head, first + k0, d), d, k1 - k0, d, e, visible);
    for (int64_t h = 0; h < it.heads; ++h) {
      softmax[static_cast<size_t>(it.part * s.heads + it.head + h)] = PartialSoftmax(e + h * visible, k1 - k0, scale);
    }
    WeightedRowSum(e, visible, it.heads, values + kv.At(it.kv_head, first + k0, d), d, k1 - k0, d,
                   partial + (it.part * s.heads + it.head) * d, d);
  });
  for (int64_t h = 0; h < s.heads; ++h) {
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t p = 0; p < kParts; ++p) max = std::max(max, softmax[static_cast<size_t>(p * s.heads + h)].max);
    float weights[kParts];
    float total = 0.0f;
    for (int64_t p = 0; p < kParts; ++p) {
      const SoftmaxPart& part = softmax[static_cast<size_t>(p * s.heads + h)];
      // An empty range (one visible key: the first half has none) weighs nothing.
      weights[p] = part.max == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp(part.max - max);
      total += weights[p] * part.sum;
    }
    for (int64_t c = 0; c < d; ++c) {
      float acc = 0.0f;
      for (int64_t p = 0; p < kParts; ++p) acc += weights[p] * partial[(p * s.heads + h) * d + c];
      out[h * d + c] = acc / total;
    }
  }
}

}  // namespace

void TransformerModel::Observe(const WeightTensor& w, const float* x, int64_t n_tokens) const {
  if (observer_) observer_(w.name, x, n_tokens, w.cols());
}

void TransformerModel::Attention(int64_t layer, const float* normed, int64_t n_tokens, KvView kv, float* out) {
  const LayerWeights& lw = layers_[static_cast<size_t>(layer)];
  const int64_t head_dim = config_.head_dim;
  const int64_t n_heads = config_.num_heads;
  const int64_t n_kv = config_.num_kv_heads;
  const int64_t kv_dim = n_kv * head_dim;
  const int64_t q_dim = n_heads * head_dim;
  std::vector<float> owned_q, owned_keys, owned_values;
  float* q = BufferFor(StepBuffer::kQuery, n_tokens, static_cast<size_t>(n_tokens * q_dim), owned_q);
  // The new tokens' keys and values as the projections give them, [token][kv_dim], until they are
  // rotated and go into the head-major cache.
  const auto kv_floats = static_cast<size_t>(n_tokens * kv_dim);
  float* new_keys = BufferFor(StepBuffer::kNewKeys, n_tokens, kv_floats, owned_keys);
  float* new_values = BufferFor(StepBuffer::kNewValues, n_tokens, kv_floats, owned_values);
  const MatMulOutput qkv[] = {{lw.q_proj, q}, {lw.k_proj, new_keys}, {lw.v_proj, new_values}};
  MatMulMany(qkv, normed, n_tokens);
  AddBias(lw.q_bias, n_tokens, q);
  AddBias(lw.k_bias, n_tokens, new_keys);
  AddBias(lw.v_bias, n_tokens, new_values);
  const double eps = config_.rms_norm_eps;
  ForEach(n_tokens, n_tokens * q_dim > kMinParallelWork, [&](int64_t t) {
    float* qt = q + t * q_dim;
    float* kt = new_keys + t * kv_dim;
    if (lw.q_norm != nullptr) {  // Qwen3: each head normalised before the rotation
      RmsNorm(qt, lw.q_norm->data.as<float>(), n_heads, head_dim, eps, qt);
      RmsNorm(kt, lw.k_norm->data.as<float>(), n_kv, head_dim, eps, kt);
    }
    rope_.Apply(qt, n_heads, kt, n_kv, kv.past + t);
    for (int64_t h = 0; h < n_kv; ++h) {
      kv.Put(h, kv.past + t, head_dim, kt + h * head_dim, new_values + t * kv_dim + h * head_dim);
    }
  });
  const AttentionShape shape{n_heads, n_kv, head_dim, config_.sliding_window};
  if (n_tokens > 1) {
    AttendPrefill(shape, q, n_tokens, kv, out);
  } else if (kv.half()) {
    AttendDecode(shape, q, kv, kv.half_keys, kv.half_values, out);
  } else {
    AttendDecode(shape, q, kv, kv.keys, kv.values, out);
  }
}

void TransformerModel::GatedActivation(int64_t layer, const float* normed, int64_t n_tokens, float* out) {
  const LayerWeights& lw = layers_[static_cast<size_t>(layer)];
  const int64_t n = n_tokens * config_.intermediate_size;
  std::vector<float> owned_up;
  float* up = BufferFor(StepBuffer::kUp, n_tokens, static_cast<size_t>(n), owned_up);
  const MatMulOutput gate_up[] = {{lw.gate_proj, out}, {lw.up_proj, up}};
  MatMulMany(gate_up, normed, n_tokens);
  // Whole blocks per thread (the kernel's result per element does not depend on the cut).
  constexpr int64_t kBlock = 4096;
  ForEach((n + kBlock - 1) / kBlock, n > kMinParallelWork, [&](int64_t b) {
    SwiGlu(out + b * kBlock, up + b * kBlock, std::min(kBlock, n - b * kBlock));
  });
}

Status TransformerModel::RunLayer(int64_t layer, std::span<const LayerRun> runs, const StageHook& before_stage) {
  const LayerWeights& lw = layers_[static_cast<size_t>(layer)];
  const int64_t d = config_.hidden_size;
  const int64_t q_dim = config_.num_heads * config_.head_dim;
  const int64_t ffn = config_.intermediate_size;
  const double eps = config_.rms_norm_eps;
  // x[s]: sequence s's input to the current stage, shown to the observer once per weight reading it.
  std::vector<std::vector<float>> x(runs.size());
  const auto observe = [&](std::initializer_list<const WeightTensor*> weights, size_t s) {
    for (const WeightTensor* w : weights) Observe(*w, x[s].data(), runs[s].n_tokens);
  };
  const auto stage_done = [&](std::initializer_list<const WeightTensor*> weights) -> Status {
    if (!before_stage) return Status::OK();
    std::vector<std::string> names;
    for (const WeightTensor* w : weights) names.push_back(w->name);
    return before_stage(names);
  };
  const auto add_linear = [&](const WeightTensor& w, size_t s) {  // residual += W x[s]
    const LayerRun& r = runs[s];
    std::vector<float> owned_delta;
    float* delta = BufferFor(StepBuffer::kDelta, r.n_tokens, static_cast<size_t>(r.n_tokens * d), owned_delta);
    MatMul(w, x[s].data(), r.n_tokens, delta);
    AddInto(r.hidden, delta, r.n_tokens * d);
  };

  for (size_t s = 0; s < runs.size(); ++s) {
    x[s].resize(static_cast<size_t>(runs[s].n_tokens * d));
    RmsNorm(runs[s].hidden, lw.input_norm->data.as<float>(), runs[s].n_tokens, d, eps, x[s].data());
    observe({lw.q_proj, lw.k_proj, lw.v_proj}, s);
  }
  LLMC_RETURN_IF_ERROR(stage_done({lw.q_proj, lw.k_proj, lw.v_proj}));
  for (size_t s = 0; s < runs.size(); ++s) {
    std::vector<float> attn(static_cast<size_t>(runs[s].n_tokens * q_dim));
    Attention(layer, x[s].data(), runs[s].n_tokens, runs[s].kv, attn.data());
    x[s] = std::move(attn);
    observe({lw.o_proj}, s);
  }
  LLMC_RETURN_IF_ERROR(stage_done({lw.o_proj}));
  for (size_t s = 0; s < runs.size(); ++s) {
    add_linear(*lw.o_proj, s);
    x[s].resize(static_cast<size_t>(runs[s].n_tokens * d));
    RmsNorm(runs[s].hidden, lw.post_attention_norm->data.as<float>(), runs[s].n_tokens, d, eps, x[s].data());
    observe({lw.gate_proj, lw.up_proj}, s);
  }
  LLMC_RETURN_IF_ERROR(stage_done({lw.gate_proj, lw.up_proj}));
  for (size_t s = 0; s < runs.size(); ++s) {
    std::vector<float> act(static_cast<size_t>(runs[s].n_tokens * ffn));
    GatedActivation(layer, x[s].data(), runs[s].n_tokens, act.data());
    x[s] = std::move(act);
    observe({lw.down_proj}, s);
  }
  LLMC_RETURN_IF_ERROR(stage_done({lw.down_proj}));
  for (size_t s = 0; s < runs.size(); ++s) {
    add_linear(*lw.down_proj, s);
    x[s] = {};  // free as we go: the stage buffers of all sequences are the bulk of the memory
  }
  return Status::OK();
}

void TransformerModel::FinalNorm(const float* hidden, int64_t n_tokens, float* normed) const {
  RmsNorm(hidden, final_norm_->data.as<float>(), n_tokens, config_.hidden_size, config_.rms_norm_eps, normed);
}

}  // namespace llmc
