#include "llmc/tensor.h"

#include <cstring>

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
  if (order == CodeOrder::kTiles16 && !TileOrderFits(*this)) {
    return Status::Invalid("tensor '{}': tile order needs 2-, 4- or 8-bit codes, rows in multiples of {} and whole dwords per row ({}, "
                           "shape {})", name, kTileRows, type_name(), ShapeToString(shape));
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

namespace {

// Rows [r0, r1) of `from` moved into the other order: into tile order (all rows, to_tiles), or out
// of it into a row-order copy whose row 0 is r0 (codes null: scales and zero points only). In tile
// order row r's code dword j lies at (r / 16 * row_bytes / 4 + j) * 64 + r % 16 * 4 (tile, vector,
// lane), and its scale or zero point of group g at entry (r / 16 * groups + g) * 16 + r % 16.
void Reorder(const WeightTensor& from, int64_t r0, int64_t r1, bool to_tiles, uint8_t* codes, uint8_t* scales,
             uint8_t* zeros) {
  const int64_t rb = from.row_bytes(), groups = from.groups_per_row();
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t tile = r / kTileRows, lane = r % kTileRows;
    const int64_t in_rows = to_tiles ? r : r - r0;  // the row's index on the row-order side
    const int64_t tiled_codes = tile * kTileRows * rb + lane * 4, tiled_entries = tile * groups * kTileRows + lane;
    if (codes != nullptr) {
      uint8_t* dst = codes + (to_tiles ? tiled_codes : in_rows * rb);
      const uint8_t* src = from.data.data() + (to_tiles ? in_rows * rb : tiled_codes);
      const int64_t dst_step = to_tiles ? 64 : 4, src_step = to_tiles ? 4 : 64;
      for (int64_t j = 0; j < rb / 4; ++j) std::memcpy(dst + j * dst_step, src + j * src_step, 4);
    }
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t tiled = tiled_entries + g * kTileRows, row_order = in_rows * groups + g;
      const int64_t d = to_tiles ? tiled : row_order, s = to_tiles ? row_order : tiled;
      std::memcpy(scales + 2 * d, from.scales.data() + 2 * s, 2);
      if (zeros != nullptr) zeros[d] = from.zero_points.data()[s];
    }
  }
}

}  // namespace

bool TileOrderFits(const WeightTensor& w) {
  return w.quantized() && (w.quant.bits == 2 || w.quant.bits == 4 || w.quant.bits == 8) && w.rows() % kTileRows == 0 &&
         w.row_bytes() % 4 == 0;
}

void WriteTileOrder(const WeightTensor& w, uint8_t* codes, uint8_t* scales, uint8_t* zeros) {
  Reorder(w, 0, w.rows(), true, codes, scales, zeros);
}

WeightTensor InTileOrder(const WeightTensor& w) {
  WeightTensor t = w;
  t.order = CodeOrder::kTiles16;
  std::vector<uint8_t> codes(w.data.size()), scales(w.scales.size()), zeros(w.zero_points.size());
  WriteTileOrder(w, codes.data(), scales.data(), zeros.empty() ? nullptr : zeros.data());
  t.data = Bytes::Own(std::move(codes));
  t.scales = Bytes::Own(std::move(scales));
  if (!zeros.empty()) t.zero_points = Bytes::Own(std::move(zeros));
  return t;
}

WeightTensor RowOrderCopy(const WeightTensor& w, int64_t r0, int64_t r1, std::vector<uint8_t>& storage,
                          bool copy_codes) {
  WeightTensor rows = w;
  rows.order = CodeOrder::kRows;
  rows.shape = {r1 - r0, w.cols()};
  const size_t code_bytes = rows.expected_data_bytes(), scale_bytes = rows.expected_scale_bytes();
  const size_t zero_bytes = rows.expected_zero_bytes();
  storage.resize(code_bytes + scale_bytes + zero_bytes);
  uint8_t* codes = storage.data();
  Reorder(w, r0, r1, false, copy_codes ? codes : nullptr, codes + code_bytes,
          zero_bytes > 0 ? codes + code_bytes + scale_bytes : nullptr);
  rows.data = Bytes(nullptr, codes, code_bytes);
  rows.scales = Bytes(nullptr, codes + code_bytes, scale_bytes);
  rows.zero_points = Bytes(nullptr, codes + code_bytes + scale_bytes, zero_bytes);
  return rows;
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
