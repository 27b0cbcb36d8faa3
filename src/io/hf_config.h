// HuggingFace config.json -> ModelConfig for the architectures we run (llama, mistral, qwen2, qwen3).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "llmc/model_config.h"
#include "llmc/status.h"

namespace llmc {

// `origin` names the file in error messages.
Result<ModelConfig> ModelConfigFromHfJson(const nlohmann::json& j, const std::string& origin);

// Reads <dir>/config.json; NotFound naming the path when it is missing.
Result<ModelConfig> ReadHfConfig(const std::string& dir);

}  // namespace llmc
