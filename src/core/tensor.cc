#include "llmc/tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace llmc {

Bytes Bytes::Own(std::vector<uint8_t> v) {
  auto owner = std::make_shared<std::vector<uint8_t>>(std::move(v));
  const uint8_t* p = owner->data();
  const size_t n = owner->size();
  return {std::move(owner), p, n};
}

const char* QuantGridName(QuantGrid g) {
  switch (g) {
    case QuantGrid::kSigned: return "signed";
    case QuantGrid::kAsymmetric: return "asym";
    case QuantGrid::kSymmetricHalf: return "sym_half";
  }
  return "?";
}

Result<QuantGrid> ParseQuantGrid(std::string_view name) {
  if (name == "signed") return QuantGrid::kSigned;
  if (name == "asym") return QuantGrid::kAsymmetric;
  if (name == "sym_half") return QuantGrid::kSymmetricHalf;
  return Status::Invalid("unknown quantization grid '{}' (expected signed, asym or sym_half)", name);
}

const char* EncodingName(Encoding e) {
  switch (e) {
    case Encoding::kF32: return "f32";
    case Encoding::kF16: return "f16";
    case Encoding::kBF16: return "bf16";
    case Encoding::kQuantized: return "quantized";
  }
  return "?";
}

Encoding EncodingOf(DType t) {
  switch (t) {
    case DType::kF32: return Encoding::kF32;
    case DType::kF16: return Encoding::kF16;
    case DType::kBF16: return Encoding::kBF16;
  }
  return Encoding::kF32;
}

int64_t WeightTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t WeightTensor::groups_per_row() const {
  if (!quantized() || quant.group_size <= 0) return 0;
  return (cols() + quant.group_size - 1) / quant.group_size;
}

int64_t WeightTensor::row_bytes() const {
  switch (encoding) {
    case Encoding::kF32: return cols() * 4;
    case Encoding::kF16:
    case Encoding::kBF16: return cols() * 2;
    case Encoding::kQuantized: return (cols() * quant.bits + 7) / 8;
  }
  return 0;
}

size_t WeightTensor::expected_data_bytes() const { return static_cast<size_t>(rows() * row_bytes()); }

size_t WeightTensor::expected_scale_bytes() const {
  return quantized() ? static_cast<size_t>(rows() * groups_per_row() * 2) : 0;
}

size_t WeightTensor::expected_zero_bytes() const {
  return quantized() && quant.grid == QuantGrid::kAsymmetric ? static_cast<size_t>(rows() * groups_per_row())
                                                             : 0;
}

Status WeightTensor::Validate() const {
  for (int64_t d : shape) {
    if (d < 0) return Status::Corrupt("tensor '{}': negative dimension in shape {}", name, ShapeToString(shape));
  }
  if (quantized()) {
    const int b = quant.bits;
    if (b != 2 && b != 3 && b != 4 && b != 8) {
      return Status::Unsupported("tensor '{}': {} bits per code (expected 2, 3, 4 or 8)", name, b);
    }
    if (quant.group_size <= 0) {
      return Status::Corrupt("tensor '{}': group size {} (expected > 0)", name, quant.group_size);
    }
  }
  if (data.size() != expected_data_bytes()) {
    return Status::Corrupt("tensor '{}': {} data bytes for shape {} as {} (expected {})", name, data.size(),
                           ShapeToString(shape), type_name(), expected_data_bytes());
  }
  if (scales.size() != expected_scale_bytes()) {
    return Status::Corrupt("tensor '{}': {} scale bytes (expected {})", name, scales.size(),
                           expected_scale_bytes());
  }
  if (zero_points.size() != expected_zero_bytes()) {
    return Status::Corrupt("tensor '{}': {} zero-point bytes (expected {})", name, zero_points.size(),
                           expected_zero_bytes());
  }
  return Status::OK();
}

double WeightTensor::bits_per_weight() const {
  const int64_t n = numel();
  if (n == 0) return 0;
  const size_t bytes = data.size() + scales.size() + zero_points.size();
  return 8.0 * static_cast<double>(bytes) / static_cast<double>(n);
}

std::string WeightTensor::type_name() const {
  if (!quantized()) return EncodingName(encoding);
  return fmt::format("int{}", quant.bits);
}

WeightTensor MakeF32Tensor(std::string name, std::vector<int64_t> shape, std::vector<float> values) {
  WeightTensor t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.encoding = Encoding::kF32;
  auto owner = std::make_shared<std::vector<float>>(std::move(values));
  const auto* bytes = reinterpret_cast<const uint8_t*>(owner->data());
  const size_t n = owner->size() * sizeof(float);
  t.data = Bytes(std::move(owner), bytes, n);
  return t;
}

std::string ShapeToString(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace llmc
