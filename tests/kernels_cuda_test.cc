// The CUDA kernels' host API. With a device: 2- and 4-bit matmuls match MatMulReference over grids,
// group sizes, awkward shapes and token counts. Without one (or in a build without CUDA): every
// entry point returns the kUnsupported Status that says so, and nothing crashes.
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include "kernels_test_weights.h"
#include "llmc/cuda_kernels.h"
#include "llmc/kernels.h"

namespace llmc {
namespace {

using testing::OutputScales;
using testing::RandomActivations;
using testing::RandomWeight;
using testing::WeightCase;

void ExpectMatchesReference(const WeightCase& wc, int64_t rows, int64_t cols) {
  SCOPED_TRACE(wc.Name() + " " + std::to_string(rows) + "x" + std::to_string(cols));
  const WeightTensor w = RandomWeight(wc, rows, cols, 11);
  auto dw = cuda::DeviceWeight::Upload(w);
  ASSERT_TRUE(dw.ok()) << dw.status().ToString();
  for (int64_t n : {1, 2, 9, 33}) {
    const std::vector<float> x = RandomActivations(n * cols, 12);
    std::vector<float> ref(static_cast<size_t>(n * rows)), y(ref.size());
    MatMulReference(w, x.data(), n, ref.data());
    const Status st = (*dw)->MatMul(x.data(), n, y.data());
    ASSERT_TRUE(st.ok()) << st.ToString();
    const std::vector<double> scales = OutputScales(w, x.data(), n);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t r = 0; r < rows; ++r) {
        ASSERT_NEAR(y[t * rows + r], ref[t * rows + r], 1e-5 * scales[t] + 1e-30) << "token " << t << " row " << r;
      }
    }
  }
}

TEST(KernelsCudaTest, MatchesTheReferenceOnADeviceOrReportsThatThereIsNone) {
  const Status device = cuda::DeviceStatus();
  const WeightTensor w = RandomWeight({Encoding::kQuantized, 4, QuantGrid::kAsymmetric, 32}, 13, 172, 1);
  if (!device.ok()) {
    EXPECT_EQ(StatusCode::kUnsupported, device.code());
    EXPECT_TRUE(device.message().find("CUDA") != std::string::npos) << device.message();
    const auto dw = cuda::DeviceWeight::Upload(w);
    ASSERT_FALSE(dw.ok());
    EXPECT_EQ(device.message(), dw.status().message());
    std::cout << "no GPU check possible here: " << device.ToString() << "\n";
    return;
  }
  for (int bits : {2, 4}) {
    for (QuantGrid grid : {QuantGrid::kSigned, QuantGrid::kAsymmetric, QuantGrid::kSymmetricHalf}) {
      for (int64_t gs : {32, 64, 128, 0, 36}) {
        for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {5, 7}, {13, 172}, {64, 576}, {96, 1536}}) {
          ExpectMatchesReference({Encoding::kQuantized, bits, grid, gs}, rows, cols);
        }
      }
    }
  }
}

TEST(KernelsCudaTest, RejectsEncodingsTheKernelsDoNotTake) {
  if (!cuda::DeviceStatus().ok()) {
    // Without a device the device error comes first, whatever the tensor.
    const auto dw = cuda::DeviceWeight::Upload(RandomWeight({Encoding::kF16}, 2, 8, 1));
    EXPECT_EQ(StatusCode::kUnsupported, dw.status().code());
    return;
  }
  for (const WeightCase& wc : {WeightCase{Encoding::kF16}, WeightCase{Encoding::kQuantized, 8, QuantGrid::kSigned, 32},
                               WeightCase{Encoding::kQuantized, 3, QuantGrid::kSigned, 32}}) {
    const auto dw = cuda::DeviceWeight::Upload(RandomWeight(wc, 2, 64, 1));
    ASSERT_FALSE(dw.ok()) << wc.Name();
    EXPECT_EQ(StatusCode::kUnsupported, dw.status().code());
    EXPECT_NE(std::string::npos, dw.status().message().find("test.weight")) << dw.status().message();
  }
}

}  // namespace
}  // namespace llmc
