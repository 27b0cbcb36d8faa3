// safetensors reader: a memory-mapped file whose tensors are handed out as zero-copy views.
// Layout: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the data section the offsets are relative to.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "llmc/dtype.h"
#include "llmc/file.h"
#include "llmc/status.h"
#include "llmc/tensor.h"

namespace llmc {

struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::string dtype_name;  // as written in the header: "F32", "F16", "BF16"
  std::vector<int64_t> shape;
  Bytes data;  // view into the mapped file; nothing is read until it is touched
};

// Opens one .safetensors file and validates its header against the file size (no tensor data is read).
// Tensors come back in header order.
Result<std::vector<SafetensorsTensor>> ReadSafetensorsFile(const std::string& path);

// A HuggingFace checkpoint directory: model.safetensors, or the shards named by the weight_map of
// model.safetensors.index.json. Every tensor of the index must be found in the shard it names.
Result<std::vector<SafetensorsTensor>> ReadSafetensorsCheckpoint(const std::string& dir);

// The dense WeightTensor for a safetensors tensor (zero copy when the data is suitably aligned).
WeightTensor ToWeightTensor(const SafetensorsTensor& t, std::string name);

}  // namespace llmc
