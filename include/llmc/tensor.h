// WeightTensor: one named weight as it is stored and used — dense floats, or b-bit codes with
// per-group scales. Import produces them, quantizers transform them, the store writes and loads
// them, and the kernels multiply by them directly (quantized weights stay quantized in memory).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "llmc/dtype.h"

namespace llmc {

// A read-only byte range that keeps whatever owns it alive (a vector, an mmap, an Arrow buffer),
// so tensors can point into a mapped file or a Parquet page without copying.
class Bytes {
 public:
  Bytes() = default;
  Bytes(std::shared_ptr<const void> owner, const uint8_t* data, size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}
  static Bytes Own(std::vector<uint8_t> v);
  // Copies n elements of T into an owned buffer.
  template <typename T>
  static Bytes CopyOf(const T* p, size_t n) {
    const auto* b = reinterpret_cast<const uint8_t*>(p);
    return Own(std::vector<uint8_t>(b, b + n * sizeof(T)));
  }

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  template <typename T>
  const T* as() const { return reinterpret_cast<const T*>(data_); }

 private:
  std::shared_ptr<const void> owner_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// How b-bit codes map to values: w = scale * (code - zero), with code in [0, 2^bits).
enum class QuantGrid : uint8_t {
  kSigned,         // zero = 2^(bits-1): int2 {-2,-1,0,1}·s, int4 -8..7, int8 -128..127 (the design notes')
  kAsymmetric,     // zero = per-group stored code (uint8): 0..2^bits-1 with a zero point
  kSymmetricHalf,  // zero = (2^bits-1)/2: int2 {-1.5,-0.5,0.5,1.5}·s (AngelSlim's 2-bit grid)
};
const char* QuantGridName(QuantGrid g);  // "signed", "asym", "sym_half"
Result<QuantGrid> ParseQuantGrid(std::string_view name);

struct QuantSpec {
  int bits = 0;             // 2, 3, 4 or 8
  int64_t group_size = 0;   // elements per scale along a row; a row's last group may be shorter
  QuantGrid grid = QuantGrid::kSigned;

  bool operator==(const QuantSpec&) const = default;
};

enum class Encoding : uint8_t { kF32, kF16, kBF16, kQuantized };

// How a quantized tensor's bytes are ordered in memory.
//   kRows: as stored (docs/FORMAT.md), the layout WeightTensor's fields describe.
//   kTiles16: the decode kernels' run-time form of 2-, 4- and 8-bit codes (PrepareForMatMul, llmc/kernels.h), never
//   stored. Rows go in tiles of 16; a tile's codes are 64-byte vectors, vector j holding bytes
//   4j..4j+3 of its 16 rows in row order, and its scales and zero points are [group][16 rows]. One
//   vector then feeds 16 rows' dot products at once, and a group's 16 scales load as one.
enum class CodeOrder : uint8_t { kRows, kTiles16 };
inline constexpr int64_t kTileRows = 16;
const char* EncodingName(Encoding e);  // "f32", "f16", "bf16", "quantized"
Encoding EncodingOf(DType t);

struct WeightTensor {
  std::string name;             // HF naming: "model.layers.0.self_attn.q_proj.weight"
  std::vector<int64_t> shape;   // row-major; 2-D weights are [out_features, in_features]
  Encoding encoding = Encoding::kF32;
  QuantSpec quant;              // meaningful when encoding == kQuantized
  // Dense: little-endian values. Quantized: codes as a little-endian bit stream per row — code j of a
  // row occupies bits [j*bits, (j+1)*bits), bit 0 being the least significant bit of the row's first
  // byte — and each row starts on a byte boundary (row_bytes()).
  Bytes data;
  Bytes scales;        // quantized: fp16, [rows][groups_per_row()]
  Bytes zero_points;   // kAsymmetric only: uint8 codes, [rows][groups_per_row()]
  CodeOrder order = CodeOrder::kRows;  // kTiles16: data, scales and zero points reordered (above)

  int64_t numel() const;
  // A tensor is viewed as a matrix: the last dimension is a row; 1-D tensors are a single row.
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  int64_t rows() const { return cols() == 0 ? 0 : numel() / cols(); }
  bool quantized() const { return encoding == Encoding::kQuantized; }
  int64_t groups_per_row() const;
  int64_t row_bytes() const;  // bytes of one row of `data`
  // Bytes `data`, `scales` and `zero_points` must have for this shape and encoding.
  size_t expected_data_bytes() const;
  size_t expected_scale_bytes() const;
  size_t expected_zero_bytes() const;
  // Checks the byte counts against the shape; error names the tensor.
  Status Validate() const;
  // Storage bits per weight including scales and zero points.
  double bits_per_weight() const;
  // "f16", "int2", ...: what `inspect` shows.
  std::string type_name() const;
};

// Whether W can be held in CodeOrder::kTiles16: 2-, 4- or 8-bit codes, rows a multiple of kTileRows,
// whole dwords per row.
bool TileOrderFits(const WeightTensor& w);
// W (kRows, TileOrderFits) in CodeOrder::kTiles16.
WeightTensor InTileOrder(const WeightTensor& w);
// W's codes, scales and zero points (null for a grid without them) written in tile order into
// buffers of W's sizes: InTileOrder into memory the caller provides.
void WriteTileOrder(const WeightTensor& w, uint8_t* codes, uint8_t* scales, uint8_t* zeros);
// Rows [r0, r1) of W (kTiles16) as a kRows tensor of their own, for code that reads rows as stored.
// Its bytes are copied into `storage` (reused from call to call, so a decode step allocates nothing);
// the tensor points into it and is valid until `storage` changes. Without `copy_codes` only the scales
// and zero points are copied, and the codes' bytes (storage's first) are left for the caller to fill.
WeightTensor RowOrderCopy(const WeightTensor& w, int64_t r0, int64_t r1, std::vector<uint8_t>& storage,
                          bool copy_codes = true);

// Dense float tensor helper: wraps owned floats as an F32 WeightTensor.
WeightTensor MakeF32Tensor(std::string name, std::vector<int64_t> shape, std::vector<float> values);

std::string ShapeToString(const std::vector<int64_t>& shape);  // "[576, 1536]"

}  // namespace llmc
