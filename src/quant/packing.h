// Packing of b-bit codes into the per-row little-endian bit stream every quantized WeightTensor uses:
// code j of a row occupies bits [j*bits, (j+1)*bits), bit 0 being the least significant bit of the
// row's first byte, and each row starts on a byte boundary. Shared by every quantizer (RTN, GPTQ).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "llmc/status.h"

namespace llmc {

// Bytes one packed row of `cols` codes of `bits` bits occupies.
inline int64_t PackedRowBytes(int64_t cols, int bits) { return (cols * bits + 7) / 8; }

// One row: codes[0..cols) (each < 2^bits, not checked) into PackedRowBytes(cols, bits) bytes at `out`.
void PackRow(const uint8_t* codes, int64_t cols, int bits, uint8_t* out);
// The inverse: PackedRowBytes(cols, bits) bytes into cols codes.
void UnpackRow(const uint8_t* packed, int64_t cols, int bits, uint8_t* codes);

// Whole matrices, rows = codes.size() / cols. Checks the bit width, the sizes and every code's range.
Result<std::vector<uint8_t>> PackCodes(std::span<const uint8_t> codes, int64_t cols, int bits);
Result<std::vector<uint8_t>> UnpackCodes(std::span<const uint8_t> packed, int64_t cols, int bits);

}  // namespace llmc
