// Matrix kernels over WeightTensors of any encoding. Front functions validate and dispatch to the
// best instruction set found at run time (Highway); a scalar reference defines the result.
#pragma once

#include <cstdint>

#include "llmc/tensor.h"

namespace llmc {

// y[t][r] = sum_c x[t][c] * W[r][c] for t < n_tokens, r < W.rows(), c < W.cols().
// x is [n_tokens][W.cols()] floats, y is [n_tokens][W.rows()] floats. Multi-threaded (OpenMP),
// with results identical for every thread count.
void MatMul(const WeightTensor& w, const float* x, int64_t n_tokens, float* y);

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
