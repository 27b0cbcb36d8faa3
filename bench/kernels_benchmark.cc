// GEMV (decode) throughput of the SIMD kernels on SmolLM2-sized matrices, in weight bytes per second
// (codes + scales + zero points): compare with BM_MemoryRead (bandwidth_benchmark.cc).
//   build: cmake -DLLMC_BUILD_BENCH=ON ...; run: llmc_benchmarks --benchmark_filter=Gemv  (GEMM: gemm_benchmark.cc)
// BM_Gemv*      one matrix, warm in cache after the first call (L2/L3-bound for the small ones).
// Single-thread runs report bytes per CPU second of the timing thread (robust when other jobs share
// the cores); two-thread runs report bytes per wall-clock second.
// BM_GemvStream a 256 MiB rotation of [1536, 576] matrices on huge pages: every call reads DRAM, as
//               decoding a model larger than the L3 does. The honest comparison with memory bandwidth.
//               "weights/s" compares types directly (decode tokens/s is proportional to it).
// BM_DecodeAttention one thread's share of a layer's decode attention (scores, softmax parts, value
//               sums over a half-precision KV cache), in cache.
// x-int8 runs (int8 activations, one scale per 32 columns: the decode default) of 2/4/8-bit codes on
// x86 use the byte-dot-product kernels (gemv_x86_*.cc): AVX-512 VNNI where the CPU has it, AVX2 when
// the stream run forces Highway's AVX2 target (last arg 1). Runs without x-int8 are the float path.
// Every weight is in the form a model holds (PrepareForMatMul): 2-bit codes of the x-int8 runs on
// AVX-512 VNNI in tile order, 3-bit codes widened to 4 bits.
#include <benchmark/benchmark.h>

#include <cmath>
#include <string>
#include <vector>

#include "../tests/kernels_test_weights.h"
#include "core/huge_pages.h"
#include "hwy/targets.h"
#include "llmc/kernels.h"

namespace llmc {
namespace {

using testing::RandomActivations;
using testing::RandomWeight;
using testing::WeightCase;

// range(0) selects the weight type: 0 f16, 1 int8, 2 int4, 3 int2 (group 64, asymmetric grid),
// 4 int4, 5 int2 (group 128: llmc quantize's default), 6 int8 with one signed scale per row (the
// default 8-bit token embedding, which is also the tied LM head).
WeightCase TypeCase(int64_t type) {
  if (type == 0) return {Encoding::kF16};
  if (type == 6) return {Encoding::kQuantized, 8, QuantGrid::kSigned, 0};
  const int bits[] = {0, 8, 4, 2, 4, 2};
  return {Encoding::kQuantized, bits[type], QuantGrid::kAsymmetric, type >= 4 ? 128 : 64};
}

void SetWeightsPerSecond(benchmark::State& state, const WeightTensor& w) {
  state.counters["weights/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * w.numel()), benchmark::Counter::kIsRate);
}

size_t WeightBytes(const WeightTensor& w) { return w.data.size() + w.scales.size() + w.zero_points.size(); }

void SetLabel(benchmark::State& state, const WeightTensor& w) {
  state.SetLabel(w.type_name() + " " + ShapeToString(w.shape) + " " + KernelTarget() + " " +
                 std::to_string(NumThreads()) + "t" + (ActivationInt8() ? " x-int8" : ""));
}

// Args: type, rows, cols, threads, int8 activations.
void BM_Gemv(benchmark::State& state) {
  SetNumThreads(static_cast<int>(state.range(3)));
  SetActivationInt8(state.range(4) != 0);
  // The form a model holds (PrepareForMatMul: 2-bit codes in tile order where the AVX-512 kernel reads it).
  const WeightTensor w = PrepareForMatMul(RandomWeight(TypeCase(state.range(0)), state.range(1), state.range(2), 1));
  const std::vector<float> x = RandomActivations(w.cols(), 2);
  std::vector<float> y(static_cast<size_t>(w.rows()));
  for (auto _ : state) {
    MatMul(w, x.data(), 1, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * WeightBytes(w)));
  SetWeightsPerSecond(state, w);
  SetLabel(state, w);
  SetActivationInt8(true);  // the default
}

template <int64_t kThreads>
void GemvArgs(benchmark::internal::Benchmark* b) {
  const std::pair<int64_t, int64_t> shapes[] = {{576, 576}, {1536, 576}, {576, 1536}, {49152, 576}};
  for (int64_t type : {0, 1, 2, 3, 5}) {
    for (auto [rows, cols] : shapes) {
      b->Args({type, rows, cols, kThreads, 0});
      if (type > 0) b->Args({type, rows, cols, kThreads, 1});
    }
  }
  b->Args({6, 49152, 576, kThreads, 1});
}
BENCHMARK(BM_Gemv)->Apply(GemvArgs<1>)->MinTime(0.2);
BENCHMARK(BM_Gemv)->Apply(GemvArgs<2>)->MinTime(0.2)->UseRealTime();

// Args: type, threads, int8 activations, Highway target forced to AVX2 (1) or the best one (0).
void BM_GemvStream(benchmark::State& state) {
  constexpr int64_t kRows = 1536, kCols = 576;
  constexpr size_t kWorkingSet = size_t{256} << 20;
  SetNumThreads(static_cast<int>(state.range(1)));
  SetActivationInt8(state.range(2) != 0);
  hwy::SetSupportedTargetsForTest(state.range(3) != 0 ? HWY_AVX2 : 0);
  const WeightTensor first = PrepareForMatMul(RandomWeight(TypeCase(state.range(0)), kRows, kCols, 1));
  // Copies share nothing, so each call misses the caches; random content does not matter for speed.
  // They lie on huge pages, as a loaded model's weights do (and as BM_MemoryRead's array does).
  WeightArena arena;
  std::vector<WeightTensor> ws;
  for (size_t bytes = 0; bytes < kWorkingSet; bytes += WeightBytes(first)) ws.push_back(arena.Place(first));
  const std::vector<float> x = RandomActivations(kCols, 2);
  std::vector<float> y(kRows);
  size_t i = 0;
  for (auto _ : state) {
    MatMul(ws[i], x.data(), 1, y.data());
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % ws.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * WeightBytes(first)));
  SetWeightsPerSecond(state, first);
  SetLabel(state, first);
  SetActivationInt8(true);  // the default
  hwy::SetSupportedTargetsForTest(0);
}
BENCHMARK(BM_GemvStream)
    ->ArgsProduct({{0, 1, 2, 3, 4, 5}, {1}, {0}, {0}})
    ->ArgsProduct({{1, 2, 3, 4, 5}, {1}, {1}, {0, 1}})
    ->MinTime(0.5);
BENCHMARK(BM_GemvStream)
    ->ArgsProduct({{0, 1, 2, 3}, {2}, {0}, {0}})
    ->ArgsProduct({{1, 2, 3}, {2}, {1}, {0}})
    ->MinTime(0.5)
    ->UseRealTime();

// One thread's share of one layer's decode attention in SmolLM2-135M on two threads, cache warm:
// three (KV head, half of the keys) items, each the scores of the KV head's 3 query heads against
// range(0) cached half-precision keys of 64 (DotRows), their softmax parts (PartialSoftmax) and the
// value sums (WeightedRowSum). 80 keys an item is 160 tokens of context; 512 is 1,024.
void BM_DecodeAttention(benchmark::State& state) {
  constexpr int64_t kItems = 3, kQueries = 3, kHeadDim = 64;
  const int64_t keys = state.range(0);
  std::vector<uint16_t> cache(static_cast<size_t>(2 * kItems * keys * kHeadDim));  // keys, then values
  FloatsToHalves(RandomActivations(static_cast<int64_t>(cache.size()), 1).data(), static_cast<int64_t>(cache.size()),
                 cache.data());
  const std::vector<float> q = RandomActivations(kItems * kQueries * kHeadDim, 2);
  std::vector<float> scores(static_cast<size_t>(kQueries * keys)), out(static_cast<size_t>(kQueries * kHeadDim));
  for (auto _ : state) {
    for (int64_t i = 0; i < kItems; ++i) {
      const uint16_t* k = cache.data() + i * keys * kHeadDim;
      const uint16_t* v = k + kItems * keys * kHeadDim;
      DotRows(q.data() + i * kQueries * kHeadDim, kQueries, k, kHeadDim, keys, kHeadDim, scores.data(), keys);
      for (int64_t h = 0; h < kQueries; ++h) benchmark::DoNotOptimize(PartialSoftmax(scores.data() + h * keys, keys, 0.125f));
      WeightedRowSum(scores.data(), keys, kQueries, v, kHeadDim, keys, kHeadDim, out.data(), kHeadDim);
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetLabel(std::string(KernelTarget()) + ", 3 items of " + std::to_string(keys) + " keys");
}
BENCHMARK(BM_DecodeAttention)->Arg(80)->Arg(512)->MinTime(0.5);

// Accuracy of the int8-activation path (not a speed measure): relative L2 error of y against the
// float path, for Gaussian activations, reported as a counter. Ends on the default (int8).
void BM_Int8ActivationError(benchmark::State& state) {
  const WeightTensor w = RandomWeight(TypeCase(state.range(0)), 1536, 576, 1);
  const std::vector<float> x = RandomActivations(w.cols(), 2);
  std::vector<float> y_float(1536), y_int8(1536);
  for (auto _ : state) {
    SetActivationInt8(false);
    MatMul(w, x.data(), 1, y_float.data());
    SetActivationInt8(true);
    MatMul(w, x.data(), 1, y_int8.data());
  }
  double err = 0, norm = 0;
  for (size_t r = 0; r < y_float.size(); ++r) {
    err += (y_int8[r] - y_float[r]) * static_cast<double>(y_int8[r] - y_float[r]);
    norm += static_cast<double>(y_float[r]) * y_float[r];
  }
  state.counters["rel_l2_error"] = std::sqrt(err / norm);
  SetLabel(state, w);
}
BENCHMARK(BM_Int8ActivationError)->DenseRange(1, 5)->Iterations(1);

}  // namespace
}  // namespace llmc
