// The training progress display: a redrawn bar on a terminal, plain periodic lines elsewhere.
#include "tapeflow/io/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "tapeflow/error.h"

namespace tapeflow::io {

namespace {

/// "0:15", "12:03", "1:02:03".
std::string clock_text(double seconds) {
  const auto s = static_cast<std::int64_t>(std::llround(std::max(0.0, seconds)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

ProgressBar::ProgressBar(ProgressOptions options) : options_(std::move(options)) {
  if (options_.total < 1 || options_.samples_per_step < 1 || options_.width < 1 || options_.print_every < 0)
    throw ValueError(fmt::format("ProgressBar: total ({}), samples_per_step ({}) and width ({}) must be positive and "
                                 "print_every ({}) not negative",
                                 options_.total, options_.samples_per_step, options_.width, options_.print_every));
  if (options_.out == nullptr) throw ValueError("ProgressBar: no output stream (out is null)");
  if (options_.print_every == 0) options_.print_every = std::max<std::int64_t>(1, options_.total / 10);
  terminal_ = options_.terminal.value_or(::isatty(::fileno(options_.out)) == 1);
  start_ = last_draw_ = Clock::now();
}

ProgressBar::~ProgressBar() {
  if (!finished_) finish();
}

void ProgressBar::update(std::int64_t step, double loss) {
  if (step < 1 || step > options_.total || step < step_)
    throw ValueError(fmt::format("ProgressBar::update: step {} is outside 1..{} or before the previous step {}", step,
                                 options_.total, step_));
  step_ = step;
  loss_sum_ += loss;
  ++updates_;
  const auto now = Clock::now();
  if (terminal_) {
    if (step == options_.total || std::chrono::duration<double>(now - last_draw_).count() >= options_.redraw_secs)
      draw();
  } else if (step % options_.print_every == 0 || step == options_.total) {
    draw();
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (!terminal_) return;  // plain lines are whole already
  if (step_ > 0) draw();
  if (drawn_) std::fputc('\n', options_.out);
  std::fflush(options_.out);
}

std::string ProgressBar::line() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  std::string text = options_.label.empty() ? "" : options_.label + " ";
  if (terminal_) {
    const auto done = static_cast<int>(options_.width * step_ / options_.total);
    std::string bar(static_cast<std::size_t>(options_.width), ' ');
    std::fill_n(bar.begin(), done, '=');
    if (done < options_.width && step_ > 0) bar[static_cast<std::size_t>(done)] = '>';
    text += fmt::format("[{}] {}/{}", bar, step_, options_.total);
  } else {
    text += fmt::format("step {}/{}", step_, options_.total);
  }
  if (updates_ > 0) text += fmt::format(" loss {:.4f}", loss_sum_ / static_cast<double>(updates_));
  if (step_ > 0 && elapsed > 0) {
    const double rate = static_cast<double>(step_ * options_.samples_per_step) / elapsed;
    const double left = elapsed / static_cast<double>(step_) * static_cast<double>(options_.total - step_);
    text += fmt::format(" {:.0f} samples/s {} left", rate, clock_text(left));
  }
  return text;
}

void ProgressBar::draw() {
  const std::string text = line();
  if (terminal_) {
    // Blank what is left of a longer previous line, then return to the line's start.
    const std::size_t pad = last_width_ > text.size() ? last_width_ - text.size() : 0;
    fmt::print(options_.out, "\r{}{}", text, std::string(pad, ' '));
    last_width_ = text.size();
  } else {
    fmt::print(options_.out, "{}\n", text);
  }
  std::fflush(options_.out);
  drawn_ = true;
  last_draw_ = Clock::now();
}

}  // namespace tapeflow::io
