// The GEMM front (prefill, calibration, products of two activation matrices): splits the output into
// work items of one tile of kGemmTileRows weight rows times a chunk of tokens, spread over OpenMP
// threads. An item brings its rows to floats (decoding quantized or half weights into a per-thread
// buffer), packs them (gemm_hwy.cc) and multiplies its tokens. Items change only which outputs are
// computed together, never how one is computed, so results do not depend on the thread count.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/kernels_internal.h"
#include "llmc/kernels.h"

namespace llmc::kernels {
namespace {

// Below this many multiply-adds a product is too short to pay for waking threads.
constexpr int64_t kMinParallelMacs = int64_t{1} << 18;
// A chunk of tokens is never shorter than this (the micro-kernel's token block, several times over).
constexpr int64_t kMinChunkTokens = 32;

// Per-thread buffers on 64-byte boundaries: a panel row is two whole cache lines, so the
// micro-kernel's vector loads never straddle two lines; nor do the packing's loads of decoded rows
// whose length is a multiple of 16 floats.
float* Grown(AlignedVector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

// c[m][n] = a[m][k] · bᵀ, where rows_of(r0, r1, buffer, ld) returns rows [r0, r1) of b as floats
// `ld` apart (pointing into b itself, or into `buffer` after decoding them).
template <class RowsOf>
void TiledGemm(const float* a, int64_t lda, int64_t m, int64_t n, int64_t k, float* c, int64_t ldc,
               const RowsOf& rows_of) {
  if (m <= 0 || n <= 0) return;
  const int threads = omp_in_parallel() || m * n * k < kMinParallelMacs ? 1 : NumThreads();
  const int64_t tiles = (n + kGemmTileRows - 1) / kGemmTileRows;
  // Enough items to keep every thread busy: split the tokens when there are few tiles.
  const int64_t chunks = std::clamp<int64_t>((2 * threads + tiles - 1) / tiles, 1,
                                             std::max<int64_t>(1, m / kMinChunkTokens));
  const int64_t chunk = (m + chunks - 1) / chunks;
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (threads > 1)
  for (int64_t item = 0; item < tiles * chunks; ++item) {
    thread_local AlignedVector<float> decoded;
    thread_local AlignedVector<float> packed;
    const int64_t r0 = item / chunks * kGemmTileRows;
    const int64_t r1 = std::min(n, r0 + kGemmTileRows);
    const int64_t t0 = item % chunks * chunk;
    const int64_t t1 = std::min(m, t0 + chunk);
    if (t0 >= t1) continue;
    int64_t ldb = 0;
    const float* b = rows_of(r0, r1, decoded, ldb);
    float* tile = Grown(packed, kGemmTileRows * k);
    PackTile(b, ldb, r1 - r0, k, tile);
    GemmPacked(a + t0 * lda, lda, t1 - t0, tile, r1 - r0, k, c + t0 * ldc + r0, ldc);
  }
}

}  // namespace

void GemmWeights(const WeightTensor& w, const float* x, int64_t n_tokens, float* y) {
  const int64_t cols = w.cols();
  TiledGemm(x, cols, n_tokens, w.rows(), cols, y, w.rows(),
            [&](int64_t r0, int64_t r1, AlignedVector<float>& buffer, int64_t& ld) -> const float* {
              ld = cols;
              float* rows = Grown(buffer, (r1 - r0) * cols);
              DecodeRows(w, r0, r1, rows);
              return rows;
            });
}

}  // namespace llmc::kernels

namespace llmc {

void MatMulF32(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n,
               int64_t k) {
  if (m == 1) {  // one row: dot products straight off b (DotRows), no packing
    // Inside a parallel region, or for short rows, no OpenMP construct at all: even a team of one
    // costs about a microsecond. The kernel groups rows from the first, so tiles of kGemmTileRows
    // rows group them the same way.
    if (omp_in_parallel() || n * k < kernels::kMinParallelMacs) return DotRows(a, 1, b, ldb, n, k, c, n);
#pragma omp parallel for schedule(static) num_threads(NumThreads())
    for (int64_t r0 = 0; r0 < n; r0 += kernels::kGemmTileRows) {
      DotRows(a, 1, b + r0 * ldb, ldb, std::min(kernels::kGemmTileRows, n - r0), k, c + r0, n);
    }
    return;
  }
  kernels::TiledGemm(a, lda, m, n, k, c, ldc,
                     [&](int64_t r0, int64_t, kernels::AlignedVector<float>&, int64_t& ld) -> const float* {
                       ld = ldb;
                       return b + r0 * ldb;
                     });
}

}  // namespace llmc
