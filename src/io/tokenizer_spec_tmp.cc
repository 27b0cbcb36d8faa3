// TEMPORARY until the tokenizer module lands (the tokenizer helper replaces this file).
#include "llmc/tokenizer.h"
namespace llmc {
Result<nlohmann::json> TokenizerSpecFromHfDir(const std::string& dir) {
  return Status::Unsupported("{}: tokenizer import not built yet", dir);
}
Result<nlohmann::json> TokenizerSpecFromGgufKeys(const nlohmann::json& keys) { return keys; }
}  // namespace llmc
