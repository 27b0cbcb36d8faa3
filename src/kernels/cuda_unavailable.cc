// The CUDA API in a build without -DLLMC_CUDA=ON: every entry point reports that, so callers need no
// #ifdefs and users get one clear line instead of a missing feature.
#ifndef LLMC_WITH_CUDA

#include "llmc/cuda_kernels.h"

namespace llmc::cuda {

struct DeviceWeight::Impl {};

Status DeviceStatus() {
  return Status::Unsupported("built without CUDA: reconfigure with cmake -DLLMC_CUDA=ON to use the GPU kernels");
}

DeviceWeight::DeviceWeight(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DeviceWeight::~DeviceWeight() = default;

Result<std::unique_ptr<DeviceWeight>> DeviceWeight::Upload(const WeightTensor&) { return DeviceStatus(); }

Status DeviceWeight::MatMul(const float*, int64_t, float*) const { return DeviceStatus(); }

}  // namespace llmc::cuda

#endif  // LLMC_WITH_CUDA
