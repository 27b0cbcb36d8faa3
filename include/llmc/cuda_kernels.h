// GPU matrix products on quantized weights (2- and 4-bit codes in the WeightTensor packed layout, fp16
// group scales, uint8 zero points), built with -DLLMC_CUDA=ON. Without a usable device — or in a
// build without CUDA — every call returns a Status saying so; nothing aborts.
#pragma once

#include <cstdint>
#include <memory>

#include "llmc/status.h"
#include "llmc/tensor.h"

namespace llmc::cuda {

// OK when a CUDA device can run the kernels; otherwise kUnsupported with the reason ("no CUDA device:
// ...", "built without CUDA ...").
Status DeviceStatus();

// A quantized weight uploaded to device memory, ready to multiply. The host tensor is not kept.
class DeviceWeight {
 public:
  // Copies codes, scales and zero points to the device. Errors: no device, a tensor that fails
  // Validate(), or an encoding the GPU kernels do not take (dense, 3- or 8-bit codes).
  static Result<std::unique_ptr<DeviceWeight>> Upload(const WeightTensor& w);
  ~DeviceWeight();
  DeviceWeight(const DeviceWeight&) = delete;
  DeviceWeight& operator=(const DeviceWeight&) = delete;

  // y[t][r] = sum_c x[t][c] * W[r][c], with host x [n_tokens][cols] and y [n_tokens][rows]: copies x
  // in, runs the dequant-GEMV (n_tokens == 1) or GEMM kernel, copies y back.
  Status MatMul(const float* x, int64_t n_tokens, float* y) const;

  struct Impl;

 private:
  explicit DeviceWeight(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmc::cuda
