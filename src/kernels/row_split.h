// How decode's GEMVs divide their row blocks between threads. With even halves the two threads of
// the 2-core VM finished decode's products 1.3–5.2 µs apart on average, 9–17 % of a 2-bit token:
// one core is often slower than the other for seconds at a time (another guest, interrupts), and
// the thread that did not prepare the input starts later and reads it from the other core's cache.
// Taking rows from a shared counter evens that out but costs more than it saves (docs/RESULTS.md,
// section 5). Here each thread still streams one contiguous run, sized by when the threads finished
// the calls before. Which thread computes a block never changes its result, so the split may
// follow the timings.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace llmc::kernels {

// The split of one kind of call: each thread's share of the blocks.
class RowSplit {
 public:
  // Thread t of n takes blocks [Cut(t), Cut(t + 1)) of `blocks`: contiguous runs that tile them,
  // even until a call with n threads has been learnt.
  int64_t Cut(int64_t t, int64_t n, int64_t blocks) const;

  // One call's finishing times, thread by thread (seconds from the call's start), over `blocks`
  // blocks. A thread that finished later than the mean gives up a tenth of its lateness relative to
  // the mean, as a fraction of its share; fixed costs (waking, setup) cancel out, as they would not
  // in a rate of blocks per second. Shares stay within half and one and a half of even, so that one
  // stall (a descheduled thread) costs little. Calls with under kMinTimedBlocks blocks a thread are
  // too short to time and teach nothing.
  void Learn(std::span<const double> finished, int64_t blocks);

  static constexpr int64_t kMinTimedBlocks = 8;

 private:
  std::vector<double> shares_;  // per thread, summing to 1; empty until a call is learnt
};

// A caller's RowSplits, one per kind of call (its blocks and input width): a short call's start-up
// costs weigh more than a long one's, so their best splits differ. Decode makes five kinds; past
// kMaxKinds a new kind takes the place of the oldest.
class RowSplits {
 public:
  // The kind's split, valid until the next For.
  RowSplit& For(int64_t blocks, int64_t cols);

 private:
  static constexpr size_t kMaxKinds = 16;
  struct Kind {
    int64_t blocks = 0, cols = 0;
    RowSplit split;
  };
  std::array<Kind, kMaxKinds> kinds_;
  size_t used_ = 0;
  size_t oldest_ = 0;  // the next to be replaced once all are used
};

}  // namespace llmc::kernels
