// One tensor <-> one row of the store table. The writer turns a WeightTensor into a one-row table;
// the loader reads rows back into WeightTensors whose bytes point into the Arrow buffers (zero copy).
#pragma once

#include <arrow/api.h>

#include <cstdint>
#include <memory>
#include <string>

#include "llmc/tensor.h"

namespace llmc::store {

// The one-row table that stores `t` in a store of `version`. Binary columns wrap the tensor's bytes
// without copying, so `t` must outlive the table.
Result<std::shared_ptr<arrow::Table>> TensorToRow(const WeightTensor& t, int version);

// Typed access to a table read from a store. The binary columns (weight_data, scales, zero_points)
// may be absent: the loader's index is built without reading them.
class StoreRows {
 public:
  // `table` must already have passed CheckSchema for `version`.
  static Result<StoreRows> Make(const std::shared_ptr<arrow::Table>& table, int version, const std::string& path);

  int64_t num_rows() const { return layer_name_->length(); }
  // Row `r` as a tensor: name, shape, encoding and quantization spec, plus its bytes when the binary
  // columns were read. Values that contradict the format are Corrupt/Unsupported naming the tensor.
  Result<WeightTensor> Tensor(int64_t r) const;
  uint32_t checksum(int64_t r) const { return checksum_->Value(r); }

 private:
  StoreRows() = default;
  Status ParseQuantColumns(int64_t r, WeightTensor& t) const;

  std::string path_;
  int version_ = 0;
  std::shared_ptr<arrow::StringArray> layer_name_, weight_name_, dtype_;
  std::shared_ptr<arrow::ListArray> shape_;
  std::shared_ptr<arrow::UInt32Array> checksum_;
  std::shared_ptr<arrow::BinaryArray> weight_data_, scales_, zero_points_;  // null when not read
  std::shared_ptr<arrow::StringArray> quant_type_, grid_, packing_format_;  // V2 only
  std::shared_ptr<arrow::Int32Array> bits_, group_size_, quant_axis_;       // V2 only
};

}  // namespace llmc::store
