// Scalar reference matmul: dequantize a row with the quant reference, dot it with each token.
#include <vector>

#include "llmc/kernels.h"
#include "llmc/quant.h"

namespace llmc {

void MatMulReference(const WeightTensor& w, const float* x, int64_t n_tokens, float* y) {
  const int64_t rows = w.rows();
  const int64_t cols = w.cols();
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(w, r, row.data());
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * cols;
      double acc = 0;
      for (int64_t c = 0; c < cols; ++c) acc += static_cast<double>(row[c]) * xt[c];
      y[t * rows + r] = static_cast<float>(acc);
    }
  }
}


}  // namespace llmc
