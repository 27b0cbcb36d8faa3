// Decode GEMV with int8 activations through x86 byte dot products (vpmaddubsw on AVX2, vpdpbusd on
// AVX-512 VNNI) for 2- and 4-bit codes. Highway 1.0.3 exposes neither instruction, so the kernels are
// raw intrinsics in per-ISA files compiled with target attributes and picked at run time; the front
// (matmul.cc) falls back to the Highway int8 path where IsaFor says kNone.
//
// Layout. A row's packed bytes are walked in chunks of 64 bytes (the last one partial). In a chunk,
// byte i holds codes m*i + k (m = 8 / bits codes per byte, k < m) and a shift by k*bits plus a mask
// puts code m*i + k into byte lane i of vector k. The activations are reordered once per token to
// match: xa[chunk * 64m + k*64 + i] = xq[chunk * 64m + m*i + k] (zero past the row), so no shuffle is
// needed per weight. Every 32 codes (one "subgroup": 8 bytes of 2-bit, 16 bytes of 4-bit codes) lie in one
// group, so the int32 lanes of a step are scaled by a permutation of the row's group scales.
#pragma once

#include <cstdint>

#include "kernels/kernels_internal.h"
#include "llmc/tensor.h"

namespace llmc::kernels::x86 {

enum class Isa { kNone, kAvx2, kAvx512Vnni };

// The instruction set the byte path uses for W on this CPU; kNone when it does not apply: codes
// other than 2 or 4 bits, groups or rows that are not whole multiples of 32 codes, a CPU without
// AVX2/F16C/FMA, or a Highway target mask (tests) that excludes AVX2. Groups must be 32 * 2^k codes
// or span the whole row, so that a lane's group is a shift of its subgroup index.
Isa IsaFor(const WeightTensor& w);

// Bytes of the interleaved activations for rows of `cols` codes of `bits` bits: whole chunks.
int64_t InterleavedBytes(int64_t cols, int bits);
// xq[cols] (int8 values held in int16) into the chunk-interleaved order described above.
void InterleaveActivations(const int16_t* xq, int64_t cols, int bits, int8_t* xa);

// Rows [r0, r1) of a.y with int8 activations: a.xq_scale, a.xq_group_sums and xa (interleaved).
void GemvRows(Isa isa, const MatMulArgs& a, const int8_t* xa, int64_t r0, int64_t r1);

// Per-ISA kernels (gemv_x86_avx2.cc, gemv_x86_avx512.cc).
void GemvRowsAvx2(const MatMulArgs& a, const int8_t* xa, int64_t r0, int64_t r1);
void GemvRowsAvx512Vnni(const MatMulArgs& a, const int8_t* xa, int64_t r0, int64_t r1);

}  // namespace llmc::kernels::x86
