// The progress display: plain periodic lines when not on a terminal, an in-place bar on one.
#include <cstdio>
#include <string>

#include "helpers.h"
#include "tapeflow/io/progress.h"

using namespace tapeflow;

namespace {

/// Everything written to `f` so far.
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::string out;
  std::rewind(f);
  for (int c = std::fgetc(f); c != EOF; c = std::fgetc(f)) out += static_cast<char>(c);
  return out;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

struct TempFile {
  std::FILE* f = std::tmpfile();
  ~TempFile() { std::fclose(f); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(progress)

BOOST_AUTO_TEST_CASE(plain_lines_every_print_every_steps_and_at_the_end) {
  TempFile tmp;
  {
    io::ProgressBar bar({.total = 25, .label = "epoch 2/3", .samples_per_step = 100, .print_every = 10,
                         .out = tmp.f, .terminal = false});
    BOOST_TEST(!bar.terminal());
    for (int step = 1; step <= 25; ++step) bar.update(step, step);  // losses 1..25
    bar.finish();
  }
  const std::string text = contents(tmp.f);
  BOOST_TEST(count(text, "\n") == 3u);  // steps 10, 20 and 25
  BOOST_TEST(text.find('\r') == std::string::npos);
  BOOST_TEST(text.find("epoch 2/3 step 10/25 loss 5.5000 ") == 0u);  // mean of 1..10
  BOOST_TEST(text.find("epoch 2/3 step 20/25 loss 10.5000 ") != std::string::npos);
  BOOST_TEST(text.find("epoch 2/3 step 25/25 loss 13.0000 ") != std::string::npos);
  BOOST_TEST(count(text, " samples/s ") == 3u);
  BOOST_TEST(text.find("0:00 left\n", text.size() - 11) != std::string::npos);  // nothing left at the end
}

BOOST_AUTO_TEST_CASE(plain_lines_default_to_about_ten_per_pass) {
  TempFile tmp;
  {
    io::ProgressBar bar({.total = 550, .out = tmp.f, .terminal = false});
    for (int step = 1; step <= 550; ++step) bar.update(step, 0.5);
  }
  const std::string text = contents(tmp.f);
  BOOST_TEST(count(text, "\n") == 10u);  // every 55 steps
  BOOST_TEST(text.find("step 55/550 loss 0.5000") == 0u);
}

BOOST_AUTO_TEST_CASE(terminal_redraws_one_line_and_ends_it) {
  TempFile tmp;
  {
    io::ProgressBar bar({.total = 4, .label = "epoch 1/1", .redraw_secs = 0, .width = 8, .out = tmp.f,
                         .terminal = true});
    BOOST_TEST(bar.terminal());
    bar.update(1, 2.0);
    bar.update(2, 1.0);
    BOOST_TEST(bar.line().find("epoch 1/1 [====>   ] 2/4 loss 1.5000 ") == 0u);
    bar.update(4, 0.0);
    bar.finish();
    bar.finish();  // twice is fine
  }
  const std::string text = contents(tmp.f);
  BOOST_TEST(count(text, "\r") == 4u);  // three updates and the final draw
  BOOST_TEST(count(text, "\n") == 1u);
  BOOST_TEST(text.back() == '\n');
  BOOST_TEST(text.find("\repoch 1/1 [==>     ] 1/4 loss 2.0000 ") == 0u);
  BOOST_TEST(text.find("\repoch 1/1 [========] 4/4 loss 1.0000 ") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(terminal_redraws_are_throttled_but_the_last_step_is_drawn) {
  TempFile tmp;
  {
    io::ProgressBar bar({.total = 1000, .redraw_secs = 3600, .out = tmp.f, .terminal = true});
    for (int step = 1; step <= 1000; ++step) bar.update(step, 1.0);
  }  // the destructor finishes the line
  const std::string text = contents(tmp.f);
  BOOST_TEST(count(text, "\r") == 2u);  // the last step and finish()
  BOOST_TEST(text.find("1000/1000 loss 1.0000") != std::string::npos);
  BOOST_TEST(text.back() == '\n');
}

BOOST_AUTO_TEST_CASE(bad_options_and_steps_are_errors) {
  TempFile tmp;
  TF_CHECK_THROWS_WITH(io::ProgressBar({.total = 0, .out = tmp.f}), ValueError, "ProgressBar", "total (0)");
  TF_CHECK_THROWS_WITH(io::ProgressBar({.total = 5, .print_every = -1, .out = tmp.f}), ValueError,
                       "print_every (-1)");
  TF_CHECK_THROWS_WITH(io::ProgressBar({.total = 5, .out = nullptr}), ValueError, "out is null");
  io::ProgressBar bar({.total = 5, .out = tmp.f, .terminal = false});
  TF_CHECK_THROWS_WITH(bar.update(6, 1.0), ValueError, "step 6 is outside 1..5");
  bar.update(3, 1.0);
  TF_CHECK_THROWS_WITH(bar.update(2, 1.0), ValueError, "before the previous step 3");
}

BOOST_AUTO_TEST_SUITE_END()
