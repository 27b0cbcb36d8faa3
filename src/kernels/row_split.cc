#include "kernels/row_split.h"

#include <algorithm>
#include <cmath>

namespace llmc::kernels {

int64_t RowSplit::Cut(int64_t t, int64_t n, int64_t blocks) const {
  if (n != static_cast<int64_t>(shares_.size())) return blocks * t / n;
  if (t >= n) return blocks;
  double before = 0;
  for (int64_t i = 0; i < t; ++i) before += shares_[static_cast<size_t>(i)];
  return std::min(blocks, static_cast<int64_t>(std::llround(before * static_cast<double>(blocks))));
}

void RowSplit::Learn(std::span<const double> finished, int64_t blocks) {
  const auto n = static_cast<int64_t>(finished.size());
  if (n < 2 || blocks < kMinTimedBlocks * n) return;
  double mean = 0;
  for (double f : finished) mean += f / static_cast<double>(n);
  if (!(mean > 0)) return;
  if (n != static_cast<int64_t>(shares_.size())) shares_.assign(static_cast<size_t>(n), 1.0 / static_cast<double>(n));
  constexpr double kStep = 0.1;
  const double even = 1.0 / static_cast<double>(n);
  double sum = 0;
  for (int64_t t = 0; t < n; ++t) {
    double& share = shares_[static_cast<size_t>(t)];
    // A thread descheduled for a while (more threads than cores) can finish many times the mean
    // late: one call moves a share by a tenth at most.
    share *= 1.0 + kStep * std::clamp((mean - finished[static_cast<size_t>(t)]) / mean, -1.0, 1.0);
    share = std::clamp(share, 0.5 * even, 1.5 * even);
    sum += share;
  }
  for (double& share : shares_) share /= sum;
}

RowSplit& RowSplits::For(int64_t blocks, int64_t cols) {
  for (size_t i = 0; i < used_; ++i) {
    if (kinds_[i].blocks == blocks && kinds_[i].cols == cols) return kinds_[i].split;
  }
  size_t slot = used_;
  if (used_ < kMaxKinds) {
    ++used_;
  } else {
    slot = oldest_;
    oldest_ = (oldest_ + 1) % kMaxKinds;
  }
  kinds_[slot] = Kind{blocks, cols, {}};
  return kinds_[slot].split;
}

}  // namespace llmc::kernels
