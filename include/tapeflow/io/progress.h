#pragma once
/// A training progress display for one pass (an epoch) over `total` steps.
///
///   io::ProgressBar bar({.total = steps, .label = fmt::format("epoch {}/{}", epoch, epochs),
///                        .samples_per_step = batch_size});
///   for (std::int64_t step = 1; step <= steps; ++step) {
///     ...
///     bar.update(step, loss.item());
///   }
///   bar.finish();
///
/// On a terminal it redraws one line in place (at most every `redraw_secs`, and always at the
/// last step):
///   epoch 1/8 [=========>                    ] 183/550 loss 0.7475 2340 samples/s 0:15 left
/// When the output is not a terminal (a log file, a pipe, CI) it prints whole lines instead, one
/// every `print_every` steps and one at the last step:
///   epoch 1/8 step 183/550 loss 0.7475 2340 samples/s 0:15 left
/// The loss shown is the mean of the values passed to update() since the pass began; samples/s and the time
/// left come from the pass's elapsed time.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace tapeflow::io {

struct ProgressOptions {
  /// Steps in the pass (> 0).
  std::int64_t total = 0;
  /// Printed first, e.g. "epoch 1/8" (may be empty).
  std::string label = "";
  /// Samples per step, for samples/s (> 0).
  std::int64_t samples_per_step = 1;
  /// Plain-line mode: a line every this many steps; 0 picks about ten lines per pass.
  std::int64_t print_every = 0;
  /// Terminal mode: least time between redraws.
  double redraw_secs = 0.1;
  /// Width of the bar in characters, between the brackets (> 0).
  int width = 30;
  /// Where to write (not owned).
  std::FILE* out = stdout;
  /// Terminal mode or plain lines; by default, whether `out` is a terminal.
  std::optional<bool> terminal = std::nullopt;
};

class ProgressBar {
 public:
  /// ValueError for total, samples_per_step or width < 1, print_every < 0 or a null `out`.
  explicit ProgressBar(ProgressOptions options);
  /// Finishes the line if finish() was not called.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  /// `step` steps of the pass are done (1..total, not decreasing), the last one with `loss`.
  /// ValueError for a step outside 1..total or before the previous one.
  void update(std::int64_t step, double loss);
  /// Ends the display: on a terminal, the final bar and a newline.
  void finish();

  /// Whether this display redraws a terminal line (else it prints plain lines).
  bool terminal() const { return terminal_; }
  /// The text of the current state (without "\r" or newline), as it would be drawn now.
  std::string line() const;

 private:
  using Clock = std::chrono::steady_clock;
  ProgressOptions options_;
  bool terminal_;
  Clock::time_point start_, last_draw_;
  std::int64_t step_ = 0, updates_ = 0;
  double loss_sum_ = 0;
  bool drawn_ = false, finished_ = false;
  std::size_t last_width_ = 0;  // characters of the last terminal line, to blank a shorter one

  void draw();
};

}  // namespace tapeflow::io
