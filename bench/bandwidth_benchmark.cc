// The machine's memory read bandwidth: summing a 1 GiB array (far beyond the L3) with 1 and 2
// threads. The ceiling that a memory-bound GEMV (kernels_benchmark.cc, BM_GemvStream) is measured
// against. Plain std::thread: the bench target does not link OpenMP.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <thread>
#include <vector>

namespace {

// Integer addition is associative, so the compiler vectorises the sum: the loop is load-bound.
uint32_t Sum(const uint32_t* p, int64_t n) {
  uint32_t total = 0;
  for (int64_t i = 0; i < n; ++i) total += p[i];
  return total;
}

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
  std::vector<uint32_t> a(static_cast<size_t>(n));
  // Each thread first-touches the slice it will read.
  ForSlices(threads, n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) a[i] = static_cast<uint32_t>(i);
  });
  std::vector<uint32_t> partial(static_cast<size_t>(threads));
  for (auto _ : state) {
    if (threads == 1) {
      partial[0] = Sum(a.data(), n);  // on the timing thread, so CPU time is meaningful on a busy machine
    } else {
      ForSlices(threads, n, [&](int64_t b, int64_t e) { partial[b * threads / n] = Sum(a.data() + b, e - b); });
    }
    benchmark::DoNotOptimize(partial.data());
  }
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(uint32_t)));
}
// One thread: bytes per CPU second of the timing thread (robust when other jobs share the cores).
// Two threads: bytes per wall-clock second.
BENCHMARK(BM_MemoryRead)->Arg(1)->MinTime(1.0);
BENCHMARK(BM_MemoryRead)->Arg(2)->MinTime(1.0)->UseRealTime();

}  // namespace
