// Overflow-checked size arithmetic for parsers: a hostile header must yield an error, not a wrapped
// size that later passes a bounds check.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace llmc {

// Product of non-negative dimensions, or nullopt when a dimension is negative or the product
// exceeds INT64_MAX.
inline std::optional<int64_t> CheckedNumel(std::span<const int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  return n;
}

// a * b for byte counts, or nullopt on overflow.
inline std::optional<uint64_t> CheckedMul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

}  // namespace llmc
