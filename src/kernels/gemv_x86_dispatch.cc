// Run-time choice of the x86 byte-dot-product GEMV and the per-call activation reordering it needs.
#include <algorithm>
#include <string_view>

#include "kernels/gemv_x86.h"

namespace llmc::kernels::x86 {
namespace {

#if defined(__x86_64__) || defined(__i386__)
bool CpuHasAvx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
bool CpuHasAvx512Vnni() {
  return CpuHasAvx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}
#else
bool CpuHasAvx2() { return false; }
bool CpuHasAvx512Vnni() { return false; }
#endif

}  // namespace

Isa IsaFor(const WeightTensor& w) {
  static const bool avx2 = CpuHasAvx2();
  static const bool avx512_vnni = CpuHasAvx512Vnni();
  // Groups of 2^k subgroups of 32 codes (or one group per row): a lane's group is a shift away.
  const int64_t subgroups_per_group = w.quantized() ? w.quant.group_size / 32 : 0;
  const bool shape_fits = w.quantized() && (w.quant.bits == 2 || w.quant.bits == 4 || w.quant.bits == 8) && w.cols() % 32 == 0 &&
                          w.quant.group_size % 32 == 0 &&
                          ((subgroups_per_group & (subgroups_per_group - 1)) == 0 || w.groups_per_row() == 1);
  if (!shape_fits) return Isa::kNone;
  // Tests narrow Highway's targets to exercise each path; follow the target Highway dispatches to
  // (a table lookup; hwy::SupportedTargets() would run CPUID, which traps in VMs, on every call).
  const std::string_view target = DispatchedTargetName();
  if (avx512_vnni && target == "AVX3") return Isa::kAvx512Vnni;
  if (avx2 && (target == "AVX2" || target == "AVX3")) return Isa::kAvx2;
  return Isa::kNone;
}

int64_t InterleavedBytes(int64_t cols, int bits) {
  const int64_t chunks = (cols * bits / 8 + 63) / 64;
  return chunks * 64 * (8 / bits);
}

namespace {

// xa[chunk * 64m + k * 64 + i] = xq[(chunk * 64 + i) * m + k] for whole chunks (xq is zero-padded
// to a whole number of kPadFloats; past it, and past the row's bytes, xa stays zero). m is a
// constant so the strided copy compiles to shuffles instead of a division per byte.
template <int m>
void Interleave(const int16_t* xq, int64_t bytes, int8_t* xa) {
  for (int64_t chunk = 0; chunk * 64 < bytes; ++chunk) {
    const int64_t n = std::min<int64_t>(64, bytes - chunk * 64);
    const int16_t* src = xq + chunk * 64 * m;
    int8_t* dst = xa + chunk * 64 * m;
    for (int k = 0; k < m; ++k) {
      for (int64_t i = 0; i < n; ++i) dst[k * 64 + i] = static_cast<int8_t>(src[i * m + k]);
    }
  }
}

}  // namespace

void PrepareActivations(Isa isa, const MatMulArgs& a, int bits, Activations& xa) {
  const int m = 8 / bits;
  const int64_t bytes = a.cols * bits / 8;  // IsaFor: whole subgroups, so whole bytes
  xa.bytes.assign(static_cast<size_t>(InterleavedBytes(a.cols, bits)), 0);
  int64_t done = 0;  // bytes of the row interleaved by the ISA's whole-chunk routine
#if defined(__x86_64__) || defined(__i386__)
  if (isa == Isa::kAvx512Vnni) {
    done = bytes / 64 * 64;
    InterleaveAvx512(a.xq, done / 64, bits, xa.bytes.data());
  }
#endif
  const int16_t* xq = a.xq + done * m;
  int8_t* out = xa.bytes.data() + done * m;
  switch (m) {
    case 4: Interleave<4>(xq, bytes - done, out); break;
    case 2: Interleave<2>(xq, bytes - done, out); break;
    default: Interleave<1>(xq, bytes - done, out); break;
  }
  // Lane q holds codes 4mq..4mq+4m-1, all in block 4mq / 32.
  const int64_t lanes = (bytes + 63) / 64 * 16;
  xa.lane_scales.assign(static_cast<size_t>(lanes + 16), 0.0f);
  for (int64_t q = 0; q < bytes / 4; ++q) xa.lane_scales[q] = a.xq_block_scales[q * 4 * m / kActivationBlock];
}

void GemvRows(Isa isa, const MatMulArgs& a, const Activations& xa, int64_t r0, int64_t r1) {
#if defined(__x86_64__) || defined(__i386__)  // elsewhere IsaFor is always kNone
  if (isa == Isa::kAvx512Vnni) {
    GemvRowsAvx512Vnni(a, xa, r0, r1);
  } else {
    GemvRowsAvx2(a, xa, r0, r1);
  }
#endif
}

}  // namespace llmc::kernels::x86
