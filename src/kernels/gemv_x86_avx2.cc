// The x86 byte-dot-product GEMV (gemv_x86.h) for AVX2: each 64-byte chunk is two 32-byte vpmaddubsw
// blocks.
#include "kernels/gemv_x86.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "llmc/dtype.h"
#include "llmc/quant.h"

namespace llmc::kernels::x86 {
namespace {

#define LLMC_X86_TARGET __attribute__((target("avx2,fma,f16c")))
#include "kernels/gemv_x86-inl.h"

struct Avx2 {
  template <int kBits>
  LLMC_X86_TARGET static float RowDot(const uint8_t* p, const int8_t* x, const float* group_scales, const RowLayout& l) {
    constexpr int m = kCodesPerByte<kBits>;
    constexpr int64_t half_subgroups = 32 / kSubgroupBytes<kBits>;
    const __m256i lane_subgroup = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneSubgroup<kBits>));
    const int log2 = l.log2_subgroups_per_group;
    __m256 acc = _mm256_setzero_ps();
    int64_t left = l.row_bytes, k0 = 0;
    for (; left >= 64; left -= 64, p += 64, x += 64 * m, k0 += 2 * half_subgroups) {
      acc = Step32<kBits>(p, x, 64, ScalesAt(group_scales, k0, log2, lane_subgroup), acc);
      acc = Step32<kBits>(p + 32, x + 32, 64, ScalesAt(group_scales, k0 + half_subgroups, log2, lane_subgroup), acc);
    }
    return TailDot<kBits>(p, x, group_scales, k0, l, left, acc);
  }
};

#undef LLMC_X86_TARGET
}  // namespace

void GemvRowsAvx2(const MatMulArgs& a, const int8_t* xa, int64_t r0, int64_t r1) {
  GemvRowsWith<Avx2>(a, xa, r0, r1);
}

}  // namespace llmc::kernels::x86
#endif
