// A progress bar on stderr for anything that runs longer than a second or two. Silent when stderr is
// not a terminal or when the CLI runs in --json mode (SetProgressEnabled(false)).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace llmc {

void SetProgressEnabled(bool enabled);
bool ProgressEnabled();

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  ~ProgressBar();  // finishes the line
  // Advances to `done` of `total`; `detail` (e.g. a tensor name) is shown after the bar.
  void Update(int64_t done, const std::string& detail = "");
  void Tick(const std::string& detail = "") { Update(done_ + 1, detail); }

 private:
  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  bool active_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace llmc
