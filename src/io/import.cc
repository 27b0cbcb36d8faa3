// ImportModel: picks the reader from what the path is (a HuggingFace directory or a GGUF file) and
// assembles config, tokenizer spec and lazily loaded tensors.
#include "llmc/import.h"

#include "io/hf_config.h"
#include "io/safetensors.h"
#include "llmc/file.h"
#include "llmc/tokenizer.h"

namespace llmc {
namespace {

// Files from which a HuggingFace tokenizer is built; a directory with none of them has no tokenizer.
bool HasTokenizerFiles(const std::string& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json", "merges.txt"}) {
    if (FileExists(dir + "/" + name)) return true;
  }
  return false;
}

// Non-persistent buffers some older exports include; they are recomputed from the config.
bool IsDerivedBuffer(const std::string& name) {
  static const std::string kSuffix = ".rotary_emb.inv_freq";
  return name.size() >= kSuffix.size() && name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
}

Result<ImportedModel> ImportHfDirectory(const std::string& dir) {
  ImportedModel m;
  m.source_path = dir;
  m.source_format = "safetensors";
  LLMC_ASSIGN_OR_RETURN(m.config, ReadHfConfig(dir));
  LLMC_ASSIGN_OR_RETURN(auto tensors, ReadSafetensorsCheckpoint(dir));
  if (HasTokenizerFiles(dir)) {
    LLMC_ASSIGN_OR_RETURN(m.tokenizer, TokenizerSpecFromHfDir(dir));
  }
  for (auto& t : tensors) {
    if (IsDerivedBuffer(t.name)) continue;
    TensorSource src;
    src.name = t.name;
    src.shape = t.shape;
    src.source_type = t.dtype_name;
    src.load = [t = std::move(t)]() -> Result<WeightTensor> { return ToWeightTensor(t, t.name); };
    m.tensors.push_back(std::move(src));
  }
  return m;
}

}  // namespace

Result<ImportedModel> ImportModel(const std::string& path) {
  if (IsDirectory(path)) return ImportHfDirectory(path);
  if (!FileExists(path)) return Status::NotFound("{}: no such file or directory", path);
  return Status::Unsupported("{}: expected a HuggingFace directory or a .gguf file", path);
}

}  // namespace llmc
