#include "quant/packing.h"

#include <cstring>

namespace llmc {

namespace {

Status CheckLayout(int64_t cols, int bits) {
  if (bits < 1 || bits > 8) return Status::Invalid("packing: {} bits per code (expected 1 to 8)", bits);
  if (cols <= 0) return Status::Invalid("packing: {} codes per row (expected > 0)", cols);
  return Status::OK();
}

}  // namespace

void PackRow(const uint8_t* codes, int64_t cols, int bits, uint8_t* out) {
  std::memset(out, 0, static_cast<size_t>(PackedRowBytes(cols, bits)));
  for (int64_t j = 0; j < cols; ++j) {
    const int64_t bit = j * bits;
    const int shift = static_cast<int>(bit & 7);
    const uint32_t v = static_cast<uint32_t>(codes[j]) << shift;  // at most 15 bits wide
    out[bit >> 3] |= static_cast<uint8_t>(v);
    if (shift + bits > 8) out[(bit >> 3) + 1] |= static_cast<uint8_t>(v >> 8);
  }
}

void UnpackRow(const uint8_t* packed, int64_t cols, int bits, uint8_t* codes) {
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t j = 0; j < cols; ++j) {
    const int64_t bit = j * bits;
    const int shift = static_cast<int>(bit & 7);
    uint32_t v = packed[bit >> 3] >> shift;
    if (shift + bits > 8) v |= static_cast<uint32_t>(packed[(bit >> 3) + 1]) << (8 - shift);
    codes[j] = static_cast<uint8_t>(v & mask);
  }
}

Result<std::vector<uint8_t>> PackCodes(std::span<const uint8_t> codes, int64_t cols, int bits) {
  LLMC_RETURN_IF_ERROR(CheckLayout(cols, bits));
  if (codes.size() % static_cast<size_t>(cols) != 0) {
    return Status::Invalid("packing: {} codes is not a whole number of {}-wide rows", codes.size(), cols);
  }
  for (size_t i = 0; i < codes.size(); ++i) {
    if (codes[i] >> bits != 0) {
      return Status::Invalid("packing: code {} at index {} does not fit in {} bits", codes[i], i, bits);
    }
  }
  const int64_t rows = static_cast<int64_t>(codes.size()) / cols;
  const int64_t row_bytes = PackedRowBytes(cols, bits);
  std::vector<uint8_t> out(static_cast<size_t>(rows * row_bytes));
  for (int64_t r = 0; r < rows; ++r) PackRow(codes.data() + r * cols, cols, bits, out.data() + r * row_bytes);
  return out;
}

Result<std::vector<uint8_t>> UnpackCodes(std::span<const uint8_t> packed, int64_t cols, int bits) {
  LLMC_RETURN_IF_ERROR(CheckLayout(cols, bits));
  const int64_t row_bytes = PackedRowBytes(cols, bits);
  if (packed.size() % static_cast<size_t>(row_bytes) != 0) {
    return Status::Invalid("unpacking: {} bytes is not a whole number of {}-byte rows ({} codes of {} bits)",
                           packed.size(), row_bytes, cols, bits);
  }
  const int64_t rows = static_cast<int64_t>(packed.size()) / row_bytes;
  std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) UnpackRow(packed.data() + r * row_bytes, cols, bits, codes.data() + r * cols);
  return codes;
}

}  // namespace llmc
