#include "core/thread_team.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <thread>

namespace llmc::detail {
namespace {

// A team's current step, posted by the thread that runs the team's body (its caller).
struct Team {
  int size = 1;                                // threads, the caller included
  alignas(64) std::atomic<uint64_t> epoch{0};  // advanced once per posted step, and once to exit
  alignas(64) std::atomic<int> done{0};        // other threads past the current step
  ThreadShare share = nullptr;
  const void* fn = nullptr;
  int n = 0;          // threads taking part in the step
  bool busy = false;  // a step is running: a RunOnThreads inside it must not post another
  bool exit = false;
};

thread_local Team* t_team = nullptr;  // the team whose body runs on this thread

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins while cond(); after a few thousand rounds it yields as well, so that on a machine busy with
// other work a waiting thread still leaves the working ones their time.
template <class Cond>
void WaitWhile(const Cond& cond) {
  for (int spins = 0; cond(); ++spins) {
    if (spins < 4096) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
}

// A waiting thread's life: each posted step's share, until the exit step.
void Work(Team& team, int t) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t now = seen;
    WaitWhile([&] { return (now = team.epoch.load(std::memory_order_acquire)) == seen; });
    seen = now;
    if (team.exit) return;
    if (t < team.n) team.share(team.fn, t, team.n);
    team.done.fetch_add(1, std::memory_order_release);
  }
}

// Publishes the step's fields (and the exit flag) to the waiting threads.
void Post(Team& team) {
  team.done.store(0, std::memory_order_relaxed);
  team.epoch.fetch_add(1, std::memory_order_release);
}

}  // namespace

void RunOnThreads(int threads, ThreadShare share, const void* fn) {
  if (threads <= 1) return share(fn, 0, 1);
  Team* team = t_team;
  if (team == nullptr || team->busy || team->size == 1) {
#pragma omp parallel num_threads(threads)
    share(fn, omp_get_thread_num(), omp_get_num_threads());
    return;
  }
  team->share = share;
  team->fn = fn;
  team->n = std::min(threads, team->size);
  team->busy = true;
  Post(*team);
  share(fn, 0, team->n);
  WaitWhile([&] { return team->done.load(std::memory_order_acquire) < team->size - 1; });
  team->busy = false;
}

void WithThreadTeam(int threads, void (*body)(const void*), const void* b) {
  // More threads than cores: waiting threads that spin would take the cores from the ones working
  // (decode at 4 threads on 2 cores ran at 0.6x the speed of OpenMP regions, which stop spinning).
  if (threads <= 1 || threads > omp_get_num_procs() || t_team != nullptr || omp_in_parallel()) return body(b);
  Team team;
  std::exception_ptr error;
#pragma omp parallel num_threads(threads)
  {
    if (omp_get_thread_num() == 0) {
      team.size = omp_get_num_threads();
      t_team = &team;
      try {
        body(b);
      } catch (...) {
        error = std::current_exception();
      }
      t_team = nullptr;
      team.exit = true;
      Post(team);
    } else {
      Work(team, omp_get_thread_num());
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace llmc::detail
