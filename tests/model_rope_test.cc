// RopeTable against a double-precision rotation, including a table's per-thread angle cache: tables
// of different frequencies alternating at one position (as two models on one thread do) each
// rotate by their own angles.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/rope.h"

namespace llmc {
namespace {

ModelConfig WithTheta(double theta) {
  ModelConfig c;
  c.head_dim = 8;
  c.rope_theta = theta;
  return c;
}

// One head of head_dim values rotated at `pos` in rotate-half layout, in double.
std::vector<double> Rotated(const std::vector<float>& x, const RopeTable& table, int64_t pos) {
  const size_t half = x.size() / 2;
  std::vector<double> out(x.size());
  for (size_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(table.inv_freq()[i] * static_cast<float>(pos));
    out[i] = x[i] * std::cos(angle) - x[i + half] * std::sin(angle);
    out[i + half] = x[i + half] * std::cos(angle) + x[i] * std::sin(angle);
  }
  return out;
}

TEST(RopeTableTest, EachTableRotatesByItsOwnAnglesWhenTablesAlternate) {
  const RopeTable slow(WithTheta(10000.0)), fast(WithTheta(100.0));
  const std::vector<float> x = {0.5f, -1.0f, 2.0f, 0.25f, 1.5f, -0.75f, 1.0f, 3.0f};
  for (const int64_t pos : {7, 7, 300, 7}) {
    for (const RopeTable* table : {&slow, &fast, &slow}) {
      std::vector<float> q = x, k = x;
      table->Apply(q.data(), 1, k.data(), 1, pos);
      const std::vector<double> want = Rotated(x, *table, pos);
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_NEAR(q[i], want[i], 1e-5) << "pos " << pos << " element " << i;
        ASSERT_EQ(k[i], q[i]) << "query and key heads turn alike";
      }
    }
  }
}

}  // namespace
}  // namespace llmc
