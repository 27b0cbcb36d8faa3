// ggml tensor types that GGUF import can turn into floats: one traits row per type (block size,
// block bytes, block-to-float function), following ggml's block layouts bit for bit.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "llmc/status.h"

namespace llmc {

// Type ids as ggml numbers them (ggml.h enum ggml_type); ids 4 and 5 were retired.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30,
};

struct GgmlTypeTraits {
  GgmlType type;
  const char* name;      // "Q4_1": what TensorSource::source_type reports
  int64_t block_elems;   // values per block (1 for the float types)
  int64_t block_bytes;   // bytes per block
  bool is_float;         // F32/F16/BF16: stored as plain values, imported without dequantizing
  // Decodes n_blocks consecutive blocks into n_blocks * block_elems floats.
  void (*to_float)(const uint8_t* blocks, float* out, int64_t n_blocks);
};

// Traits of a supported type id; Unsupported naming the id (and ggml's name for it, when known) otherwise.
Result<const GgmlTypeTraits*> GgmlTypeTraitsFor(uint32_t type_id);

// Decodes `numel` values (a whole number of blocks, as GgufFile guarantees) into floats.
std::vector<float> DequantizeToF32(const GgmlTypeTraits& type, const uint8_t* data, int64_t numel);

// Every supported type, for table-driven tests.
std::span<const GgmlTypeTraits> AllGgmlTypeTraits();

}  // namespace llmc
