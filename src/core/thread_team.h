// Work split over threads, cheap enough for decode. A decode step makes about 180 short parallel
// steps (each layer's weight products and its attention, each a few µs). An OpenMP parallel region
// costs about 0.9 µs to open and close on the 2-core VM, where a barrier costs 0.3 µs: both threads
// start their share about 0.55 µs after the region is entered. WithThreadTeam keeps one OpenMP team
// for a whole step: the calling thread runs the step while the others wait, spinning, for its
// RunOnThreads calls and take their shares of each. Outside a team RunOnThreads opens a region.
#pragma once

namespace llmc {

namespace detail {
using ThreadShare = void (*)(const void* fn, int t, int n);
void RunOnThreads(int threads, ThreadShare share, const void* fn);
void WithThreadTeam(int threads, void (*body)(const void*), const void* fn);
}  // namespace detail

// fn(t, n) for every t < n on n threads, returning when all are done: n = threads, or fewer where a
// team has fewer; threads <= 1 runs fn(0, 1) on this thread. fn must not throw.
template <class Fn>
void RunOnThreads(int threads, const Fn& fn) {
  detail::RunOnThreads(
      threads, [](const void* f, int t, int n) { (*static_cast<const Fn*>(f))(t, n); }, &fn);
}

// body() on this thread, with threads - 1 more OpenMP threads waiting to share its RunOnThreads calls
// (made from this thread) until it returns. What body throws is rethrown here. threads <= 1, more
// threads than cores, or a call from inside a team or a parallel region, just runs body().
template <class Body>
void WithThreadTeam(int threads, const Body& body) {
  detail::WithThreadTeam(threads, [](const void* b) { (*static_cast<const Body*>(b))(); }, &body);
}

}  // namespace llmc
