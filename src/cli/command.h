// How subcommands plug into `llmc`: each src/cli/<name>.cc defines a static CommandRegistration that
// adds its CLI11 subcommand and the function to run. main.cc knows none of them by name.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "llmc/status.h"

namespace llmc::cli {

struct GlobalOptions {
  bool json = false;  // machine-readable result on stdout, no progress bar
};

// Called at start-up with the app; returns the subcommand and sets `run` to the code to execute.
using CommandSetup = std::function<CLI::App*(CLI::App& app, GlobalOptions& global, std::function<Status()>& run)>;

struct CommandRegistration {
  CommandRegistration(const char* name, CommandSetup setup);
};

// Adds --json to a subcommand (every subcommand has it).
void AddJsonFlag(CLI::App* cmd, GlobalOptions& global);
// Prints a JSON document on stdout (pretty, newline-terminated).
void PrintJson(const nlohmann::json& j);

}  // namespace llmc::cli
