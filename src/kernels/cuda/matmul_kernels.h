// Launchers for the CUDA dequant-matmul kernels, in plain types so host code compiled by the C++
// compiler can call them. Device pointers throughout.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace llmc::cuda {

// A quantized matrix in device memory, in the WeightTensor layout: each row's codes a little-endian
// bit stream starting on a byte boundary (row_bytes bytes), fp16 scales and optional uint8 zero
// points per [row][group].
struct DeviceQuantMatrix {
  const uint8_t* codes = nullptr;
  const uint16_t* scales = nullptr;
  const uint8_t* zeros = nullptr;  // null: every group uses fixed_zero
  float fixed_zero = 0.0f;
  int bits = 0;                     // 2 or 4
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_bytes = 0;
  int64_t group_size = 0;
  int64_t groups = 0;
};

// y[t][r] = sum_c x[t][c] * s_g * (q[r][c] - z_g) for t < n_tokens; x [n_tokens][cols], y
// [n_tokens][rows]. One warp per row; each warp keeps up to 8 tokens in registers, so the packed
// row is read once per 8 tokens (a GEMV when n_tokens == 1). Returns the launch error, if any.
cudaError_t LaunchQuantMatMul(const DeviceQuantMatrix& w, const float* x, int64_t n_tokens, float* y,
                              cudaStream_t stream);

}  // namespace llmc::cuda
