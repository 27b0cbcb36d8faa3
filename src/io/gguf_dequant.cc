#include "io/gguf_dequant.h"

#include <array>
#include <cstring>

#include "llmc/dtype.h"

namespace llmc {
namespace {

// ---- Block layouts (ggml-common.h). Halves are stored as raw IEEE binary16 bits. ----
constexpr int kQK = 32;    // elements per block of the legacy types
constexpr int kQKK = 256;  // elements per super-block of the k-quants
constexpr int kKScaleSize = 12;

struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];  // nibbles: low = element j, high = element j + 16
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];  // 5th bit of each element, little-endian uint32
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ2_K {
  uint8_t scales[kQKK / 16];  // low nibble: scale, high nibble: min, per 16 elements
  uint8_t qs[kQKK / 4];
  uint16_t d;
  uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

struct BlockQ3_K {
  uint8_t hmask[kQKK / 8];
  uint8_t qs[kQKK / 4];
  uint8_t scales[kKScaleSize];  // sixteen 6-bit scales
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];  // eight 6-bit scales and eight 6-bit mins
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQKK / 8];
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

struct BlockQ6_K {
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// Blocks in a mapped file have no alignment guarantee beyond a byte: copy each one out.
template <typename Block>
Block LoadBlock(const uint8_t* blocks, int64_t i) {
  Block b;
  std::memcpy(&b, blocks + i * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
  return b;
}

// ---- Block decoders (ggml-quants.c dequantize_row_*). ----

void Q4_0ToFloat(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i, y += kQK) {
    const auto b = LoadBlock<BlockQ4_0>(blocks, i);
    const float d = HalfToFloat(b.d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((b.qs[j] & 0x0F) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
    }
  }
}

void Q4_1ToFloat(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i, y += kQK) {
    const auto b = LoadBlock<BlockQ4_1>(blocks, i);
    const float d = HalfToFloat(b.d);
    const float m = HalfToFloat(b.m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(b.qs[j] & 0x0F) * d + m;
      y[j + kQK / 2] = static_cast<float>(b.qs[j] >> 4) * d + m;
    }
  }
}

uint32_t LoadLE32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

// The 5-bit codes of a Q5 block: nibble from qs, 5th bit j of qh.
void Q5Codes(const uint8_t qh_bytes[4], const uint8_t qs[kQK / 2], int codes[kQK]) {
  const uint32_t qh = LoadLE32(qh_bytes);
  for (int j = 0; j < kQK / 2; ++j) {
    codes[j] = (qs[j] & 0x0F) | static_cast<int>((qh >> j) & 1) << 4;
    codes[j + kQK / 2] = (qs[j] >> 4) | static_cast<int>((qh >> (j + kQK / 2)) & 1) << 4;
  }
}

void Q5_0ToFloat(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i, y += kQK) {
    const auto b = LoadBlock<BlockQ5_0>(blocks, i);
    const float d = HalfToFloat(b.d);
    int codes[kQK];
    Q5Codes(b.qh, b.qs, codes);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(codes[j] - 16) * d;
  }
}

void Q5_1ToFloat(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i, y += kQK) {
    const auto b = LoadBlock<BlockQ5_1>(blocks, i);
    const float d = HalfToFloat(b.d);
    const float m = HalfToFloat(b.m);
    int codes[kQK];
    Q5Codes(b.qh, b.qs, codes);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(codes[j]) * d + m;
  }
}

void Q8_0ToFloat(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i, y += kQK) {
    const auto b = LoadBlock<BlockQ8_0>(blocks, i);
    const float d = HalfToFloat(b.d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
  }
}

// Q2_K: 16 groups of 16 elements, each with a 4-bit scale and a 4-bit min; 2-bit codes packed four to
// a byte, each 128-element half reading 32 bytes at shifts 0, 2, 4, 6.
void Q2_KToFloat(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const auto b = LoadBlock<BlockQ2_K>(blocks, i);
    const float d = HalfToFloat(b.d);
    const float dmin = HalfToFloat(b.dmin);
    const uint8_t* q = b.qs;
    int group = 0;
    for (int half = 0; half < kQKK; half += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part, ++group) {
          const float dl = d * static_cast<float>(b.scales[group] & 0x0F);
          const float ml = dmin * static_cast<float>(b.scales[group] >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[l + 16 * part] >> shift) & 3) - ml;
        }
      }
    }
  }
}

// Q3_K's sixteen 6-bit scales: low 4 bits in bytes 0..7 (two nibbles each), high 2 bits in bytes 8..11.
void Q3_KScales(const uint8_t packed[kKScaleSize], int scales[16]) {
  for (int k = 0; k < 16; ++k) {
    const int low = (packed[k % 8] >> (4 * (k / 8))) & 0x0F;
    const int high = (packed[8 + k % 4] >> (2 * (k / 4))) & 0x03;
    scales[k] = (low | high << 4) - 32;
  }
}

// Q3_K: 2 low bits in qs (as Q2_K), the third bit in hmask; a cleared hmask bit subtracts 4.
void Q3_KToFloat(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const auto b = LoadBlock<BlockQ3_K>(blocks, i);
    const float d = HalfToFloat(b.d);
    int scales[16];
    Q3_KScales(b.scales, scales);
    const uint8_t* q = b.qs;
    uint8_t mask = 1;
    int group = 0;
    for (int half = 0; half < kQKK; half += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, mask <<= 1) {
        for (int part = 0; part < 2; ++part, ++group) {
          const float dl = d * static_cast<float>(scales[group]);
          for (int l = 0; l < 16; ++l) {
            const int idx = l + 16 * part;
            const int code = ((q[idx] >> shift) & 3) - ((b.hmask[idx] & mask) ? 0 : 4);
            *y++ = dl * static_cast<float>(code);
          }
        }
      }
    }
  }
}

// Scale and min j (of 8) of a Q4_K/Q5_K block, 6 bits each (ggml's get_scale_min_k4).
void ScaleMinK4(int j, const uint8_t q[kKScaleSize], int* scale, int* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q4_K: 8 groups of 32; each 64-element chunk reads 32 bytes, low nibbles first then high nibbles.
void Q4_KToFloat(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const auto b = LoadBlock<BlockQ4_K>(blocks, i);
    const float d = HalfToFloat(b.d);
    const float dmin = HalfToFloat(b.dmin);
    const uint8_t* q = b.qs;
    for (int group = 0; group < 8; group += 2, q += 32) {
      for (int nib = 0; nib < 2; ++nib) {
        int sc, m;
        ScaleMinK4(group + nib, b.scales, &sc, &m);
        const float dl = d * static_cast<float>(sc);
        const float ml = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l) *y++ = dl * static_cast<float>((q[l] >> (4 * nib)) & 0x0F) - ml;
      }
    }
  }
}

// Q5_K: Q4_K plus a fifth bit per element in qh, bit `group` of qh[l] for element l of that group.
void Q5_KToFloat(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const auto b = LoadBlock<BlockQ5_K>(blocks, i);
    const float d = HalfToFloat(b.d);
    const float dmin = HalfToFloat(b.dmin);
    const uint8_t* q = b.qs;
    for (int group = 0; group < 8; group += 2, q += 32) {
      for (int nib = 0; nib < 2; ++nib) {
        int sc, m;
        ScaleMinK4(group + nib, b.scales, &sc, &m);
        const float dl = d * static_cast<float>(sc);
        const float ml = dmin * static_cast<float>(m);
        const int bit = group + nib;
        for (int l = 0; l < 32; ++l) {
          const int code = ((q[l] >> (4 * nib)) & 0x0F) | ((b.qh[l] >> bit) & 1) << 4;
          *y++ = dl * static_cast<float>(code) - ml;
        }
      }
    }
  }
}

// Q6_K: per 128 elements, 64 bytes of low nibbles and 32 bytes of 2-bit highs; 16 int8 scales of 16.
void Q6_KToFloat(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const auto b = LoadBlock<BlockQ6_K>(blocks, i);
    const float d = HalfToFloat(b.d);
    const uint8_t* ql = b.ql;
    const uint8_t* qh = b.qh;
    const int8_t* sc = b.scales;
    for (int half = 0; half < kQKK; half += 128, ql += 64, qh += 32, sc += 8, y += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4) - 32;
        const int q2 = ((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32;
        const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
        const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

void F32ToFloat(const uint8_t* blocks, float* y, int64_t n) { ToFloat(DType::kF32, blocks, y, n); }
void F16ToFloat(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, blocks + 2 * i, 2);
    y[i] = HalfToFloat(h);
  }
}
void BF16ToFloatBlocks(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, blocks + 2 * i, 2);
    y[i] = BF16ToFloat(h);
  }
}

constexpr std::array<GgmlTypeTraits, 13> kTraits = {{
    {GgmlType::kF32, "F32", 1, 4, true, F32ToFloat},
    {GgmlType::kF16, "F16", 1, 2, true, F16ToFloat},
    {GgmlType::kBF16, "BF16", 1, 2, true, BF16ToFloatBlocks},
    {GgmlType::kQ4_0, "Q4_0", kQK, sizeof(BlockQ4_0), false, Q4_0ToFloat},
    {GgmlType::kQ4_1, "Q4_1", kQK, sizeof(BlockQ4_1), false, Q4_1ToFloat},
    {GgmlType::kQ5_0, "Q5_0", kQK, sizeof(BlockQ5_0), false, Q5_0ToFloat},
    {GgmlType::kQ5_1, "Q5_1", kQK, sizeof(BlockQ5_1), false, Q5_1ToFloat},
    {GgmlType::kQ8_0, "Q8_0", kQK, sizeof(BlockQ8_0), false, Q8_0ToFloat},
    {GgmlType::kQ2_K, "Q2_K", kQKK, sizeof(BlockQ2_K), false, Q2_KToFloat},
    {GgmlType::kQ3_K, "Q3_K", kQKK, sizeof(BlockQ3_K), false, Q3_KToFloat},
    {GgmlType::kQ4_K, "Q4_K", kQKK, sizeof(BlockQ4_K), false, Q4_KToFloat},
    {GgmlType::kQ5_K, "Q5_K", kQKK, sizeof(BlockQ5_K), false, Q5_KToFloat},
    {GgmlType::kQ6_K, "Q6_K", kQKK, sizeof(BlockQ6_K), false, Q6_KToFloat},
}};

// ggml's names for the type ids we do not decode, so the error says what the file holds.
const char* UnsupportedGgmlTypeName(uint32_t id) {
  switch (id) {
    case 9: return "Q8_1";
    case 15: return "Q8_K";
    case 16: return "IQ2_XXS";
    case 17: return "IQ2_XS";
    case 18: return "IQ3_XXS";
    case 19: return "IQ1_S";
    case 20: return "IQ4_NL";
    case 21: return "IQ3_S";
    case 22: return "IQ2_S";
    case 23: return "IQ4_XS";
    case 24: return "I8";
    case 25: return "I16";
    case 26: return "I32";
    case 27: return "I64";
    case 28: return "F64";
    case 29: return "IQ1_M";
    case 34: return "TQ1_0";
    case 35: return "TQ2_0";
    case 39: return "MXFP4";
    default: return nullptr;
  }
}

}  // namespace

Result<const GgmlTypeTraits*> GgmlTypeTraitsFor(uint32_t type_id) {
  for (const auto& t : kTraits) {
    if (static_cast<uint32_t>(t.type) == type_id) return &t;
  }
  const char* known = UnsupportedGgmlTypeName(type_id);
  if (known != nullptr) {
    return Status::Unsupported(
        "ggml type {} (id {}) (supported: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K)", known,
        type_id);
  }
  return Status::Unsupported("unknown ggml type id {}", type_id);
}

std::vector<float> DequantizeToF32(const GgmlTypeTraits& type, const uint8_t* data, int64_t numel) {
  std::vector<float> out(static_cast<size_t>(numel));
  type.to_float(data, out.data(), numel / type.block_elems);
  return out;
}

std::span<const GgmlTypeTraits> AllGgmlTypeTraits() { return kTraits; }

}  // namespace llmc
