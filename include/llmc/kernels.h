// Matrix kernels over WeightTensors of any encoding. Front functions validate and dispatch to the
// best instruction set found at run time (Highway); a scalar reference defines the result.
#pragma once

#include <cstdint>
#include <span>

#include "llmc/tensor.h"

namespace llmc {

// y[t][r] = sum_c x[t][c] * W[r][c] for t < n_tokens, r < W.rows(), c < W.cols().
// x is [n_tokens][W.cols()] floats, y is [n_tokens][W.rows()] floats. Multi-threaded (OpenMP),
// with results identical for every thread count. W must pass WeightTensor::Validate() (loaders and
// quantizers guarantee it). n_tokens == 1 streams the packed weights once (GEMV); more tokens
// decode tiles of rows once and multiply them against blocks of tokens (GEMM, as MatMulF32).
void MatMul(const WeightTensor& w, const float* x, int64_t n_tokens, float* y);

// One product of MatMulMany: y = W x.
struct MatMulOutput {
  const WeightTensor* w;
  float* y;
};
// y_i = W_i x for weights of one width that read the same x (a layer's q, k and v; gate and up),
// each exactly as MatMul computes it. At decode the products share one parallel region (one fork and join instead
// of one per weight) and one int8 quantization of x.
void MatMulMany(std::span<const MatMulOutput> outs, const float* x, int64_t n_tokens);

// Decode (n_tokens == 1) activations for quantized weights: int8 (the default) or float. With int8,
// each call quantizes x to [-127, 127] with one float scale per block of 32 columns (llama.cpp's Q8_0
// scheme, so an outlier channel coarsens only its own block) and multiplies codes by integer dot
// products, one float scale (weight group x activation block) per 32 codes; the zeros stay exact
// float corrections per group. On x86, 2/4/8-bit codes in groups of 32 * 2^k codes (or one group per
// row) and rows of whole 32-code blocks use byte dot products (vpdpbusd on AVX-512 VNNI, vpmaddubsw on
// AVX2); other shapes and 3-bit codes (which a model holds widened, PrepareForMatMul) use the
// Highway int8 path; groups that split the blocks (e.g. 36) keep float activations.
// SetActivationInt8(false) forces float activations everywhere (`llmc bench|perplexity
// --float-activations` measure the difference). Dense weights and n_tokens > 1 always use float
// activations. Results are identical for every thread count either way.
// Measured effect (`llmc perplexity STORE --decode --chunks 4`, wikitext2-valid-part2, 1020 tokens
// scored through the decode kernels): SmolLM2-135M PTQ int4 50.1227 -> 50.3038 (+0.36 %; it moves by a
// few tenths with the kernels' summation order, docs/RESULTS.md section 5 has the history); the
// per-token scale this replaced moved int4 by 2.9 %.
void SetActivationInt8(bool on);
bool ActivationInt8();

// c[i][j] = sum_p a[i][p] * b[j][p] for i < m, j < n, p < k: row-major float matrices whose rows are
// lda, ldb and ldc floats apart. MatMul's prefill GEMM for products of two activation matrices
// (attention scores, Hessians XᵀX). Multi-threaded outside OpenMP parallel regions (one thread
// inside one); each output is one fused multiply-add chain over p in order (m == 1, e.g. decode
// attention: four interleaved chains, no packing), so results do not depend on the thread count.
void MatMulF32(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n,
               int64_t k);

// Decode attention's two products over the cache, read in place, on the calling thread, for
// `queries` query vectors at once: the query heads that share one key-value head (GQA) read each
// cached row once. Query q gives exactly what it gives alone (queries == 1).
//
// out[q * ldo + c] = sum_j weights[q * ldw + j] * rows[j][c] for c < cols, j < n (rows ld elements
// apart): the value product.
void WeightedRowSum(const float* weights, int64_t ldw, int64_t queries, const float* rows, int64_t ld, int64_t n,
                    int64_t cols, float* out, int64_t ldo);
// y[q * ldy + j] = sum_p x[q * k + p] * rows[j][p] for j < n, p < k (rows ld elements apart): the
// scores against the cached keys (MatMulF32 with m == 1 computes one query's this way).
void DotRows(const float* x, int64_t queries, const float* rows, int64_t ld, int64_t n, int64_t k, float* y,
             int64_t ldy);

// The same over a half-precision KV cache: rows of IEEE binary16 (their bits as uint16_t), each
// element widened to float (exactly) and then summed as the float versions sum.
void WeightedRowSum(const float* weights, int64_t ldw, int64_t queries, const uint16_t* half_rows, int64_t ld, int64_t n,
                    int64_t cols, float* out, int64_t ldo);
void DotRows(const float* x, int64_t queries, const uint16_t* half_rows, int64_t ld, int64_t n, int64_t k, float* y,
             int64_t ldy);

// gate[i] = gate[i] · sigmoid(gate[i]) · up[i] for i < n (SwiGLU), on the calling thread, with a
// vectorized exp (at most 1 ulp from e^x).
void SwiGlu(float* gate, const float* up, int64_t n);

// Softmax of row[first..last] scaled by `scale`, in place (max subtracted, vectorized exp); the rest
// of the row's `width` entries become 0, so masked keys add nothing in a value product.
void MaskedSoftmax(float* row, int64_t first, int64_t last, int64_t width, float scale);

// halves[i] = x[i] as IEEE binary16 (its bits), rounded to nearest even, for i < n: FloatToHalf's
// result for every value but NaN, which stays a NaN; vectorized (the half KV cache stores each new
// key and value this way).
void FloatsToHalves(const float* x, int64_t n, uint16_t* halves);

// One part of a softmax taken over several ranges of a row (decode attention splits the keys):
// row[i] ← e^(scale · row[i] − max) for i < n, in place, with max = the largest scale · row[i]
// (-inf when n == 0). A softmax over the parts is e^(max_p − M) / sum_q e^(max_q − M) sum_q times
// each part's values, M the largest max. MaskedSoftmax is this times 1 / sum, bit for bit.
struct SoftmaxPart {
  float max;
  float sum;  // of the exps
};
SoftmaxPart PartialSoftmax(float* row, int64_t n, float scale);

// log sum_i exp(x[i]) for n >= 1 (max subtracted first, vectorized exp, the sum in double): the
// normalizer of a row of logits.
double LogSumExp(const float* x, int64_t n);

// The position of the first largest of x[0, n) (greedy decoding), NaN ignored: std::max_element's
// answer unless x[0] is NaN; 0 when every value is NaN, -1 when n <= 0.
int64_t ArgMax(const float* x, int64_t n);

// W in the form MatMul runs fastest on this CPU, with the same values (what a model holds for its
// matmuls). 3-bit codes become 4-bit codes, codes and zero points 4 higher (so every scale * (code -
// zero) is unchanged), where the 4-bit byte-dot GEMV applies: there is no byte-dot kernel for 3-bit
// codes, and on the portable path they decode several times slower per weight. Those tensors take a
// third more memory. 2-, 4- and 8-bit codes (widened ones too) go into tile order (CodeOrder::kTiles16) where the
// AVX-512 VNNI GEMV reads that order (rows a multiple of 16) and decode runs with int8 activations
// (ActivationInt8() now): the same bytes, reordered. Every kernel reads a
// tile-order W (the other paths through a row-order copy of the rows they need). Any other W is
// returned as it is. W must pass WeightTensor::Validate().
WeightTensor PrepareForMatMul(WeightTensor w);
// PrepareForMatMul in two steps, for a caller that writes tile order into memory of its own (a
// model's huge-page arena): W with 3-bit codes widened as above, still in row order; and whether
// PrepareForMatMul puts such a W into tile order.
WeightTensor WidenForMatMul(WeightTensor w);
bool TileOrderPays(const WeightTensor& w);

// The scalar reference the optimised path is tested against.
void MatMulReference(const WeightTensor& w, const float* x, int64_t n_tokens, float* y);

// Copies row `row` of W (e.g. an embedding) dequantized into out[W.cols()].
void GetRow(const WeightTensor& w, int64_t row, float* out);

// Threads used by kernels (0 = all hardware threads).
void SetNumThreads(int n);
int NumThreads();

// The instruction set picked at run time ("AVX2", "AVX3", "SSE4", "EMU128", ...).
const char* KernelTarget();

}  // namespace llmc
