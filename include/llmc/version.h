// The library version (CMake's PROJECT_VERSION), written into every store's provenance.
#pragma once

namespace llmc {

inline constexpr const char* kLlmcVersion = LLMC_VERSION_STRING;

}  // namespace llmc
