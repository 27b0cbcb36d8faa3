// The store's on-disk contract (docs/FORMAT.md) in one place: column names, the Arrow schema of each
// format version, metadata keys, the per-tensor checksum, and how a row maps to a WeightTensor.
// Internal to src/store: the writer and the loader both build on it, so they cannot drift apart.
#pragma once

#include <arrow/api.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "llmc/store.h"
#include "llmc/tensor.h"

namespace llmc::store {

// File key-value metadata keys.
inline constexpr const char* kKeyFormat = "llmc.format";
inline constexpr const char* kKeyFormatVersion = "llmc.format_version";
inline constexpr const char* kKeyModelConfig = "llmc.model_config";
inline constexpr const char* kKeyTokenizer = "llmc.tokenizer";
inline constexpr const char* kKeyExtra = "llmc.extra";
inline constexpr const char* kFormatName = "llmc-weights";

// Column names. V1 has the first six; V2 appends the quantization columns.
inline constexpr const char* kColLayerName = "layer_name";
inline constexpr const char* kColWeightName = "weight_name";
inline constexpr const char* kColShape = "shape";
inline constexpr const char* kColDType = "dtype";
inline constexpr const char* kColWeightData = "weight_data";
inline constexpr const char* kColChecksum = "checksum";
inline constexpr const char* kColQuantType = "quant_type";
inline constexpr const char* kColBits = "bits";
inline constexpr const char* kColGroupSize = "group_size";
inline constexpr const char* kColQuantAxis = "quant_axis";
inline constexpr const char* kColGrid = "grid";
inline constexpr const char* kColScales = "scales";
inline constexpr const char* kColZeroPoints = "zero_points";
inline constexpr const char* kColPackingFormat = "packing_format";

// Values the quantization columns take.
inline constexpr const char* kNone = "none";                                  // dense rows
inline constexpr const char* kQuantizedDType = "u8";                          // dtype of code bytes
inline constexpr const char* kPackingBitstream = "lsb_bitstream_row_aligned";  // the only packing
inline constexpr int32_t kQuantAxisRow = 1;                                   // groups run along a row

// "1.0" or "2.0".
std::string FormatVersionString(int version);
// Accepts "1.x" and "2.x"; anything else is Unsupported, naming `path` and what was found.
Result<int> ParseFormatVersion(const std::string& text, const std::string& path);

// The Arrow schema a store of `version` is written with (all fields non-nullable).
std::shared_ptr<arrow::Schema> StoreSchema(int version);
// Checks that `schema` (as read back from Parquet) has every column of `version` with its type.
Status CheckSchema(const arrow::Schema& schema, int version, const std::string& path);

// CRC-32 (zlib polynomial) of data, then scales, then zero points: the CRC of their concatenation.
uint32_t TensorChecksum(const WeightTensor& t);

// "model.layers.0.self_attn.q_proj.weight" -> {"model.layers.0.self_attn.q_proj", "weight"};
// a name without a dot has an empty layer name.
std::pair<std::string, std::string> SplitTensorName(const std::string& name);
std::string JoinTensorName(const std::string& layer_name, const std::string& weight_name);

// "none" for dense tensors, "int2".."int8" for quantized ones.
std::string QuantTypeName(const WeightTensor& t);

// An exception's message on one line (parquet's thrift errors end in newlines).
std::string OneLine(const std::exception& e);

// An Arrow error as a Status: `code` says how to classify it, `context` names the file and operation.
Status FromArrow(const arrow::Status& st, StatusCode code, const std::string& context);

}  // namespace llmc::store
