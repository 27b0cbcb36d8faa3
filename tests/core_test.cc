#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "core/huge_pages.h"
#include "core/thread_team.h"
#include "llmc/dtype.h"
#include "llmc/file.h"
#include "llmc/model_config.h"
#include "llmc/tensor.h"
#include "test_util.h"

namespace llmc {
namespace {

TEST(HalfTest, EveryFiniteHalfRoundTripsExactly) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    const bool is_nan = (bits & 0x7c00) == 0x7c00 && (bits & 0x3ff) != 0;
    if (is_nan) {
      EXPECT_TRUE(std::isnan(HalfToFloat(bits)));
      continue;
    }
    EXPECT_EQ(FloatToHalf(HalfToFloat(bits)), bits) << std::hex << h;
  }
}

TEST(HalfTest, RoundsToNearestEvenAndSaturatesToInfinity) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 2048), 0x3c00);  // halfway between 1 and next: ties to even
  EXPECT_EQ(FloatToHalf(1.0f + 3.0f / 2048), 0x3c02);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(70000.0f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(FloatToHalf(5.96046448e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(2.0e-08f), 0x0000);
}

TEST(BF16Test, RoundTripAndRounding) {
  EXPECT_EQ(BF16ToFloat(FloatToBF16(1.5f)), 1.5f);
  EXPECT_EQ(FloatToBF16(1.0f + 1.0f / 256), 0x3f80);  // tie to even
  EXPECT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(StatusTest, ResultCarriesValueOrError) {
  Result<int> ok = 3;
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  Result<int> bad = Status::Corrupt("{}: header length {} exceeds file size {}", "a.safetensors", 10, 4);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(bad.status().ToString(), "corrupt input: a.safetensors: header length 10 exceeds file size 4");
}

// A quantized tensor's metadata only (no bytes yet).
WeightTensor QuantizedHeader(std::vector<int64_t> shape, QuantSpec quant) {
  WeightTensor t;
  t.name = std::string("w");  // (assigning the literal trips GCC 12's -Wrestrict false positive here)
  t.shape = std::move(shape);
  t.encoding = Encoding::kQuantized;
  t.quant = quant;
  return t;
}

TEST(TensorTest, QuantizedByteCountsFollowShapeAndGroups) {
  WeightTensor t = QuantizedHeader({3, 172}, {2, 128, QuantGrid::kAsymmetric});
  EXPECT_EQ(t.groups_per_row(), 2);  // 128 + a 44-wide tail group
  EXPECT_EQ(t.row_bytes(), 43);
  EXPECT_EQ(t.expected_data_bytes(), 129u);
  EXPECT_EQ(t.expected_scale_bytes(), 12u);
  EXPECT_EQ(t.expected_zero_bytes(), 6u);
  EXPECT_FALSE(t.Validate().ok());
  t.data = Bytes::Own(std::vector<uint8_t>(129));
  t.scales = Bytes::Own(std::vector<uint8_t>(12));
  t.zero_points = Bytes::Own(std::vector<uint8_t>(6));
  EXPECT_TRUE(t.Validate().ok());
  t.quant.bits = 3;
  EXPECT_EQ(t.row_bytes(), 65);  // 516 bits
}

TEST(HugePageBufferTest, ZeroedWritableAndOnAHugePageBoundary) {
  const HugePageBuffer buffer(3 * kHugePageBytes + 5);
  ASSERT_NE(buffer.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer.data()) % kHugePageBytes, 0u);
  EXPECT_EQ(buffer.size(), 4 * kHugePageBytes);  // whole huge pages
  for (size_t i = 0; i < buffer.size(); i += 4093) EXPECT_EQ(buffer.data()[i], 0) << i;
  std::memset(buffer.data(), 0xAB, buffer.size());
  EXPECT_EQ(buffer.data()[buffer.size() - 1], 0xAB);
  const HugePageBuffer none(0);
  EXPECT_EQ(none.data(), nullptr);
  EXPECT_EQ(none.size(), 0u);
}

Bytes Sequence(size_t n, uint8_t first) {
  std::vector<uint8_t> v(n);
  std::iota(v.begin(), v.end(), first);
  return Bytes::Own(std::move(v));
}

bool SameBytes(const Bytes& a, const Bytes& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

TEST(WeightArenaTest, CopiesAreAlignedEqualAndOutliveTheArena) {
  const Bytes small_a = Sequence(1000, 1), small_b = Sequence(77, 9), large = Sequence(size_t{20} << 20, 3);
  Bytes copies[3];
  {
    WeightArena arena;
    copies[0] = arena.Copy(small_a);
    copies[1] = arena.Copy(small_b);
    copies[2] = arena.Copy(large);  // over half a chunk: a mapping of its own
    EXPECT_TRUE(arena.Copy(Bytes()).empty());
  }
  const Bytes* sources[] = {&small_a, &small_b, &large};
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(copies[i].data(), sources[i]->data()) << i;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(copies[i].data()) % 64, 0u) << i;
    EXPECT_TRUE(SameBytes(copies[i], *sources[i])) << i;
  }
  // The small copies share a chunk, one after the other; the large one starts a huge page.
  EXPECT_EQ(copies[1].data(), copies[0].data() + 1024);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(copies[2].data()) % kHugePageBytes, 0u);
}

TEST(WeightArenaTest, ChunksFillBeforeANewOneStarts) {
  WeightArena arena;
  const Bytes piece = Sequence(size_t{15} << 20, 0);  // just under half a chunk of 32 MB
  const Bytes first = arena.Copy(piece), second = arena.Copy(piece), third = arena.Copy(piece);
  EXPECT_EQ(second.data(), first.data() + piece.size());  // 15 MB is a multiple of 64: no padding
  EXPECT_EQ(reinterpret_cast<uintptr_t>(third.data()) % kHugePageBytes, 0u);  // 45 MB would not fit
  EXPECT_TRUE(SameBytes(third, piece));
}

TEST(WeightArenaTest, PlaceCopiesCodesScalesAndZeros) {
  WeightTensor t = QuantizedHeader({2, 64}, {4, 32, QuantGrid::kAsymmetric});
  t.data = Sequence(2 * 32, 0);
  t.scales = Bytes::Own(std::vector<uint8_t>(2 * 2 * 2, 0x3c));
  t.zero_points = Sequence(4, 5);
  ASSERT_TRUE(t.Validate().ok());
  WeightArena arena;
  const WeightTensor placed = arena.Place(t);
  EXPECT_TRUE(placed.Validate().ok());
  EXPECT_EQ(placed.name, t.name);
  EXPECT_EQ(placed.shape, t.shape);
  for (auto [a, b] : {std::pair{&placed.data, &t.data}, {&placed.scales, &t.scales}, {&placed.zero_points, &t.zero_points}}) {
    EXPECT_NE(a->data(), b->data());
    EXPECT_TRUE(SameBytes(*a, *b));
  }
}

// Tile order written straight into the arena holds exactly InTileOrder's bytes.
TEST(WeightArenaTest, PlaceInTileOrderWritesInTileOrdersBytes) {
  for (const QuantSpec& spec : {QuantSpec{2, 32, QuantGrid::kAsymmetric}, {8, 64, QuantGrid::kSigned}}) {
    WeightTensor t = QuantizedHeader({32, 64}, spec);
    t.data = Sequence(t.expected_data_bytes(), 1);
    t.scales = Sequence(t.expected_scale_bytes(), 2);
    t.zero_points = Sequence(t.expected_zero_bytes(), 3);
    ASSERT_TRUE(t.Validate().ok());
    WeightArena arena;
    const WeightTensor placed = arena.PlaceInTileOrder(t);
    const WeightTensor expected = InTileOrder(t);
    EXPECT_EQ(placed.order, CodeOrder::kTiles16);
    EXPECT_TRUE(placed.Validate().ok());
    for (auto [a, b] : {std::pair{&placed.data, &expected.data}, {&placed.scales, &expected.scales},
                        {&placed.zero_points, &expected.zero_points}}) {
      EXPECT_TRUE(SameBytes(*a, *b)) << spec.bits << " bits";
    }
  }
}

TEST(ModelConfigTest, JsonRoundTripAndValidation) {
  ModelConfig c;
  c.hidden_size = 64;
  c.intermediate_size = 172;
  c.num_layers = 5;
  c.num_heads = 8;
  c.num_kv_heads = 4;
  c.head_dim = 8;
  c.vocab_size = 512;
  c.tie_word_embeddings = true;
  auto back = ModelConfig::FromJson(c.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), c.ToJson());
  c.num_kv_heads = 3;
  EXPECT_FALSE(c.Validate().ok());
  auto j = back->ToJson();
  j["architecture"] = "gpt-neox";
  EXPECT_EQ(ModelConfig::FromJson(j).status().code(), StatusCode::kUnsupported);
}

TEST(AtomicOutputTest, NothingAppearsUnlessCommitted) {
  testing::ScratchDir dir;
  const std::string target = dir.File("out.bin");
  {
    AtomicOutput out(target);
    testing::WriteFile(out.temp_path(), "partial");
  }
  EXPECT_FALSE(FileExists(target));
  {
    AtomicOutput out(target);
    testing::WriteFile(out.temp_path(), "whole");
    ASSERT_TRUE(out.Commit().ok());
  }
  EXPECT_EQ(testing::ReadFile(target), "whole");
}

TEST(MappedFileTest, MapsAndReportsMissingFiles) {
  testing::ScratchDir dir;
  testing::WriteFile(dir.File("a"), "hello");
  auto f = MappedFile::Open(dir.File("a"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*f)->data()), (*f)->size()), "hello");
  auto missing = MappedFile::Open(dir.File("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
}

// Which threads ran one RunOnThreads call: runs[t] counts fn(t, n) calls, n as each saw it. Plain
// ints: each t is one thread's, and RunOnThreads returning must make the others' writes visible.
struct Shares {
  std::vector<int> runs, n_seen;
  explicit Shares(int most) : runs(static_cast<size_t>(most), 0), n_seen(static_cast<size_t>(most), 0) {}
  void Run(int threads) {
    RunOnThreads(threads, [&](int t, int n) {
      ++runs[static_cast<size_t>(t)];
      n_seen[static_cast<size_t>(t)] = n;
    });
  }
  // Every t < n ran once with this n, and no other t ran.
  void ExpectEachOnce(int n) const {
    for (size_t t = 0; t < runs.size(); ++t) {
      EXPECT_EQ(runs[t], static_cast<int>(t) < n ? 1 : 0) << "thread " << t;
      if (static_cast<int>(t) < n) {
        EXPECT_EQ(n_seen[t], n) << "thread " << t;
      }
    }
  }
};

TEST(ThreadTeamTest, RunOnThreadsGivesEachThreadOneShareOutsideATeam) {
  for (int threads : {1, 2, 3}) {
    Shares s(4);
    s.Run(threads);
    s.ExpectEachOnce(threads);
  }
}

// A team forms only where it has a core for each thread (spinning threads would take the cores of
// working ones). On one core WithThreadTeam(2) forms none, and its steps are OpenMP regions of their
// own: every share still runs once, and nothing clamps them.
TEST(ThreadTeamTest, ATeamServesManyStepsAndClampsThemToItsSize) {
  const bool team = omp_get_num_procs() >= 2;
  WithThreadTeam(2, [&] {
    for (int step = 0; step < 200; ++step) {  // back-to-back steps: each waits for the last to finish
      Shares s(3);
      s.Run(2);
      s.ExpectEachOnce(2);
    }
    Shares more(6);
    more.Run(5);  // a team of 2 gives a step 2 threads
    more.ExpectEachOnce(team ? 2 : 5);
    Shares alone(3);
    alone.Run(1);
    alone.ExpectEachOnce(1);
  });
}

TEST(ThreadTeamTest, MoreThreadsThanCoresFormNoTeam) {
  const int threads = omp_get_num_procs() + 1;
  WithThreadTeam(threads, [&] {
    Shares s(threads + 2);
    s.Run(threads + 1);  // an OpenMP region of its own: a team would clamp it to `threads`
    s.ExpectEachOnce(threads + 1);
  });
}

TEST(ThreadTeamTest, AStepsOwnRunOnThreadsRunsWithoutTheTeam) {
  std::vector<int> inner(2, 0);
  WithThreadTeam(2, [&] {
    RunOnThreads(2, [&](int t, int) {
      std::atomic<int> count{0};
      RunOnThreads(2, [&](int, int) { ++count; });  // nested: on one thread, or its own region
      inner[static_cast<size_t>(t)] = count;
    });
  });
  for (int t = 0; t < 2; ++t) EXPECT_GE(inner[static_cast<size_t>(t)], 1) << "thread " << t;
}

TEST(ThreadTeamTest, WhatTheBodyThrowsComesBackAndTheNextTeamWorks) {
  EXPECT_THROW(WithThreadTeam(2, [] {
                 Shares s(2);
                 s.Run(2);
                 throw std::runtime_error("body failed");
               }),
               std::runtime_error);
  Shares s(2);
  WithThreadTeam(2, [&] { s.Run(2); });
  s.ExpectEachOnce(2);
}

}  // namespace
}  // namespace llmc
