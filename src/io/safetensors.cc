#include "io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "io/checked_math.h"

namespace llmc {
namespace {

using OrderedJson = nlohmann::ordered_json;

constexpr size_t kHeaderLengthBytes = 8;

uint64_t ReadLE64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

Result<DType> ParseSafetensorsDType(const std::string& path, const std::string& tensor, const std::string& name) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  return Status::Unsupported("{}: tensor '{}' has dtype {} (supported: F32, F16, BF16)", path, tensor, name);
}

Result<std::vector<int64_t>> ParseShape(const std::string& path, const std::string& tensor, const OrderedJson& j) {
  if (!j.is_array()) return Status::Corrupt("{}: tensor '{}': 'shape' is not an array", path, tensor);
  std::vector<int64_t> shape;
  for (const auto& d : j) {
    if (!d.is_number_unsigned()) {
      return Status::Corrupt("{}: tensor '{}': shape entry {} is not a non-negative integer", path, tensor, d.dump());
    }
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

// Parses one header entry and checks its byte range against the data section.
Result<SafetensorsTensor> ParseEntry(const std::shared_ptr<MappedFile>& file, const uint8_t* data_section,
                                     uint64_t data_size, const std::string& name, const OrderedJson& entry) {
  const std::string& path = file->path();
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
      !entry.contains("data_offsets")) {
    return Status::Corrupt("{}: tensor '{}': expected an object with dtype, shape and data_offsets", path, name);
  }
  if (!entry["dtype"].is_string()) return Status::Corrupt("{}: tensor '{}': dtype is not a string", path, name);
  SafetensorsTensor t;
  t.name = name;
  t.dtype_name = entry["dtype"].get<std::string>();
  LLMC_ASSIGN_OR_RETURN(t.dtype, ParseSafetensorsDType(path, name, t.dtype_name));
  LLMC_ASSIGN_OR_RETURN(t.shape, ParseShape(path, name, entry["shape"]));

  const auto& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    return Status::Corrupt("{}: tensor '{}': data_offsets must be two non-negative integers, found {}", path, name,
                           offsets.dump());
  }
  const uint64_t begin = offsets[0].get<uint64_t>();
  const uint64_t end = offsets[1].get<uint64_t>();
  if (begin > end) {
    return Status::Corrupt("{}: tensor '{}': data_offsets [{}, {}] are reversed", path, name, begin, end);
  }
  if (end > data_size) {
    return Status::Corrupt("{}: tensor '{}': data ends at byte {} of the data section, past its end ({} bytes)",
                           path, name, end, data_size);
  }
  const auto numel = CheckedNumel(t.shape);
  const auto expected = numel ? CheckedMul(static_cast<uint64_t>(*numel), DTypeSize(t.dtype)) : std::nullopt;
  if (!expected || *expected != end - begin) {
    return Status::Corrupt("{}: tensor '{}': shape {} of {} needs {} bytes, data_offsets give {}", path, name,
                           ShapeToString(t.shape), t.dtype_name,
                           expected ? std::to_string(*expected) : std::string("overflowing"), end - begin);
  }
  t.data = Bytes(file, data_section + begin, end - begin);
  return t;
}

Result<OrderedJson> ParseHeaderJson(const std::string& path, const uint8_t* p, size_t n) {
  OrderedJson header = OrderedJson::parse(p, p + n, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) return Status::Corrupt("{}: safetensors header is not valid JSON", path);
  if (!header.is_object()) return Status::Corrupt("{}: safetensors header is not a JSON object", path);
  return header;
}

}  // namespace

Result<std::vector<SafetensorsTensor>> ReadSafetensorsFile(const std::string& path) {
  LLMC_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  if (file->size() < kHeaderLengthBytes) {
    return Status::Corrupt("{}: file is {} bytes, too short for the 8-byte safetensors header length", path,
                           file->size());
  }
  const uint64_t header_len = ReadLE64(file->data());
  if (header_len > file->size() - kHeaderLengthBytes) {
    return Status::Corrupt("{}: header length {} exceeds the {} bytes after the length field", path, header_len,
                           file->size() - kHeaderLengthBytes);
  }
  LLMC_ASSIGN_OR_RETURN(OrderedJson header, ParseHeaderJson(path, file->data() + kHeaderLengthBytes, header_len));
  const uint8_t* data_section = file->data() + kHeaderLengthBytes + header_len;
  const uint64_t data_size = file->size() - kHeaderLengthBytes - header_len;

  std::vector<SafetensorsTensor> tensors;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;  // free-form strings (format, source): nothing we need
    LLMC_ASSIGN_OR_RETURN(auto t, ParseEntry(file, data_section, data_size, name, entry));
    tensors.push_back(std::move(t));
  }
  return tensors;
}

namespace {

// weight_map of model.safetensors.index.json: tensor name -> shard file name.
Result<std::map<std::string, std::string>> ReadWeightMap(const std::string& index_path) {
  LLMC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path));
  nlohmann::json index = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded()) return Status::Corrupt("{}: not valid JSON", index_path);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    return Status::Corrupt("{}: expected an object with a 'weight_map' object", index_path);
  }
  std::map<std::string, std::string> weight_map;
  for (const auto& [tensor, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) {
      return Status::Corrupt("{}: weight_map entry '{}' is not a file name", index_path, tensor);
    }
    weight_map[tensor] = shard.get<std::string>();
  }
  if (weight_map.empty()) return Status::Corrupt("{}: weight_map is empty", index_path);
  return weight_map;
}

Result<std::vector<SafetensorsTensor>> ReadShardedCheckpoint(const std::string& dir, const std::string& index_path) {
  LLMC_ASSIGN_OR_RETURN(auto weight_map, ReadWeightMap(index_path));
  std::vector<std::string> shards;  // in first-mention order of the (sorted) weight map
  for (const auto& [tensor, shard] : weight_map) {
    if (std::find(shards.begin(), shards.end(), shard) == shards.end()) shards.push_back(shard);
  }
  std::vector<SafetensorsTensor> all;
  std::map<std::string, std::string> found_in;  // tensor -> shard it was found in
  for (const auto& shard : shards) {
    LLMC_ASSIGN_OR_RETURN(auto tensors, ReadSafetensorsFile(dir + "/" + shard));
    for (auto& t : tensors) {
      if (!found_in.emplace(t.name, shard).second) {
        return Status::Corrupt("{}: tensor '{}' appears in both {} and {}", index_path, t.name, found_in[t.name],
                               shard);
      }
      all.push_back(std::move(t));
    }
  }
  for (const auto& [tensor, shard] : weight_map) {
    auto it = found_in.find(tensor);
    if (it == found_in.end() || it->second != shard) {
      return Status::Corrupt("{}: weight_map puts tensor '{}' in {}, but that shard does not hold it", index_path,
                             tensor, shard);
    }
  }
  return all;
}

}  // namespace

Result<std::vector<SafetensorsTensor>> ReadSafetensorsCheckpoint(const std::string& dir) {
  const std::string single = dir + "/model.safetensors";
  if (FileExists(single)) return ReadSafetensorsFile(single);
  const std::string index = dir + "/model.safetensors.index.json";
  if (FileExists(index)) return ReadShardedCheckpoint(dir, index);
  return Status::NotFound("{}: neither model.safetensors nor model.safetensors.index.json found", dir);
}

WeightTensor ToWeightTensor(const SafetensorsTensor& t, std::string name) {
  WeightTensor w;
  w.name = std::move(name);
  w.shape = t.shape;
  w.encoding = EncodingOf(t.dtype);
  // Offsets in safetensors need not be multiples of the element size; consumers read the data as
  // float/uint16 arrays, so a misaligned tensor is copied rather than viewed.
  const bool aligned = reinterpret_cast<uintptr_t>(t.data.data()) % DTypeSize(t.dtype) == 0;
  w.data = aligned ? t.data : Bytes::CopyOf(t.data.data(), t.data.size());
  return w;
}

}  // namespace llmc
