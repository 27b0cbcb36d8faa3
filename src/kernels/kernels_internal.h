// What the kernel front (matmul.cc) hands to the per-instruction-set files (*_hwy.cc): one call's
// operands, already prepared (activations padded, group sums, int8 copies). Not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "llmc/tensor.h"

namespace llmc::kernels {

// Storage starting on a 64-byte boundary, for the buffers the kernels read with whole-vector loads:
// std::vector's own is 16-byte aligned (large ones come from mmap 16 bytes past a page boundary),
// which splits every 64-byte load across two cache lines.
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  explicit CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t{64}); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const { return true; }
};
template <class T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

// Activations are stored with rows of `stride` floats (cols rounded up to a whole number of the
// widest vector), zero-padded, so dot products over padded rows need no tail handling.
inline constexpr int64_t kPadFloats = 16;
inline int64_t PaddedCols(int64_t cols) { return (cols + kPadFloats - 1) / kPadFloats * kPadFloats; }

// Columns per int8 activation scale (llama.cpp's Q8_0 block): one outlier only coarsens its block.
inline constexpr int64_t kActivationBlock = 32;

// Whether W's groups nest the activation blocks (groups of whole blocks, or one group per row), so a
// block's integer dot product needs one weight scale: the int8 activation path applies.
inline bool Int8ActivationsApply(const WeightTensor& w) {
  return w.quantized() && (w.quant.group_size % kActivationBlock == 0 || w.groups_per_row() == 1);
}

struct MatMulArgs {
  const WeightTensor* w = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t n_tokens = 0;
  const float* x = nullptr;           // [n_tokens][stride], zero-padded
  int64_t stride = 0;
  const float* x_group_sums = nullptr;  // [n_tokens][groups]: sum of x over each quantization group
  // Int8 activation path (decode, token 0 only): x[c] ≈ xq_block_scales[c / 32] * xq[c] with xq in
  // [-127, 127] (held in int16 lanes), one scale per block of kActivationBlock columns.
  const int16_t* xq = nullptr;               // [stride], zero-padded
  const float* xq_block_scales = nullptr;    // [ceil(cols / kActivationBlock)]
  // Per quantization group: sum over its blocks of block scale * sum(xq over the block), i.e. the
  // quantized activations' sum, for the hoisted zeros.
  const float* xq_group_sums = nullptr;      // [groups]
  float* y = nullptr;                 // [n_tokens][rows]
};

// Symmetric int8 quantization per block of kActivationBlock columns (llama.cpp's Q8_0):
// x[c] ≈ block_scales[c / 32] * q[c], q in [-127, 127] rounded to nearest (ties to even), a block's
// scale its largest |x| / 127; block_sums[b] = block_scales[b] * sum of the block's q. An all-zero
// block gets scale 0, a block holding NaN or inf scale NaN; both leave their q untouched (the caller
// zero-fills q).
void QuantizeBlocks(const float* x, int64_t cols, int16_t* q, float* block_scales, float* block_sums);
// Rows [r0, r1) of y for token 0 with float activations (decode: weights streamed once).
void GemvRows(const MatMulArgs& a, int64_t r0, int64_t r1);
// Same with int8 activations and integer dot products; quantized weights only.
void GemvRowsInt8(const MatMulArgs& a, int64_t r0, int64_t r1);
// GEMM (gemm.cc, gemm_hwy.cc). Weight rows packed per work item: a multiple of every target's panel
// (2, 16 or 32 rows).
inline constexpr int64_t kGemmTileRows = 64;
// y[t][r] = sum_c x[t][c] * W[r][c] for every token (the n_tokens > 1 side of MatMul).
void GemmWeights(const WeightTensor& w, const float* x, int64_t n_tokens, float* y);
// Rows [r0, r1) of W (any encoding) decoded into out[r1 - r0][cols] with the SIMD unpacker.
void DecodeRows(const WeightTensor& w, int64_t r0, int64_t r1, float* out);
// Rows [0, n) of b (n <= kGemmTileRows, rows ldb floats apart, k columns) into the target's panel
// layout in packed[kGemmTileRows * k].
void PackTile(const float* b, int64_t ldb, int64_t n, int64_t k, float* packed);
// c[t][j] = sum_p a[t][p] * b[j][p] for t < m, j < n with b packed by PackTile.
void GemmPacked(const float* a, int64_t lda, int64_t m, const float* packed, int64_t n, int64_t k, float* c,
                int64_t ldc);

// Name of the Highway target the dispatcher picked on this CPU.
const char* DispatchedTargetName();

}  // namespace llmc::kernels
