// The machine's ceilings. BM_MemoryRead, its memory read bandwidth: summing a 1 GiB array (far beyond
// the L3) with 1 and 2 threads. The ceiling that a memory-bound GEMV (kernels_benchmark.cc, BM_GemvStream) and decode
// (bench/speed.sh's bound) are measured against, so the sum must read as fast as this CPU can: the
// widest vectors Highway finds at run time, four independent accumulators, and software prefetch as
// the GEMV kernels use it. (A plain loop, which the compiler vectorises for SSE2 only, read at about
// half the rate on this project's VM and made the bound too easy: FP16 decode "beat" it.)
// BM_FmaPeak, one core's float multiply-add throughput (GFLOP/s), the ceiling of the one-thread GEMM
// benchmarks (gemm_benchmark.cc): ten independent chains of the widest vectors, enough to cover the
// FMA latency on two units, each started from its own value so that no compiler can merge them.
// Plain std::thread: the bench target does not link OpenMP.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <thread>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench/bandwidth_benchmark.cc"
#include "core/huge_pages.h"
#include "kernels/hwy_targets.h"
#include "hwy/cache_control.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace llmc::bench::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sum of p[0, n) modulo 2^32, n a multiple of 4 vectors; prefetches 2 kB ahead (never faulting).
uint32_t SumImpl(const uint32_t* p, int64_t n) {
  const hn::ScalableTag<uint32_t> d;
  const auto N = static_cast<int64_t>(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  for (int64_t i = 0; i < n; i += 4 * N) {
    for (int64_t v = 0; v < 4; ++v) hwy::Prefetch(p + i + v * N + 512);  // every line of the step
    a0 = hn::Add(a0, hn::LoadU(d, p + i));
    a1 = hn::Add(a1, hn::LoadU(d, p + i + N));
    a2 = hn::Add(a2, hn::LoadU(d, p + i + 2 * N));
    a3 = hn::Add(a3, hn::LoadU(d, p + i + 3 * N));
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
}

// Runs `steps` steps of ten independent multiply-add chains; returns the flops done (the chains' sum
// goes to *sink, so that the work cannot be dropped).
double FmaChainsImpl(int64_t steps, float* sink) {
  const hn::ScalableTag<float> d;
  constexpr int kChains = 10;
  const auto x = hn::Set(d, 0.999999f), y = hn::Set(d, 1e-7f);
  hn::Vec<decltype(d)> acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = hn::Set(d, 1.0f + static_cast<float>(c));
  for (int64_t i = 0; i < steps; ++i) {
    for (auto& a : acc) a = hn::MulAdd(a, x, y);
  }
  auto total = acc[0];
  for (int c = 1; c < kChains; ++c) total = hn::Add(total, acc[c]);
  *sink = hn::GetLane(hn::SumOfLanes(d, total));
  return 2.0 * kChains * static_cast<double>(hn::Lanes(d)) * static_cast<double>(steps);
}

}  // namespace llmc::bench::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace llmc::bench {
HWY_EXPORT(SumImpl);
HWY_EXPORT(FmaChainsImpl);
namespace {

uint32_t Sum(const uint32_t* p, int64_t n) { return HWY_DYNAMIC_DISPATCH(SumImpl)(p, n); }

// Runs fn(begin, end) on `threads` threads over equal slices of [0, n).
template <typename Fn>
void ForSlices(int threads, int64_t n, Fn fn) {
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(fn, n * t / threads, n * (t + 1) / threads);
  for (auto& th : pool) th.join();
}

void BM_MemoryRead(benchmark::State& state) {
  const int64_t n = (int64_t{1} << 30) / static_cast<int64_t>(sizeof(uint32_t));
  const int threads = static_cast<int>(state.range(0));
  // On huge pages, as a loaded model's weights are: with 4 kB pages the same sum read 5–7 % slower
  // here (2 threads), and the bound would be too easy again.
  const HugePageBuffer buffer(static_cast<size_t>(n) * sizeof(uint32_t));
  if (buffer.data() == nullptr) return state.SkipWithError("no memory for the 1 GiB array");
  auto* a = reinterpret_cast<uint32_t*>(buffer.data());
  // Each thread first-touches the slice it will read.
  ForSlices(threads, n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) a[i] = static_cast<uint32_t>(i);
  });
  std::vector<uint32_t> partial(static_cast<size_t>(threads));
  for (auto _ : state) {
    if (threads == 1) {
      partial[0] = Sum(a, n);  // on the timing thread, so CPU time is meaningful on a busy machine
    } else {
      ForSlices(threads, n, [&](int64_t b, int64_t e) { partial[b * threads / n] = Sum(a + b, e - b); });
    }
    benchmark::DoNotOptimize(partial.data());
  }
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(uint32_t)));
}
// One thread: bytes per CPU second of the timing thread (robust when other jobs share the cores).
// Two threads: bytes per wall-clock second.
BENCHMARK(BM_MemoryRead)->Arg(1)->MinTime(1.0);
BENCHMARK(BM_MemoryRead)->Arg(2)->MinTime(1.0)->UseRealTime();

// One core's multiply-add throughput, on the timing thread (GFLOP/s per CPU second).
void BM_FmaPeak(benchmark::State& state) {
  constexpr int64_t kSteps = int64_t{1} << 24;
  float sink = 0;
  double flops = 0;
  for (auto _ : state) {
    flops = HWY_DYNAMIC_DISPATCH(FmaChainsImpl)(kSteps, &sink);
    benchmark::DoNotOptimize(sink);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(flops * static_cast<double>(state.iterations()) / 1e9,
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FmaPeak);

}  // namespace
}  // namespace llmc::bench
#endif  // HWY_ONCE
