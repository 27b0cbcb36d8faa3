// llmc: import, quantize, store, load, run and measure language models. Thin over the library.
#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "cli/command.h"
#include "llmc/progress.h"
#include "llmc/version.h"

namespace llmc::cli {
namespace {

std::vector<std::pair<std::string, CommandSetup>>& Registry() {
  static std::vector<std::pair<std::string, CommandSetup>> registry;
  return registry;
}

}  // namespace

CommandRegistration::CommandRegistration(const char* name, CommandSetup setup) {
  Registry().emplace_back(name, std::move(setup));
}

void AddJsonFlag(CLI::App* cmd, GlobalOptions& global) {
  cmd->add_flag("--json", global.json, "Print a machine-readable JSON result on stdout (no progress bar)");
}

void PrintJson(const nlohmann::json& j) { std::printf("%s\n", j.dump(2).c_str()); }

}  // namespace llmc::cli

int main(int argc, char** argv) {
  using namespace llmc::cli;
  CLI::App app{"llmc: make large language models small and measure what it cost"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("llmc ") + llmc::kLlmcVersion);
  GlobalOptions global;
  std::map<CLI::App*, std::function<llmc::Status()>> runs;
  // Keep registration order stable: sort by name for --help.
  auto registry = Registry();
  std::sort(registry.begin(), registry.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [name, setup] : registry) {
    std::function<llmc::Status()> run;
    CLI::App* sub = setup(app, global, run);
    runs[sub] = std::move(run);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  llmc::SetProgressEnabled(!global.json);
  for (auto& [sub, run] : runs) {
    if (!sub->parsed()) continue;
    llmc::Status st;
    try {
      st = run();
    } catch (const std::exception& e) {  // a library bug or allocation failure: still one clear line
      st = llmc::Status::Internal("{}", e.what());
    }
    if (!st.ok()) {
      std::fprintf(stderr, "llmc %s: %s\n", sub->get_name().c_str(), st.ToString().c_str());
      return st.code() == llmc::StatusCode::kFailedCheck ? 3 : 1;
    }
    return 0;
  }
  return 1;
}
