// The x86 byte-dot-product GEMV (gemv_x86.h) for AVX2: 32-byte vpmaddubsw steps (gemv_x86-inl.h).
#include "kernels/gemv_x86.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "llmc/dtype.h"
#include "llmc/quant.h"

namespace llmc::kernels::x86 {
namespace {

#define LLMC_X86_TARGET __attribute__((target("avx2,fma,f16c")))
#include "kernels/gemv_x86-inl.h"

struct Avx2 {
  // 8-bit codes enter vpmaddubsw as c - 128 (BlockDot32).
  static constexpr int CodeBias(int bits) { return bits == 8 ? 128 : 0; }

  template <int kBits>
  LLMC_X86_TARGET static float RowDot(const uint8_t* p, const int8_t* x, const float* xs, const float* group_scales,
                                      const RowLayout& l) {
    return RowDotAvx2<kBits>(p, x, xs, group_scales, l);
  }
};

#undef LLMC_X86_TARGET
}  // namespace

void GemvRowsAvx2(const MatMulArgs& a, const Activations& xa, int64_t r0, int64_t r1) {
  GemvRowsWith<Avx2>(a, xa, r0, r1);
}

}  // namespace llmc::kernels::x86
#endif
