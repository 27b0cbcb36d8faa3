// `llmc version`: build facts (kernel target, CUDA) — handy in bug reports and RESULTS.md.
#include "cli/command.h"
#include "llmc/kernels.h"
#include "llmc/version.h"

namespace llmc::cli {
namespace {

const CommandRegistration kVersion("version", [](CLI::App& app, GlobalOptions& global, std::function<Status()>& run) {
  CLI::App* cmd = app.add_subcommand("version", "Print the version and how this binary was built");
  AddJsonFlag(cmd, global);
  run = [&global]() -> Status {
    nlohmann::json j = {{"version", kLlmcVersion},
                        {"kernel_target", KernelTarget()},
#ifdef LLMC_WITH_CUDA
                        {"cuda", true},
#else
                        {"cuda", false},
#endif
    };
    if (global.json) {
      PrintJson(j);
    } else {
      fmt::print("llmc {} (kernels: {}, cuda: {})\n", j["version"].get<std::string>(), KernelTarget(),
                 j["cuda"].get<bool>() ? "on" : "off");
    }
    return Status::OK();
  };
  return cmd;
});

}  // namespace
}  // namespace llmc::cli
