// GGUF (v2/v3) reader over a memory map: metadata key/values, tensor infos, and zero-copy views of
// tensor data. Every read is bounds-checked, so a truncated or hostile file yields Corrupt, never a
// crash or a huge allocation.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/gguf_dequant.h"
#include "llmc/file.h"
#include "llmc/status.h"
#include "llmc/tensor.h"

namespace llmc {

// GGUF metadata value types (gguf.h enum gguf_type).
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;     // GGUF order: ne[0] is the row length
  std::vector<int64_t> shape;  // row-major, reverse(ne)
  const GgmlTypeTraits* type = nullptr;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t bytes = 0;
};

class GgufFile {
 public:
  static Result<std::shared_ptr<GgufFile>> Open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  // Key -> value; integers stay integers, floats become doubles, arrays JSON arrays.
  const nlohmann::json& metadata() const { return metadata_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  uint64_t alignment() const { return alignment_; }
  // The tensor's bytes inside the mapping (validated at Open).
  Bytes TensorData(const GgufTensorInfo& t) const;

 private:
  GgufFile() = default;
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  nlohmann::json metadata_ = nlohmann::json::object();
  std::vector<GgufTensorInfo> tensors_;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
};

// True when the file starts with the GGUF magic (cheap: reads 4 bytes).
bool HasGgufMagic(const std::string& path);

}  // namespace llmc
