// Host side of the CUDA kernels: device detection, uploading a quantized WeightTensor, and running the
// dequant-matmul with host-to-device copies. Every CUDA error becomes a Status naming the tensor.
#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/matmul_kernels.h"
#include "llmc/cuda_kernels.h"
#include "llmc/quant.h"

namespace llmc::cuda {
namespace {

// Device memory freed when the owner dies.
struct DeviceBuffer {
  void* ptr = nullptr;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
};

Status CudaError(cudaError_t err, const std::string& what) {
  if (err == cudaSuccess) return Status::OK();
  return Status::Internal("CUDA {}: {} ({})", what, cudaGetErrorString(err), cudaGetErrorName(err));
}

Status AllocAndCopy(DeviceBuffer& buf, const void* src, size_t bytes, const std::string& what) {
  if (bytes == 0) return Status::OK();
  LLMC_RETURN_IF_ERROR(CudaError(cudaMalloc(&buf.ptr, bytes), "cudaMalloc for " + what));
  return CudaError(cudaMemcpy(buf.ptr, src, bytes, cudaMemcpyHostToDevice), "copy of " + what);
}

// CUDA grids have at most 65535 blocks in y: 8 tokens per block.
constexpr int64_t kMaxTokens = int64_t{65535} * 8;

}  // namespace

struct DeviceWeight::Impl {
  std::string name;
  DeviceBuffer codes, scales, zeros;
  DeviceQuantMatrix matrix;
};

Status DeviceStatus() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    return Status::Unsupported("no CUDA device: cudaGetDeviceCount failed: {} ({})", cudaGetErrorString(err),
                               cudaGetErrorName(err));
  }
  if (count == 0) return Status::Unsupported("no CUDA device: the CUDA runtime found 0 devices");
  return Status::OK();
}

DeviceWeight::DeviceWeight(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DeviceWeight::~DeviceWeight() = default;

Result<std::unique_ptr<DeviceWeight>> DeviceWeight::Upload(const WeightTensor& held) {
  LLMC_RETURN_IF_ERROR(DeviceStatus());
  LLMC_RETURN_IF_ERROR(held.Validate());
  // The CUDA kernels read rows as stored; a model's weights may be in the CPU GEMV's tile order.
  std::vector<uint8_t> storage;
  const WeightTensor w = held.order == CodeOrder::kTiles16 ? RowOrderCopy(held, 0, held.rows(), storage) : held;
  if (!w.quantized() || (w.quant.bits != 2 && w.quant.bits != 4)) {
    return Status::Unsupported("tensor '{}': the CUDA kernels take 2- or 4-bit codes, found {}", w.name,
                               w.type_name());
  }
  auto impl = std::make_unique<Impl>();
  impl->name = w.name;
  LLMC_RETURN_IF_ERROR(AllocAndCopy(impl->codes, w.data.data(), w.data.size(), "codes of '" + w.name + "'"));
  LLMC_RETURN_IF_ERROR(AllocAndCopy(impl->scales, w.scales.data(), w.scales.size(), "scales of '" + w.name + "'"));
  LLMC_RETURN_IF_ERROR(
      AllocAndCopy(impl->zeros, w.zero_points.data(), w.zero_points.size(), "zero points of '" + w.name + "'"));
  DeviceQuantMatrix& m = impl->matrix;
  m.codes = static_cast<const uint8_t*>(impl->codes.ptr);
  m.scales = static_cast<const uint16_t*>(impl->scales.ptr);
  m.zeros = static_cast<const uint8_t*>(impl->zeros.ptr);
  m.fixed_zero = GridZero(w.quant.grid, w.quant.bits);
  m.bits = w.quant.bits;
  m.rows = w.rows();
  m.cols = w.cols();
  m.row_bytes = w.row_bytes();
  m.group_size = w.quant.group_size;
  m.groups = w.groups_per_row();
  return std::unique_ptr<DeviceWeight>(new DeviceWeight(std::move(impl)));
}

Status DeviceWeight::MatMul(const float* x, int64_t n_tokens, float* y) const {
  const DeviceQuantMatrix& m = impl_->matrix;
  if (n_tokens < 0 || n_tokens > kMaxTokens) {
    return Status::Invalid("tensor '{}': {} tokens for the CUDA matmul (expected 0..{})", impl_->name, n_tokens,
                           kMaxTokens);
  }
  if (n_tokens == 0 || m.rows == 0) return Status::OK();
  const std::string what = " for '" + impl_->name + "'";
  const size_t x_bytes = static_cast<size_t>(n_tokens * m.cols) * sizeof(float);
  const size_t y_bytes = static_cast<size_t>(n_tokens * m.rows) * sizeof(float);
  DeviceBuffer dx, dy;
  if (x_bytes > 0) LLMC_RETURN_IF_ERROR(CudaError(cudaMalloc(&dx.ptr, x_bytes), "cudaMalloc of x" + what));
  LLMC_RETURN_IF_ERROR(CudaError(cudaMalloc(&dy.ptr, y_bytes), "cudaMalloc of y" + what));
  if (x_bytes > 0) {
    LLMC_RETURN_IF_ERROR(CudaError(cudaMemcpy(dx.ptr, x, x_bytes, cudaMemcpyHostToDevice), "copy of x" + what));
  }
  LLMC_RETURN_IF_ERROR(CudaError(
      LaunchQuantMatMul(m, static_cast<const float*>(dx.ptr), n_tokens, static_cast<float*>(dy.ptr), nullptr),
      "matmul launch" + what));
  LLMC_RETURN_IF_ERROR(CudaError(cudaDeviceSynchronize(), "matmul" + what));
  return CudaError(cudaMemcpy(y, dy.ptr, y_bytes, cudaMemcpyDeviceToHost), "copy of y" + what);
}

}  // namespace llmc::cuda
