// Floating-point storage types and their conversions.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "llmc/status.h"

namespace llmc {

enum class DType : uint8_t { kF32, kF16, kBF16 };

int DTypeSize(DType t);
const char* DTypeName(DType t);  // "f32", "f16", "bf16"
Result<DType> ParseDType(std::string_view name);

// IEEE binary16 <-> binary32, round to nearest even; exact for every finite half.
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);

inline float BF16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
// Round to nearest even; NaN stays NaN.
uint16_t FloatToBF16(float f);

// Converts n values stored as `from` into float.
void ToFloat(DType from, const void* src, float* dst, int64_t n);
// Converts n floats into `to` storage.
void FromFloat(DType to, const float* src, void* dst, int64_t n);

}  // namespace llmc
