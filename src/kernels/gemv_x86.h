// Decode GEMV with int8 activations through x86 byte dot products (vpmaddubsw on AVX2, vpdpbusd on
// AVX-512 VNNI) for 2-, 4- and 8-bit codes. Highway 1.0.3 exposes neither instruction, so the kernels are
// raw intrinsics in per-ISA files compiled with target attributes and picked at run time; the front
// (matmul.cc) falls back to the Highway int8 path where IsaFor says kNone.
//
// Layout. A row's packed bytes are walked in chunks of 64 bytes (the last one partial). In a chunk,
// byte i holds codes m*i + k (m = 8 / bits codes per byte, k < m) and a shift by k*bits plus a mask
// puts code m*i + k into byte lane i of vector k. The activations are reordered once per token to
// match: xa[chunk * 64m + k*64 + i] = xq[chunk * 64m + m*i + k] (zero past the row), so no shuffle is
// needed per weight (8-bit: m = 1, the identity). Every 32 codes (one "subgroup": 8, 16 or 32 bytes of
// 2-, 4- or 8-bit codes) lie in one weight group and in one activation block (kActivationBlock), so
// int32 lane q of the row (code bytes 4q..4q+3) is scaled by a permutation of the row's group scales
// times lane_scales[q], the activation block scales expanded once per call.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernels_internal.h"
#include "llmc/tensor.h"

namespace llmc::kernels::x86 {

enum class Isa { kNone, kAvx2, kAvx512Vnni };

// The instruction set the byte path uses for W on this CPU; kNone when it does not apply: codes
// other than 2, 4 or 8 bits, groups or rows that are not whole multiples of 32 codes, a CPU without
// AVX2/F16C/FMA, or a Highway target mask (tests) that excludes AVX2. Groups must be 32 * 2^k codes
// or span the whole row, so that a lane's group is a shift of its subgroup index. Reads only W's
// shape and quantization, not its bytes.
Isa IsaFor(const WeightTensor& w);

// One call's int8 activations in the kernels' order.
struct Activations {
  AlignedVector<int8_t> bytes;       // chunk-interleaved xq, zero past the row
  AlignedVector<float> lane_scales;  // [q]: block scale of int32 lane q's codes, zero past the row (+16 pad)
};

// Bytes of the interleaved activations for rows of `cols` codes of `bits` bits: whole chunks.
int64_t InterleavedBytes(int64_t cols, int bits);
// a.xq and a.xq_block_scales (token 0) reordered for codes of `bits` bits into xa (buffers reused),
// with isa's instructions where it has a faster way.
void PrepareActivations(Isa isa, const MatMulArgs& a, int bits, Activations& xa);

// Rows [r0, r1) of a.y with int8 activations: a.xq_group_sums and xa.
void GemvRows(Isa isa, const MatMulArgs& a, const Activations& xa, int64_t r0, int64_t r1);

// Per-ISA kernels (gemv_x86_avx2.cc, gemv_x86_avx512.cc).
void GemvRowsAvx2(const MatMulArgs& a, const Activations& xa, int64_t r0, int64_t r1);
void GemvRowsAvx512Vnni(const MatMulArgs& a, const Activations& xa, int64_t r0, int64_t r1);
// Whole chunks of xq interleaved for `bits`-bit codes (PrepareActivations' reordering).
void InterleaveAvx512(const int16_t* xq, int64_t chunks, int bits, int8_t* xa);

}  // namespace llmc::kernels::x86
