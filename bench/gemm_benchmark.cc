// GEMM (prefill, calibration) throughput in GFLOP/s per CPU second of the timing thread, single
// threaded: MatMul of SmolLM2-sized weights against a block of tokens (weight rows decoded per tile,
// so the type matters little), and MatMulF32 on activation-sized operands (attention scores,
// Hessians). Compare with one core's FMA peak, BM_FmaPeak (bandwidth_benchmark.cc).
//   llmc_benchmarks --benchmark_filter='Gemm|MatMulF32'
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "../tests/kernels_test_weights.h"
#include "llmc/kernels.h"

namespace llmc {
namespace {

using testing::RandomActivations;
using testing::RandomWeight;
using testing::WeightCase;

void SetFlops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iteration * static_cast<double>(state.iterations()) / 1e9,
                                                 benchmark::Counter::kIsRate);
}

// Args: weight type (0 f16, 1 int8, 2 int4, 3 int2; asymmetric grid, groups of 128), rows, cols, tokens.
void BM_Gemm(benchmark::State& state) {
  const int64_t type = state.range(0);
  const int bits[] = {0, 8, 4, 2};
  const WeightCase wc = type == 0 ? WeightCase{Encoding::kF16} : WeightCase{Encoding::kQuantized, bits[type],
                                                                            QuantGrid::kAsymmetric, 128};
  const WeightTensor w = RandomWeight(wc, state.range(1), state.range(2), 1);
  const int64_t tokens = state.range(3);
  SetNumThreads(1);
  const std::vector<float> x = RandomActivations(tokens * w.cols(), 2);
  std::vector<float> y(static_cast<size_t>(tokens * w.rows()));
  for (auto _ : state) {
    MatMul(w, x.data(), tokens, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  SetFlops(state, 2.0 * static_cast<double>(w.numel() * tokens));
  state.SetLabel(w.type_name() + " " + ShapeToString(w.shape) + " x " + std::to_string(tokens) + " tokens " +
                 KernelTarget());
  SetNumThreads(0);
}
BENCHMARK(BM_Gemm)->ArgsProduct({{0, 1, 2, 3}, {1536}, {576}, {128}})->Args({0, 576, 1536, 128})->Args({3, 576, 1536, 128});

// Args: m, n, k (c[m][n] = a[m][k] · b[n][k]ᵀ).
void BM_MatMulF32(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  SetNumThreads(1);
  const std::vector<float> a = RandomActivations(m * k, 3);
  const std::vector<float> b = RandomActivations(n * k, 4);
  std::vector<float> c(static_cast<size_t>(m * n));
  for (auto _ : state) {
    MatMulF32(a.data(), k, b.data(), k, c.data(), n, m, n, k);
    benchmark::DoNotOptimize(c.data());
  }
  SetFlops(state, 2.0 * static_cast<double>(m * n * k));
  state.SetLabel(KernelTarget());
  SetNumThreads(0);
}
// {1, 192, 64}: one decode query against 192 cached keys of a 64-wide head.
BENCHMARK(BM_MatMulF32)->Args({512, 576, 576})->Args({512, 512, 64})->Args({576, 576, 512})->Args({1, 192, 64});

}  // namespace
}  // namespace llmc
