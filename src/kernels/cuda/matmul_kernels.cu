// CUDA dequant-matmul on 2- and 4-bit codes. One warp per output row: lanes stride over the packed
// row four bytes at a time (coalesced), dequantize each code as s * (q - z) with the group's fp16
// scale and zero, and accumulate against up to kTokens tokens held in registers; a warp shuffle
// reduces the lanes. kTokens = 1 is the decode GEMV, 8 the prefill GEMM (weights read once per 8
// tokens).
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/matmul_kernels.h"

namespace llmc::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;
constexpr int kGemmTokens = 8;

// Four bytes of a row starting at byte b (zero beyond `end`): one 32-bit load when aligned.
__device__ __forceinline__ uint32_t LoadWord(const uint8_t* p, int64_t b, int64_t end) {
  if (b + 4 <= end && (reinterpret_cast<uintptr_t>(p + b) & 3) == 0) {
    return __ldg(reinterpret_cast<const uint32_t*>(p + b));
  }
  uint32_t word = 0;
  for (int k = 0; k < 4 && b + k < end; ++k) word |= static_cast<uint32_t>(__ldg(p + b + k)) << (8 * k);
  return word;
}

template <int kBits, int kTokens>
__global__ void QuantMatMulKernel(DeviceQuantMatrix w, const float* __restrict__ x, int64_t n_tokens,
                                  float* __restrict__ y) {
  constexpr int kPerByte = 8 / kBits;
  constexpr int kPerWord = 4 * kPerByte;
  constexpr uint32_t kMask = (1u << kBits) - 1;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  if (row >= w.rows) return;  // the whole warp leaves together
  const int lane = threadIdx.x % kWarp;
  const int64_t t0 = static_cast<int64_t>(blockIdx.y) * kTokens;
  const int n_t = static_cast<int>(min(static_cast<int64_t>(kTokens), n_tokens - t0));
  const uint8_t* codes = w.codes + row * w.row_bytes;
  const uint16_t* scales = w.scales + row * w.groups;
  const uint8_t* zeros = w.zeros != nullptr ? w.zeros + row * w.groups : nullptr;
  const float* xt = x + t0 * w.cols;

  float acc[kTokens];
#pragma unroll
  for (int t = 0; t < kTokens; ++t) acc[t] = 0.0f;

  for (int64_t b = 4 * lane; b < w.row_bytes; b += 4 * kWarp) {
    const uint32_t word = LoadWord(codes, b, w.row_bytes);
    const int64_t c0 = b * kPerByte;
    int64_t g = c0 / w.group_size;
    int64_t g_end = (g + 1) * w.group_size;
    float s = __half2float(__ushort_as_half(scales[g]));
    float z = zeros != nullptr ? static_cast<float>(zeros[g]) : w.fixed_zero;
#pragma unroll
    for (int k = 0; k < kPerWord; ++k) {
      const int64_t c = c0 + k;
      if (c >= w.cols) break;
      if (c >= g_end) {
        g = c / w.group_size;
        g_end = (g + 1) * w.group_size;
        s = __half2float(__ushort_as_half(scales[g]));
        z = zeros != nullptr ? static_cast<float>(zeros[g]) : w.fixed_zero;
      }
      const float wv = s * (static_cast<float>((word >> (k * kBits)) & kMask) - z);
#pragma unroll
      for (int t = 0; t < kTokens; ++t) {
        if (t < n_t) acc[t] = fmaf(wv, __ldg(xt + t * w.cols + c), acc[t]);
      }
    }
  }
#pragma unroll
  for (int t = 0; t < kTokens; ++t) {
    float v = acc[t];
    for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
    if (lane == 0 && t < n_t) y[(t0 + t) * w.rows + row] = v;
  }
}

template <int kBits>
cudaError_t Launch(const DeviceQuantMatrix& w, const float* x, int64_t n_tokens, float* y, cudaStream_t stream) {
  const dim3 block(kWarp * kRowsPerBlock);
  const unsigned row_blocks = static_cast<unsigned>((w.rows + kRowsPerBlock - 1) / kRowsPerBlock);
  if (n_tokens == 1) {
    QuantMatMulKernel<kBits, 1><<<dim3(row_blocks, 1), block, 0, stream>>>(w, x, n_tokens, y);
  } else {
    const unsigned token_blocks = static_cast<unsigned>((n_tokens + kGemmTokens - 1) / kGemmTokens);
    QuantMatMulKernel<kBits, kGemmTokens><<<dim3(row_blocks, token_blocks), block, 0, stream>>>(w, x, n_tokens, y);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchQuantMatMul(const DeviceQuantMatrix& w, const float* x, int64_t n_tokens, float* y,
                              cudaStream_t stream) {
  if (w.rows == 0 || n_tokens <= 0) return cudaSuccess;
  switch (w.bits) {
    case 2: return Launch<2>(w, x, n_tokens, y, stream);
    case 4: return Launch<4>(w, x, n_tokens, y, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace llmc::cuda
