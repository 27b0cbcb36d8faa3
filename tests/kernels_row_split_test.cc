// RowSplit: how decode's GEMVs divide row blocks between threads by their finishing times, and that
// whatever it learns, a GEMV's result stays the one-thread result bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/row_split.h"
#include "kernels_test_weights.h"
#include "llmc/kernels.h"

namespace llmc {
namespace {

using kernels::RowSplit;
using kernels::RowSplits;

// Thread t's run [Cut(t), Cut(t + 1)): the runs tile [0, blocks) in order.
void ExpectRunsTile(const RowSplit& split, int64_t n, int64_t blocks) {
  EXPECT_EQ(split.Cut(0, n, blocks), 0);
  for (int64_t t = 0; t < n; ++t) EXPECT_LE(split.Cut(t, n, blocks), split.Cut(t + 1, n, blocks)) << "thread " << t;
  EXPECT_EQ(split.Cut(n, n, blocks), blocks);
}

TEST(RowSplitTest, StartsEvenAndAlwaysTilesTheBlocks) {
  RowSplit split;
  for (int64_t n : {1, 2, 3, 4}) {
    for (int64_t blocks : {0, 1, 5, 36, 3072}) ExpectRunsTile(split, n, blocks);
  }
  EXPECT_EQ(split.Cut(1, 2, 36), 18);
  EXPECT_EQ(split.Cut(2, 3, 90), 60);
  for (int i = 0; i < 50; ++i) split.Learn(std::vector<double>{1.0, 1.3, 1.1}, 90);
  for (int64_t blocks : {0, 1, 5, 36, 3072}) ExpectRunsTile(split, 3, blocks);
}

TEST(RowSplitTest, ALateThreadGivesUpBlocksWithinBounds) {
  RowSplit split;
  split.Learn(std::vector<double>{1.0, 1.2}, 1000);  // thread 1 late: thread 0 takes more
  const int64_t after_one = split.Cut(1, 2, 1000);
  EXPECT_GT(after_one, 500);
  EXPECT_LT(after_one, 510) << "one call moves the split a little";
  for (int i = 0; i < 200; ++i) split.Learn(std::vector<double>{1.0, 2.0}, 100);
  EXPECT_EQ(split.Cut(1, 2, 100), 75) << "at most one and a half even shares";
  for (int i = 0; i < 400; ++i) split.Learn(std::vector<double>{1.5, 1.0}, 100);  // now thread 0 is late
  EXPECT_EQ(split.Cut(1, 2, 100), 25) << "at least half an even share";
  for (int i = 0; i < 400; ++i) split.Learn(std::vector<double>{1.0, 1.0}, 100);
  EXPECT_EQ(split.Cut(1, 2, 100), 25) << "equal finishing times keep the split";
}

TEST(RowSplitTest, OneLongStallMovesAShareByATenthAtMost) {
  RowSplit split;
  split.Learn(std::vector<double>{1.0, 1.0, 1.0, 100.0}, 1000);  // thread 3 descheduled once
  const int64_t last_run = 1000 - split.Cut(3, 4, 1000);
  EXPECT_LT(last_run, 250);
  EXPECT_GE(last_run, 200) << "a tenth of its share, then renormalised";
}

TEST(RowSplitTest, ShortCallsAndOtherThreadCountsLearnNothing) {
  RowSplit split;
  for (int i = 0; i < 100; ++i) split.Learn(std::vector<double>{1.0, 3.0}, 2 * RowSplit::kMinTimedBlocks - 1);
  EXPECT_EQ(split.Cut(1, 2, 100), 50) << "too few blocks a thread to time";
  for (int i = 0; i < 100; ++i) split.Learn(std::vector<double>{1.0, 3.0}, 100);
  EXPECT_GT(split.Cut(1, 2, 100), 50) << "thread 0 was early: it takes more";
  EXPECT_EQ(split.Cut(1, 3, 90), 30) << "a split learnt for two threads says nothing of three";
  for (int i = 0; i < 10; ++i) split.Learn(std::vector<double>{1.0}, 100);  // one thread: nothing to learn
  EXPECT_EQ(split.Cut(1, 3, 90), 30);
}

TEST(RowSplitsTest, OneSplitPerKindOfCall) {
  RowSplits splits;
  for (int i = 0; i < 20; ++i) splits.For(60, 576).Learn(std::vector<double>{1.0, 2.0}, 60);
  for (int i = 0; i < 20; ++i) splits.For(36, 576).Learn(std::vector<double>{2.0, 1.0}, 36);
  EXPECT_GT(splits.For(60, 576).Cut(1, 2, 60), 30) << "the same kind finds what it learnt";
  EXPECT_LT(splits.For(36, 576).Cut(1, 2, 36), 18);
  EXPECT_EQ(splits.For(36, 1536).Cut(1, 2, 36), 18) << "same blocks, another input width: its own split";
  for (int64_t kind = 0; kind < 40; ++kind) splits.For(1000 + kind, 64);  // many kinds: the oldest go
  EXPECT_EQ(splits.For(60, 576).Cut(1, 2, 60), 30) << "a forgotten kind starts even again";
}

// Decode GEMVs on two threads, called again and again while the split follows the timings: every
// result equals the one-thread result bit for bit (cuts fall on the blocks the kernels group by).
TEST(RowSplitTest, DecodeResultsStayTheOneThreadResultWhileTheSplitMoves) {
  const int old_threads = NumThreads();
  for (const testing::WeightCase wc : {testing::WeightCase{Encoding::kQuantized, 2, QuantGrid::kSigned, 128},
                                       testing::WeightCase{Encoding::kQuantized, 4, QuantGrid::kAsymmetric, 64},
                                       testing::WeightCase{Encoding::kQuantized, 8, QuantGrid::kSigned, 0}}) {
    SCOPED_TRACE(wc.Name());
    const WeightTensor w = PrepareForMatMul(testing::RandomWeight(wc, 1024, 576, 17));
    const std::vector<float> x = testing::RandomActivations(576, 18);
    std::vector<float> alone(1024), y(1024);
    SetNumThreads(1);
    MatMul(w, x.data(), 1, alone.data());
    SetNumThreads(2);
    for (int call = 0; call < 60; ++call) {
      MatMul(w, x.data(), 1, y.data());
      ASSERT_EQ(0, std::memcmp(alone.data(), y.data(), y.size() * sizeof(float))) << "call " << call;
    }
  }
  SetNumThreads(old_threads);
}

}  // namespace
}  // namespace llmc
