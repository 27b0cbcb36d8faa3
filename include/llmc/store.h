// The Parquet weight store (docs/FORMAT.md): V1 holds FP32/FP16/BF16 tensors, V2 adds quantized ones.
// One row — and one row group — per tensor, so any tensor can be read without reading the others.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "llmc/model_config.h"
#include "llmc/tensor.h"

namespace llmc {

constexpr int kStoreFormatV1 = 1;
constexpr int kStoreFormatV2 = 2;

struct StoreMetadata {
  int format_version = kStoreFormatV2;
  ModelConfig config;
  nlohmann::json tokenizer;            // canonical tokenizer spec
  nlohmann::json extra = nlohmann::json::object();  // provenance: source, quantization settings, ...
};

struct StoreWriteOptions {
  // Parquet page compression: "none" (the default: weights barely compress) or "zstd".
  std::string compression = "none";
};

// Writes a store to a temporary file; Close() renames it onto the target. Destroying a writer that
// was not closed removes the temporary file.
class StoreWriter {
 public:
  static Result<std::unique_ptr<StoreWriter>> Open(const std::string& path, const StoreMetadata& meta);
  static Result<std::unique_ptr<StoreWriter>> Open(const std::string& path, const StoreMetadata& meta,
                                                   const StoreWriteOptions& options);
  virtual ~StoreWriter() = default;
  // V1 stores accept dense tensors only.
  virtual Status Write(const WeightTensor& tensor) = 0;
  virtual Status Close() = 0;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  Encoding encoding = Encoding::kF32;
  QuantSpec quant;
  int64_t stored_bytes = 0;  // data + scales + zero points
  std::string type_name;     // "f16", "int2", ...
  double bits_per_weight = 0;
};

// Reads a store lazily: Open() reads only the footer; Load() reads one tensor's row group.
class WeightLoaderV2 {
 public:
  static Result<std::unique_ptr<WeightLoaderV2>> Open(const std::string& path);
  virtual ~WeightLoaderV2() = default;

  virtual const std::string& path() const = 0;
  virtual const StoreMetadata& metadata() const = 0;
  virtual const std::vector<TensorInfo>& tensors() const = 0;
  virtual bool Has(const std::string& name) const = 0;
  // Loads one tensor as stored (quantized stays quantized); verifies its checksum.
  virtual Result<WeightTensor> Load(const std::string& name) = 0;
  // Loads and dequantizes any tensor to dense FP32 or FP16.
  virtual Result<WeightTensor> LoadDequantized(const std::string& name, DType to) = 0;
};

// Any tensor (dense or quantized) as a dense tensor of `to`: dequantizes through DequantizeRow and
// rounds to nearest even. A dense tensor already of `to` is returned as is (same bytes, no copy).
WeightTensor ToDense(const WeightTensor& w, DType to);

}  // namespace llmc
