// ToDense: the one place a stored tensor changes representation on its way to dense floats.
#include <vector>

#include "llmc/quant.h"
#include "llmc/store.h"

namespace llmc {

WeightTensor ToDense(const WeightTensor& w, DType to) {
  if (!w.quantized() && w.encoding == EncodingOf(to)) return w;
  std::vector<float> values = DequantizeToFloat(w);
  if (to == DType::kF32) return MakeF32Tensor(w.name, w.shape, std::move(values));
  std::vector<uint8_t> bytes(values.size() * static_cast<size_t>(DTypeSize(to)));
  FromFloat(to, values.data(), bytes.data(), static_cast<int64_t>(values.size()));
  WeightTensor out;
  out.name = w.name;
  out.shape = w.shape;
  out.encoding = EncodingOf(to);
  out.data = Bytes::Own(std::move(bytes));
  return out;
}

}  // namespace llmc
