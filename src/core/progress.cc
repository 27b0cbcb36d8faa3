#include "llmc/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace llmc {

namespace {
std::atomic<bool> g_enabled{true};
}

void SetProgressEnabled(bool enabled) { g_enabled = enabled; }
bool ProgressEnabled() { return g_enabled && ::isatty(STDERR_FILENO); }

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), active_(ProgressEnabled()),
      start_(std::chrono::steady_clock::now()), last_draw_() {}

ProgressBar::~ProgressBar() {
  if (active_ && last_draw_ != std::chrono::steady_clock::time_point()) std::fputs("\n", stderr);
}

void ProgressBar::Update(int64_t done, const std::string& detail) {
  done_ = done;
  if (!active_) return;
  const auto now = std::chrono::steady_clock::now();
  // Redraw at most ~10 times a second, and never for work that finishes within the first second.
  if (now - start_ < std::chrono::seconds(1) && done_ < total_) return;
  if (now - last_draw_ < std::chrono::milliseconds(100) && done_ < total_) return;
  last_draw_ = now;
  constexpr int kWidth = 30;
  const double frac = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  const int filled = static_cast<int>(frac * kWidth);
  const double secs = std::chrono::duration<double>(now - start_).count();
  std::string shown = detail.size() > 40 ? "…" + detail.substr(detail.size() - 39) : detail;
  fmt::print(stderr, "\r{} [{:=<{}}{: <{}}] {}/{} {:.0f}s {:<41}", label_, "", filled, "", kWidth - filled, done_,
             total_, secs, shown);
  std::fflush(stderr);
}

}  // namespace llmc
