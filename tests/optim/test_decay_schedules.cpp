// cosine_decay (with its linear warm-up), polynomial_decay and linear_warmup: values worked by
// hand from TensorFlow's formulas (tf.train.cosine_decay, tf.train.polynomial_decay), the
// composition with other schedules, and every error with its message.
#include <cmath>
#include <limits>
#include <numbers>

#include "helpers.h"
#include "tapeflow/optim.h"

using namespace tapeflow;
namespace optim = tapeflow::optim;

namespace {

bool near(double a, double b) { return std::abs(a - b) <= 1e-15 + 1e-13 * std::abs(b); }

}  // namespace

BOOST_AUTO_TEST_SUITE(decay_schedules)

// ------------------------------------------------------------------------------- cosine_decay

BOOST_AUTO_TEST_CASE(cosine_decay_values) {
  // tf.train.cosine_decay: 0.1 * 0.5 * (1 + cos(pi * min(step, 100) / 100))
  BOOST_TEST(optim::cosine_decay(0.1, 0, 100) == 0.1);
  BOOST_TEST(near(optim::cosine_decay(0.1, 25, 100), 0.05 * (1.0 + std::numbers::sqrt2 / 2)));  // cos(pi/4)
  BOOST_TEST(near(optim::cosine_decay(0.1, 50, 100), 0.05));                                    // cos(pi/2) = 0
  BOOST_TEST(near(optim::cosine_decay(0.1, 75, 100), 0.05 * (1.0 - std::numbers::sqrt2 / 2)));
  BOOST_TEST(near(optim::cosine_decay(0.1, 100, 100), 0.0));
  BOOST_TEST(near(optim::cosine_decay(0.1, 1000, 100), 0.0));  // stays at the end
  // alpha: the floor as a fraction of the rate, (1 - alpha) * cosine + alpha.
  BOOST_TEST(near(optim::cosine_decay(0.1, 50, 100, 0.1), 0.1 * (0.9 * 0.5 + 0.1)));  // 0.055
  BOOST_TEST(near(optim::cosine_decay(0.1, 100, 100, 0.1), 0.01));
  BOOST_TEST(near(optim::cosine_decay(0.1, 500, 100, 0.1), 0.01));
  BOOST_TEST(optim::cosine_decay(0.1, 30, 100, 1.0) == 0.1);  // alpha 1: constant
  // fractional decay_steps (TF casts it to float): pi * 1 / 2.5
  BOOST_TEST(near(optim::cosine_decay(1.0, 1, 2.5), 0.5 * (1.0 + std::cos(std::numbers::pi * 0.4))));
}

BOOST_AUTO_TEST_CASE(cosine_decay_with_warmup) {
  // 10 warm-up steps from 0 to 0.1, then the cosine over the next 100 steps down to alpha * 0.1.
  BOOST_TEST(optim::cosine_decay(0.1, 0, 100, 0.0, 10) == 0.0);
  BOOST_TEST(near(optim::cosine_decay(0.1, 1, 100, 0.0, 10), 0.01));
  BOOST_TEST(near(optim::cosine_decay(0.1, 5, 100, 0.0, 10), 0.05));
  BOOST_TEST(near(optim::cosine_decay(0.1, 9, 100, 0.0, 10), 0.09));
  BOOST_TEST(optim::cosine_decay(0.1, 10, 100, 0.0, 10) == 0.1);  // the peak
  BOOST_TEST(near(optim::cosine_decay(0.1, 60, 100, 0.0, 10), 0.05));
  BOOST_TEST(near(optim::cosine_decay(0.1, 110, 100, 0.0, 10), 0.0));
  BOOST_TEST(near(optim::cosine_decay(0.1, 60, 100, 0.2, 10), 0.1 * (0.8 * 0.5 + 0.2)));
  BOOST_TEST(near(optim::cosine_decay(0.1, 5000, 100, 0.2, 10), 0.02));
  // It is linear_warmup in front of the plain cosine, at every step.
  for (std::int64_t step = 0; step < 130; ++step)
    BOOST_TEST(optim::cosine_decay(0.3, step, 100, 0.1, 20) ==
                   optim::linear_warmup(step, 20, [](std::int64_t s) { return optim::cosine_decay(0.3, s, 100, 0.1); }),
               "step " << step);
}

BOOST_AUTO_TEST_CASE(cosine_decay_errors) {
  TF_CHECK_THROWS_WITH(optim::cosine_decay(-0.1, 0, 100), ValueError,
                       "cosine_decay: invalid learning rate: -0.1 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(optim::cosine_decay(std::numeric_limits<double>::infinity(), 0, 100), ValueError,
                       "cosine_decay: invalid learning rate: inf");
  TF_CHECK_THROWS_WITH(optim::cosine_decay(0.1, -1, 100), ValueError,
                       "cosine_decay: invalid global_step: -1 (must be >= 0)");
  TF_CHECK_THROWS_WITH(optim::cosine_decay(0.1, 5, 0), ValueError,
                       "cosine_decay: invalid decay_steps: 0 (must be > 0)");
  TF_CHECK_THROWS_WITH(optim::cosine_decay(0.1, 5, 100, 1.5), ValueError,
                       "cosine_decay: invalid alpha: 1.5 (must be in [0, 1]: the final rate as a fraction of "
                       "learning_rate)");
  TF_CHECK_THROWS_WITH(optim::cosine_decay(0.1, 5, 100, -0.1), ValueError, "cosine_decay: invalid alpha: -0.1");
  TF_CHECK_THROWS_WITH(optim::cosine_decay(0.1, 5, 100, 0.0, -10), ValueError,
                       "cosine_decay: invalid warmup_steps: -10 (must be >= 0)");
}

// ---------------------------------------------------------------------------- polynomial_decay

BOOST_AUTO_TEST_CASE(polynomial_decay_values) {
  // (0.1 - 0.01) * (1 - min(step, 100) / 100) ^ power + 0.01
  BOOST_TEST(optim::polynomial_decay(0.1, 0, 100, 0.01) == 0.1);
  BOOST_TEST(near(optim::polynomial_decay(0.1, 50, 100, 0.01), 0.055));
  BOOST_TEST(near(optim::polynomial_decay(0.1, 90, 100, 0.01), 0.019));
  BOOST_TEST(near(optim::polynomial_decay(0.1, 100, 100, 0.01), 0.01));
  BOOST_TEST(near(optim::polynomial_decay(0.1, 150, 100, 0.01), 0.01));  // stays at the end
  BOOST_TEST(near(optim::polynomial_decay(0.1, 50, 100, 0.01, 2.0), 0.09 * 0.25 + 0.01));   // 0.0325
  BOOST_TEST(near(optim::polynomial_decay(0.1, 75, 100, 0.01, 0.5), 0.09 * 0.5 + 0.01));    // sqrt(0.25)
  // TF's defaults: end_learning_rate 0.0001, power 1.
  BOOST_TEST(near(optim::polynomial_decay(0.1, 50, 100), 0.0999 * 0.5 + 0.0001));  // 0.05005
  // An end above the start rises (TF allows it; a linear warm-up of its own).
  BOOST_TEST(near(optim::polynomial_decay(0.0, 25, 100, 0.2), 0.05));
}

BOOST_AUTO_TEST_CASE(polynomial_decay_cycle) {
  // cycle: d = 100 * ceil(step / 100) (100 at step 0), s = step.
  BOOST_TEST(optim::polynomial_decay(0.1, 0, 100, 0.01, 1.0, true) == 0.1);
  BOOST_TEST(near(optim::polynomial_decay(0.1, 50, 100, 0.01, 1.0, true), 0.055));
  BOOST_TEST(near(optim::polynomial_decay(0.1, 100, 100, 0.01, 1.0, true), 0.01));
  BOOST_TEST(near(optim::polynomial_decay(0.1, 150, 100, 0.01, 1.0, true), 0.09 * 0.25 + 0.01));   // d = 200
  BOOST_TEST(near(optim::polynomial_decay(0.1, 200, 100, 0.01, 1.0, true), 0.01));
  BOOST_TEST(near(optim::polynomial_decay(0.1, 201, 100, 0.01, 1.0, true), 0.09 * 99.0 / 300.0 + 0.01));  // d = 300
  BOOST_TEST(near(optim::polynomial_decay(0.1, 250, 100, 0.01, 2.0, true), 0.09 / 36.0 + 0.01));  // (1 - 250/300)^2
  // Without cycle the same steps stay at the end.
  BOOST_TEST(near(optim::polynomial_decay(0.1, 201, 100, 0.01), 0.01));
}

BOOST_AUTO_TEST_CASE(polynomial_decay_errors) {
  TF_CHECK_THROWS_WITH(optim::polynomial_decay(-1.0, 0, 100), ValueError,
                       "polynomial_decay: invalid learning rate: -1 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(optim::polynomial_decay(0.1, -3, 100), ValueError,
                       "polynomial_decay: invalid global_step: -3 (must be >= 0)");
  TF_CHECK_THROWS_WITH(optim::polynomial_decay(0.1, 0, -100), ValueError,
                       "polynomial_decay: invalid decay_steps: -100 (must be > 0)");
  TF_CHECK_THROWS_WITH(optim::polynomial_decay(0.1, 0, 100, -0.01), ValueError,
                       "polynomial_decay: invalid end_learning_rate: -0.01 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(optim::polynomial_decay(0.1, 0, 100, 0.01, 0.0), ValueError,
                       "polynomial_decay: invalid power: 0 (must be a finite number > 0; 1 decays linearly)");
  TF_CHECK_THROWS_WITH(optim::polynomial_decay(0.1, 0, 100, 0.01, -2.0), ValueError,
                       "polynomial_decay: invalid power: -2");
  TF_CHECK_THROWS_WITH(optim::polynomial_decay(0.1, 0, 100, 0.01, std::nan("")), ValueError,
                       "polynomial_decay: invalid power: nan");
}

// ------------------------------------------------------------------------------- linear_warmup

BOOST_AUTO_TEST_CASE(linear_warmup_in_front_of_any_schedule) {
  // 4 warm-up steps up to schedule(0) = 1, then 1, 0.5, 0.25 ... (halved every step).
  auto halving = [](std::int64_t s) { return optim::exponential_decay(1.0, s, 1, 0.5); };
  const std::vector<double> expected = {0.0, 0.25, 0.5, 0.75, 1.0, 0.5, 0.25, 0.125};
  for (std::int64_t step = 0; step < 8; ++step)
    BOOST_TEST(optim::linear_warmup(step, 4, halving) == expected[static_cast<std::size_t>(step)], "step " << step);
  // piecewise_constant: the boundaries count from the end of the warm-up.
  auto steps = [](std::int64_t s) { return optim::piecewise_constant(s, {10}, {0.1, 0.01}); };
  BOOST_TEST(near(optim::linear_warmup(1, 2, steps), 0.05));
  BOOST_TEST(optim::linear_warmup(12, 2, steps) == 0.1);  // s = 10
  BOOST_TEST(optim::linear_warmup(13, 2, steps) == 0.01);
  // polynomial_decay
  auto linear = [](std::int64_t s) { return optim::polynomial_decay(1e-3, s, 1000, 0.0); };
  BOOST_TEST(near(optim::linear_warmup(250, 500, linear), 0.5e-3));
  BOOST_TEST(near(optim::linear_warmup(1000, 500, linear), 0.5e-3));
  BOOST_TEST(optim::linear_warmup(1500, 500, linear) == 0.0);
  // No warm-up: the schedule itself.
  for (std::int64_t step : {0, 1, 7}) BOOST_TEST(optim::linear_warmup(step, 0, halving) == halving(step));
}

BOOST_AUTO_TEST_CASE(linear_warmup_errors) {
  auto constant = [](std::int64_t) { return 0.1; };
  TF_CHECK_THROWS_WITH(optim::linear_warmup(-1, 5, constant), ValueError,
                       "linear_warmup: invalid step: -1 (must be >= 0)");
  TF_CHECK_THROWS_WITH(optim::linear_warmup(3, -5, constant), ValueError,
                       "linear_warmup: invalid warmup_steps: -5 (must be >= 0)");
  TF_CHECK_THROWS_WITH(optim::linear_warmup(3, 5, nullptr), ValueError,
                       "linear_warmup: the schedule is empty; pass a function of the step");
  // The schedule's own errors come through.
  TF_CHECK_THROWS_WITH(optim::linear_warmup(3, 5, [](std::int64_t s) { return optim::cosine_decay(0.1, s, 0); }),
                       ValueError, "cosine_decay: invalid decay_steps: 0 (must be > 0)");
}

// ----------------------------------------------------------------------------------- in a loop

BOOST_AUTO_TEST_CASE(cosine_warmup_drives_an_optimizer) {
  // Gradient 1 each step: w moves by the sum of the rates: 0, 0.5 (the 2 warm-up steps), 1, 0.5
  // (the cosine over 2 steps), then 0.
  Tensor w = zeros({1}, float64);
  w.requires_grad_();
  optim::SGD opt({w}, {.lr = 1.0});
  for (std::int64_t step = 0; step < 7; ++step) {
    opt.set_lr(optim::cosine_decay(1.0, step, 2, 0.0, 2));
    w.set_grad(ones({1}, float64));
    opt.step();
  }
  tft::check_close(w, {-2.0}, 1e-15, 1e-15);
}

BOOST_AUTO_TEST_SUITE_END()
