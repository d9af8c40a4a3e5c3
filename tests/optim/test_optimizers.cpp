#include <limits>

#include "optim/optim_fixture.h"

#include <cmath>
#include <functional>

#include "tapeflow/optim.h"

using namespace tapeflow;
namespace optim = tapeflow::optim;

namespace {

// The value tests run optim_fixture.h's problem. The first step of each optimizer is worked by
// hand in the comments; all three steps were computed with numpy in float64 from the TF 1.x update
// rules written out in the optimizers' headers.
using tft::check_steps;
using tft::kGrads;
using tft::kX0;
using tft::leaf;
using tft::Steps;

/// Minimises (x - 3)^2 from x = 0 through backward() and step(), optionally setting the learning
/// rate from `schedule(step)` first; returns the final x.
template <class Opt, class Options>
double minimise_quadratic(const Options& options, int steps, DType dt,
                          const std::function<double(std::int64_t)>& schedule = {}) {
  Tensor x = zeros({1}, dt);
  x.requires_grad_();
  Opt opt({x}, options);
  for (int i = 0; i < steps; ++i) {
    if (schedule) opt.set_lr(schedule(i));
    opt.zero_grad();
    Tensor loss = reduce_sum(square(x - 3.0));
    loss.backward();
    opt.step();
  }
  return x.item<double>();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(optimizers)

// ------------------------------------------------------------------------------------------ values

BOOST_AUTO_TEST_CASE(gradient_descent_values) {
  // x1 = x0 - 0.1 * g1 = [1 - 0.01, -2 + 0.02, 0.5 - 0.03]
  check_steps<optim::GradientDescent>(optim::GradientDescentOptions{.lr = 0.1},
                                      Steps{{0.99, -1.98, 0.47}, {0.95, -1.99, 0.52}, {0.98, -2.01, 0.51}});
  // SGD is the same optimizer.
  check_steps<optim::SGD>(optim::SGDOptions{.lr = 0.1},
                          Steps{{0.99, -1.98, 0.47}, {0.95, -1.99, 0.52}, {0.98, -2.01, 0.51}});
}

BOOST_AUTO_TEST_CASE(gradient_descent_weight_decay_values) {
  // g = g1 + 0.5 * x0 = [0.6, -1.2, 0.55]; x1 = x0 - 0.1 * g = [0.94, -1.88, 0.445]
  check_steps<optim::GradientDescent>(optim::GradientDescentOptions{.lr = 0.1, .weight_decay = 0.5},
                                      Steps{{0.94, -1.88, 0.445},
                                            {0.853, -1.7959999999999998, 0.47275},
                                            {0.8403499999999999, -1.7261999999999997, 0.4391125}});
}

BOOST_AUTO_TEST_CASE(momentum_values) {
  // accum1 = g1; x1 = x0 - 0.1 * g1 = [0.99, -1.98, 0.47]
  // accum2 = 0.9 * g1 + g2 = [0.49, -0.08, -0.23]; x2 = x1 - 0.1 * accum2 = [0.941, -1.972, 0.493]
  check_steps<optim::Momentum>(optim::MomentumOptions{.lr = 0.1, .momentum = 0.9},
                               Steps{{0.99, -1.98, 0.47}, {0.941, -1.972, 0.493}, {0.9269, -1.9848, 0.5037}});
}

BOOST_AUTO_TEST_CASE(nesterov_values) {
  // accum1 = g1; x1 = x0 - 0.1 * (g1 + 0.9 * g1) = x0 - 0.19 * g1 = [0.981, -1.962, 0.443]
  check_steps<optim::Momentum>(optim::MomentumOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true},
                               Steps{{0.981, -1.962, 0.443},
                                     {0.8969, -1.9647999999999999, 0.5137},
                                     {0.91421, -1.9963199999999999, 0.5133300000000001}});
}

BOOST_AUTO_TEST_CASE(momentum_weight_decay_values) {
  // g = g1 + 0.5 * x0 = [0.6, -1.2, 0.55]; accum1 = g; x1 = x0 - 0.1 * g = [0.94, -1.88, 0.445]
  check_steps<optim::Momentum>(optim::MomentumOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.5},
                               Steps{{0.94, -1.88, 0.445},
                                     {0.7989999999999999, -1.688, 0.42325},
                                     {0.6621499999999999, -1.4507999999999999, 0.3725125}});
}

BOOST_AUTO_TEST_CASE(adam_values) {
  // t = 1: m = 0.1 g1, v = 0.001 g1^2, lr_t = 0.1 * sqrt(0.001) / 0.1 = 0.0316228;
  // m / (sqrt(v) + 1e-8) = 0.1 g1 / (0.0316228 |g1| + 1e-8) ~= 3.16228 sign(g1), so
  // x1 ~= x0 - 0.1 sign(g1) = [0.9, -1.9, 0.4] (epsilon moves it by ~3e-7).
  check_steps<optim::Adam>(optim::AdamOptions{.lr = 0.1},
                           Steps{{0.900000316226766, -1.900000158113633, 0.4000001054091442},
                                 {0.8115627349996906, -1.8733664918283603, 0.42935620996315527},
                                 {0.7938919151768425, -1.9006361421639206, 0.4409170812312494}});
}

BOOST_AUTO_TEST_CASE(adam_non_default_betas_values) {
  // beta1 0.5, beta2 0.75, epsilon 0.1: m = 0.5 g1, v = 0.25 g1^2, lr_t = 0.05 * sqrt(0.25) / 0.5
  // = 0.05; x1[0] = 1 - 0.05 * 0.05 / (0.05 + 0.1) = 1 - 0.0166667 = 0.983333;
  // x1[1] = -2 + 0.05 * 0.1 / (0.1 + 0.1) = -1.975; x1[2] = 0.5 - 0.05 * 0.15 / 0.25 = 0.47.
  check_steps<optim::Adam>(optim::AdamOptions{.lr = 0.05, .beta1 = 0.5, .beta2 = 0.75, .epsilon = 0.1},
                           Steps{{0.9833333333333333, -1.975, 0.47},
                                 {0.9507645022055411, -1.975, 0.4902149676445119},
                                 {0.9556694487680413, -1.9937045327563556, 0.4948826693538107}});
}

BOOST_AUTO_TEST_CASE(adam_weight_decay_values) {
  // g = g1 + 0.5 x0 = [0.6, -1.2, 0.55]: the first step is again ~0.1 sign(g) (epsilon smaller
  // relative to the larger |g|).
  check_steps<optim::Adam>(optim::AdamOptions{.lr = 0.1, .weight_decay = 0.5},
                           Steps{{0.9000000527045999, -1.900000026352307, 0.40000005749592443},
                                 {0.8005681526826358, -1.8023040674394029, 0.3768295870718428},
                                 {0.7179290743723663, -1.7066353672721428, 0.3338293640738583}});
}

BOOST_AUTO_TEST_CASE(rmsprop_values) {
  // ms starts at 1: ms1 = 0.9 + 0.1 g1^2 = [0.901, 0.904, 0.909];
  // x1[0] = 1 - 0.01 * 0.1 / sqrt(0.901) = 1 - 0.00105351 = 0.998946
  check_steps<optim::RMSProp>(optim::RMSPropOptions{.lr = 0.01},
                              Steps{{0.9989464925660887, -1.997896484190558, 0.4968534161225353},
                                    {0.9945476998692704, -1.9990044536694536, 0.5022988245565035},
                                    {0.9980044120184651, -2.001333912323494, 0.5011515873764021}});
}

BOOST_AUTO_TEST_CASE(rmsprop_momentum_values) {
  // Step 1 equals plain RMSProp (mom starts at zero); step 2 adds 0.5 * mom1.
  check_steps<optim::RMSProp>(optim::RMSPropOptions{.lr = 0.01, .momentum = 0.5},
                              Steps{{0.9989464925660887, -1.997896484190558, 0.4968534161225353},
                                    {0.9940209461523148, -1.9979526957647324, 0.5007255326177712},
                                    {0.9950148850946225, -2.00031026020586, 0.5015143536852877}});
}

BOOST_AUTO_TEST_CASE(rmsprop_centered_values) {
  // mg1 = 0.1 g1 = [0.01, ...]; denominator sqrt(ms1 - mg1^2) = sqrt(0.901 - 0.0001) = 0.949158;
  // x1[0] = 1 - 0.01 * 0.1 / 0.949158 = 0.9989464341
  check_steps<optim::RMSProp>(optim::RMSPropOptions{.lr = 0.01, .momentum = 0.5, .centered = true},
                              Steps{{0.9989464340979901, -1.9978960186564572, 0.4968518572500705},
                                    {0.9940144583068815, -1.997952040990604, 0.5007249034641842},
                                    {0.9950056388509442, -2.0003097697327767, 0.5015141029448645}});
}

BOOST_AUTO_TEST_CASE(rmsprop_weight_decay_values) {
  // g = [0.6, -1.2, 0.55]; ms1[0] = 0.9 + 0.1 * 0.36 = 0.936; x1[0] = 1 - 0.006 / sqrt(0.936) = 0.993798
  check_steps<optim::RMSProp>(optim::RMSPropOptions{.lr = 0.01, .weight_decay = 0.5},
                              Steps{{0.9937982632708708, -1.9882555956102683, 0.49429753208852745},
                                    {0.9844618570744644, -1.9794004422265645, 0.4970504423977552},
                                    {0.9823572347754971, -1.9714230799571404, 0.49308224376355364}});
}

BOOST_AUTO_TEST_CASE(adagrad_values) {
  // accum1 = 0.1 + g1^2 = [0.11, 0.14, 0.19]; x1[0] = 1 - 0.1 * 0.1 / sqrt(0.11) = 0.969849
  check_steps<optim::Adagrad>(optim::AdagradOptions{.lr = 0.1},
                              Steps{{0.9698488655422236, -1.9465477516175151, 0.43117527983883147},
                                    {0.8928688296502735, -1.9723676405922312, 0.5065531159832724},
                                    {0.9428688296502735, -2.018250787366344, 0.49164599613327375}});
}

BOOST_AUTO_TEST_CASE(adagrad_weight_decay_values) {
  // initial 0.5, g = [0.6, -1.2, 0.55]: accum1[0] = 0.5 + 0.36 = 0.86; x1[0] = 1 - 0.06 / sqrt(0.86)
  // = 0.935300
  check_steps<optim::Adagrad>(
      optim::AdagradOptions{.lr = 0.1, .initial_accumulator_value = 0.5, .weight_decay = 0.5},
      Steps{{0.935300336077937, -1.9138450209658715, 0.43860398705954573},
            {0.8669796633542832, -1.8614445518793379, 0.46850456407894797},
            {0.85652597314388, -1.820648624661955, 0.4349619993195155}});
}

BOOST_AUTO_TEST_CASE(defaults_follow_tensorflow) {
  Tensor x = leaf(kX0, float32);
  optim::Adam adam({x});
  BOOST_TEST(adam.options().lr == 0.001);
  BOOST_TEST(adam.options().beta1 == 0.9);
  BOOST_TEST(adam.options().beta2 == 0.999);
  BOOST_TEST(adam.options().epsilon == 1e-8);
  BOOST_TEST(adam.options().weight_decay == 0.0);
  optim::RMSProp rms({x});
  BOOST_TEST(rms.options().decay == 0.9);
  BOOST_TEST(rms.options().momentum == 0.0);
  BOOST_TEST(rms.options().epsilon == 1e-10);
  BOOST_TEST(!rms.options().centered);
  optim::Adagrad ada({x});
  BOOST_TEST(ada.options().initial_accumulator_value == 0.1);
  optim::Momentum mom({x});
  BOOST_TEST(!mom.options().nesterov);
  BOOST_TEST(adam.name() == "Adam");
  BOOST_TEST(adam.lr() == 0.001);
}

// The update functions graph mode calls give the same numbers as the classes.
BOOST_AUTO_TEST_CASE(free_update_functions) {
  Tensor x = from_vector(kX0);
  optim::AdamState state;
  const Steps adam = {{0.900000316226766, -1.900000158113633, 0.4000001054091442},
                      {0.8115627349996906, -1.8733664918283603, 0.42935620996315527},
                      {0.7938919151768425, -1.9006361421639206, 0.4409170812312494}};
  for (std::size_t s = 0; s < 3; ++s) {
    optim::adam_update(x, from_vector(kGrads[s]), state, {}, 0.1);
    tft::check_close(x, adam[s], 1e-12, 1e-12);
  }
  BOOST_TEST(state.step == 3);
  // m after three steps: 0.9^2 * 0.1 g1 + 0.9 * 0.1 g2 + 0.1 g3, element 0: 0.0081 + 0.036 - 0.03
  tft::check_close(slice(state.m, {0}, {1}), {0.0081 + 0.036 - 0.03}, 1e-15, 1e-12);

  Tensor y = from_vector(kX0);
  optim::RMSPropState rs;
  optim::rmsprop_update(y, from_vector(kGrads[0]), rs, {.momentum = 0.5, .centered = true}, 0.01);
  tft::check_close(y, {0.9989464340979901, -1.9978960186564572, 0.4968518572500705}, 1e-12, 1e-12);
  tft::check_close(rs.ms, {0.901, 0.904, 0.909}, 1e-15, 1e-12);
  tft::check_close(rs.mg, {0.01, -0.02, 0.03}, 1e-15, 1e-12);

  Tensor z = from_vector(kX0);
  optim::MomentumState ms;
  optim::momentum_update(z, from_vector(kGrads[0]), ms, {.momentum = 0.9, .nesterov = true}, 0.1);
  tft::check_close(z, {0.981, -1.962, 0.443}, 1e-12, 1e-12);
  optim::AdagradState as;
  optim::adagrad_update(z, from_vector(kGrads[0]), as, {}, 0.0);  // lr 0: only the accumulator moves
  tft::check_close(z, {0.981, -1.962, 0.443}, 1e-12, 1e-12);
  tft::check_close(as.accum, {0.11, 0.14, 0.19}, 1e-15, 1e-12);
  optim::gradient_descent_update(z, from_vector(kGrads[0]), {.weight_decay = 1.0}, 1.0);
  tft::check_close(z, {0.981 - 1.081, -1.962 + 2.162, 0.443 - 0.743}, 1e-12, 1e-12);
}

// Parameters large enough for the parallel (OpenMP) path give the same values element by element.
BOOST_AUTO_TEST_CASE(large_parameters_match_small_ones) {
  const std::int64_t reps = 40000;  // 120000 elements
  auto repeat = [&](const std::vector<double>& v) { return tile(from_vector(v), {reps}); };
  Tensor x = repeat(kX0);
  x.requires_grad_();
  optim::RMSProp opt({x}, {.lr = 0.01, .momentum = 0.5, .centered = true});
  for (std::size_t s = 0; s < 2; ++s) {
    x.set_grad(repeat(kGrads[s]));
    opt.step();
  }
  std::vector<double> got = x.to_vector<double>();
  const std::vector<double> step2 = {0.9940144583068815, -1.997952040990604, 0.5007249034641842};
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - step2[i % 3]));
  BOOST_TEST(worst < 1e-12);
}

// ----------------------------------------------------------------------------- step and zero_grad

BOOST_AUTO_TEST_CASE(zero_grad_clears_and_step_skips_undefined_grads) {
  Tensor a = leaf({1.0, 2.0}, float32), b = leaf({3.0}, float32);
  optim::Adam opt({a, b}, {.lr = 0.1});
  // Both get gradients from one backward.
  Tensor loss = reduce_sum(square(a)) + reduce_sum(b);
  loss.backward();
  BOOST_TEST(a.grad().defined());
  BOOST_TEST(b.grad().defined());
  opt.step();
  BOOST_TEST(opt.state<optim::AdamState>(0)->step == 1);
  BOOST_TEST(opt.state<optim::AdamState>(1)->step == 1);

  opt.zero_grad();
  BOOST_TEST(!a.grad().defined());
  BOOST_TEST(!b.grad().defined());

  // Only `a` gets a gradient now: b must not move and its state must not advance.
  const std::vector<double> b_before = b.to_vector<double>();
  Tensor loss2 = reduce_sum(square(a));
  loss2.backward();
  BOOST_TEST(!b.grad().defined());
  opt.step();
  BOOST_TEST(opt.state<optim::AdamState>(0)->step == 2);
  BOOST_TEST(opt.state<optim::AdamState>(1)->step == 1);
  tft::check_close(b, b_before, 0.0, 0.0);

  // A step with no gradient at all changes nothing.
  opt.zero_grad();
  const std::vector<double> a_before = a.to_vector<double>();
  opt.step();
  tft::check_close(a, a_before, 0.0, 0.0);
}

BOOST_AUTO_TEST_CASE(state_is_created_on_first_update) {
  Tensor a = leaf({1.0}, float64), b = leaf({2.0}, float64);
  optim::RMSProp opt({a, b}, {.centered = true});
  BOOST_TEST(opt.state<optim::RMSPropState>(0) == nullptr);
  a.set_grad(from_vector(std::vector<double>{0.5}));
  opt.step();
  const optim::RMSPropState* s = opt.state<optim::RMSPropState>(0);
  BOOST_REQUIRE(s != nullptr);
  tft::check_close(s->ms, {0.9 + 0.1 * 0.25}, 1e-15, 1e-12);  // started at one
  tft::check_close(s->mg, {0.05}, 1e-15, 1e-12);
  BOOST_TEST(opt.state<optim::RMSPropState>(1) == nullptr);  // b had no gradient
  BOOST_TEST(opt.state<optim::AdamState>(0) == nullptr);     // wrong state type
  TF_CHECK_THROWS_WITH(opt.state<optim::RMSPropState>(2), ValueError, "RMSProp: no parameter 2",
                       "has 2 parameters");
}

BOOST_AUTO_TEST_CASE(step_updates_the_callers_tensor_without_recording) {
  Tensor w = leaf({1.0, 2.0}, float32);
  Tensor alias = w;  // shares the data, as net.parameters() does
  optim::GradientDescent opt({w}, {.lr = 0.5});
  Tensor loss = reduce_sum(square(w));  // grad 2w = [2, 4]
  loss.backward();
  opt.step();
  tft::check_close(alias, {0.0, 0.0});
  BOOST_TEST(alias.is_leaf());
  BOOST_TEST(alias.requires_grad());
  BOOST_TEST(autograd::is_grad_enabled());  // the guard restored grad mode
  tft::check_close(w.grad(), {2.0, 4.0});   // step leaves the gradient alone
}

BOOST_AUTO_TEST_CASE(weight_decay_does_not_touch_the_gradient) {
  Tensor w = leaf({1.0, -1.0}, float64);
  optim::Momentum opt({w}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.5});
  Tensor g = from_vector(std::vector<double>{0.2, 0.2});
  w.set_grad(g);
  opt.step();
  tft::check_close(g, {0.2, 0.2}, 0.0, 0.0);
  // g + 0.5 w = [0.7, -0.3]; w = [1 - 0.07, -1 + 0.03]
  tft::check_close(w, {0.93, -0.97}, 1e-15, 1e-12);
}

BOOST_AUTO_TEST_CASE(set_lr_applies_to_the_next_step) {
  Tensor w = leaf({1.0}, float64);
  optim::GradientDescent opt({w}, {.lr = 0.1});
  w.set_grad(from_vector(std::vector<double>{1.0}));
  opt.step();  // 0.9
  opt.set_lr(0.01);
  BOOST_TEST(opt.lr() == 0.01);
  opt.step();  // 0.89
  tft::check_close(w, {0.89}, 1e-15, 1e-12);
  TF_CHECK_THROWS_WITH(opt.set_lr(-1), ValueError, "GradientDescent: invalid learning rate: -1 (must be a finite number >= 0)");
  BOOST_TEST(opt.lr() == 0.01);
}

BOOST_AUTO_TEST_CASE(mixed_float32_and_float64_parameters) {
  Tensor a = leaf({1.0}, float32), b = leaf({1.0}, float64);
  optim::Adagrad opt({a, b}, {.lr = 0.1});
  a.set_grad(from_vector(std::vector<double>{0.3}).to(float32));
  b.set_grad(from_vector(std::vector<double>{0.3}));
  opt.step();
  // 1 - 0.1 * 0.3 / sqrt(0.1 + 0.09) = 0.931174
  const double expected = 1.0 - 0.03 / std::sqrt(0.19);
  tft::check_close(a, {expected}, 1e-6, 1e-6);
  tft::check_close(b, {expected}, 1e-15, 1e-12);
  BOOST_TEST(opt.state<optim::AdagradState>(0)->accum.dtype() == float32);
  BOOST_TEST(opt.state<optim::AdagradState>(1)->accum.dtype() == float64);
}

// ------------------------------------------------------------------------------------ convergence

BOOST_AUTO_TEST_CASE(every_optimizer_minimises_a_quadratic) {
  for (DType dt : {float32, float64}) {
    BOOST_TEST_CONTEXT("dtype " << dtype_name(dt)) {
      auto error = [](double x) { return std::abs(x - 3.0); };
      BOOST_TEST(error(minimise_quadratic<optim::GradientDescent>(optim::GradientDescentOptions{.lr = 0.1}, 100,
                                                                  dt)) < 1e-5);
      BOOST_TEST(error(minimise_quadratic<optim::Momentum>(optim::MomentumOptions{.lr = 0.05, .momentum = 0.9}, 300,
                                                           dt)) < 1e-5);
      BOOST_TEST(error(minimise_quadratic<optim::Momentum>(
                     optim::MomentumOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true}, 300, dt)) < 1e-5);
      BOOST_TEST(error(minimise_quadratic<optim::Adam>(optim::AdamOptions{.lr = 0.1}, 500, dt)) < 1e-5);
      BOOST_TEST(error(minimise_quadratic<optim::RMSProp>(optim::RMSPropOptions{.lr = 0.01}, 500, dt)) < 1e-5);
      BOOST_TEST(error(minimise_quadratic<optim::RMSProp>(optim::RMSPropOptions{.lr = 0.01, .centered = true}, 500,
                                                          dt)) < 1e-5);
      BOOST_TEST(error(minimise_quadratic<optim::Adagrad>(optim::AdagradOptions{.lr = 0.5}, 500, dt)) < 1e-5);
      // With momentum, RMSProp at a constant rate keeps circling the minimum at a distance of about
      // lr; a decaying rate (halved every 100 steps) settles it.
      auto halving = [](std::int64_t step) { return optim::exponential_decay(0.01, step, 100, 0.5); };
      BOOST_TEST(error(minimise_quadratic<optim::RMSProp>(optim::RMSPropOptions{.lr = 0.01, .momentum = 0.9}, 1000,
                                                          dt, halving)) < 1e-5);
      BOOST_TEST(error(minimise_quadratic<optim::RMSProp>(
                     optim::RMSPropOptions{.lr = 0.01, .momentum = 0.9, .centered = true}, 1000, dt, halving)) < 1e-5);
    }
  }
}

// With weight decay the minimum moves: (x - 3)^2 + (wd / 2) x^2 is smallest at x = 6 / (2 + wd).
BOOST_AUTO_TEST_CASE(weight_decay_moves_the_minimum) {
  const double expected = 6.0 / 2.5;
  BOOST_TEST(std::abs(minimise_quadratic<optim::GradientDescent>(
                          optim::GradientDescentOptions{.lr = 0.1, .weight_decay = 0.5}, 200, float64) -
                      expected) < 1e-9);
  BOOST_TEST(std::abs(minimise_quadratic<optim::Adam>(optim::AdamOptions{.lr = 0.1, .weight_decay = 0.5}, 1000,
                                                      float64) -
                      expected) < 1e-6);
}

// ------------------------------------------------------------------------------------------ errors

BOOST_AUTO_TEST_CASE(invalid_options_are_rejected) {
  Tensor x = leaf({1.0}, float32);
  std::vector<Tensor> p = {x};
  TF_CHECK_THROWS_WITH(optim::GradientDescent(p, {.lr = -1}), ValueError,
                       "GradientDescent: invalid learning rate: -1 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(optim::SGD(p, {.lr = 0.1, .weight_decay = -0.5}), ValueError,
                       "GradientDescent: invalid weight_decay: -0.5 (must be >= 0)");

  TF_CHECK_THROWS_WITH(optim::Momentum(p, {.lr = -0.5}), ValueError,
                       "Momentum: invalid learning rate: -0.5 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(optim::Momentum(p, {.momentum = -0.5}), ValueError,
                       "Momentum: invalid momentum: -0.5 (must be >= 0)");
  TF_CHECK_THROWS_WITH(optim::Momentum(p, {.weight_decay = -1}), ValueError,
                       "Momentum: invalid weight_decay: -1 (must be >= 0)");

  TF_CHECK_THROWS_WITH(optim::Adam(p, {.lr = -1}), ValueError, "Adam: invalid learning rate: -1 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(optim::Adam(p, {.lr = std::nan("")}), ValueError, "Adam: invalid learning rate: nan");
  TF_CHECK_THROWS_WITH(optim::SGD(p, {.lr = std::numeric_limits<double>::infinity()}), ValueError,
                       "GradientDescent: invalid learning rate: inf");
  TF_CHECK_THROWS_WITH(optim::Adam(p, {.beta1 = 1.0}), ValueError, "Adam: invalid beta1: 1 (must be in [0, 1))");
  TF_CHECK_THROWS_WITH(optim::Adam(p, {.beta1 = -0.1}), ValueError, "Adam: invalid beta1: -0.1 (must be in [0, 1))");
  TF_CHECK_THROWS_WITH(optim::Adam(p, {.beta2 = 1.5}), ValueError, "Adam: invalid beta2: 1.5 (must be in [0, 1))");
  TF_CHECK_THROWS_WITH(optim::Adam(p, {.epsilon = -1e-8}), ValueError,
                       "Adam: invalid epsilon: -1e-08 (must be >= 0)");
  TF_CHECK_THROWS_WITH(optim::Adam(p, {.weight_decay = -0.1}), ValueError,
                       "Adam: invalid weight_decay: -0.1 (must be >= 0)");

  TF_CHECK_THROWS_WITH(optim::RMSProp(p, {.lr = -2}), ValueError, "RMSProp: invalid learning rate: -2 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(optim::RMSProp(p, {.decay = 1.0}), ValueError, "RMSProp: invalid decay: 1 (must be in [0, 1))");
  TF_CHECK_THROWS_WITH(optim::RMSProp(p, {.momentum = -0.9}), ValueError,
                       "RMSProp: invalid momentum: -0.9 (must be >= 0)");
  TF_CHECK_THROWS_WITH(optim::RMSProp(p, {.epsilon = -1}), ValueError, "RMSProp: invalid epsilon: -1 (must be >= 0)");
  TF_CHECK_THROWS_WITH(optim::RMSProp(p, {.weight_decay = -3}), ValueError,
                       "RMSProp: invalid weight_decay: -3 (must be >= 0)");

  TF_CHECK_THROWS_WITH(optim::Adagrad(p, {.lr = -1}), ValueError, "Adagrad: invalid learning rate: -1 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(optim::Adagrad(p, {.initial_accumulator_value = 0}), ValueError,
                       "Adagrad: invalid initial_accumulator_value: 0 (must be > 0)");
  TF_CHECK_THROWS_WITH(optim::Adagrad(p, {.initial_accumulator_value = -0.1}), ValueError,
                       "Adagrad: invalid initial_accumulator_value: -0.1 (must be > 0)");
  TF_CHECK_THROWS_WITH(optim::Adagrad(p, {.weight_decay = -1}), ValueError,
                       "Adagrad: invalid weight_decay: -1 (must be >= 0)");
}

BOOST_AUTO_TEST_CASE(invalid_parameter_lists_are_rejected) {
  TF_CHECK_THROWS_WITH(optim::Adam(std::vector<Tensor>{}), ValueError, "Adam: got an empty parameter list",
                       "net.parameters()");
  Tensor x = leaf({1.0}, float32);
  TF_CHECK_THROWS_WITH(optim::Adam({x, Tensor()}), ValueError, "Adam: parameter 1 is an undefined tensor");
  Tensor labels = from_vector(std::vector<std::int64_t>{1, 2});
  TF_CHECK_THROWS_WITH(optim::Momentum({x, labels}), DTypeError, "Momentum: parameter 1 (int64 [2])",
                       "only float32/float64");
  Tensor y = x * 2.0;
  TF_CHECK_THROWS_WITH(optim::RMSProp({y}), ValueError, "RMSProp: parameter 0 (float32 [1]) is not a leaf",
                       "computed by", "detach()");
  Tensor z = leaf({2.0}, float64);
  Tensor x_again = x;
  TF_CHECK_THROWS_WITH(optim::Adagrad({x, z, x_again}), ValueError,
                       "Adagrad: parameter 2 is the same tensor as parameter 0", "pass each tensor once");
}

BOOST_AUTO_TEST_CASE(mismatched_gradients_are_rejected) {
  Tensor x = leaf({1.0, 2.0}, float32);
  optim::Adam opt({x});
  x.set_grad(from_vector(std::vector<double>{1.0, 1.0}));  // float64 gradient on a float32 parameter
  TF_CHECK_THROWS_WITH(opt.step(), DTypeError, "Adam: the gradient of parameter 0 (float32 [2]) is float64 [2]",
                       "parameter's dtype");
  tft::check_close(x, {1.0, 2.0}, 0.0, 0.0);  // nothing was applied

  // The free functions check their arguments too (graph mode passes them directly).
  Tensor var = from_vector(std::vector<double>{1.0, 2.0});
  optim::AdamState st;
  TF_CHECK_THROWS_WITH(optim::adam_update(var, from_vector(std::vector<double>{1.0, 2.0, 3.0}), st, {}, 0.1),
                       ShapeError, "adam_update: the gradient has shape [3] but the variable has shape [2]");
  TF_CHECK_THROWS_WITH(optim::adam_update(var, Tensor(), st, {}, 0.1), ValueError,
                       "adam_update: the gradient of the float64 [2] variable is an undefined tensor");
  optim::MomentumState mst;
  TF_CHECK_THROWS_WITH(optim::momentum_update(var, ones({2}, float32), mst, {}, 0.1), DTypeError,
                       "momentum_update: the gradient is float32 [2] but the variable is float64 [2]");
  Tensor ints = from_vector(std::vector<std::int32_t>{1, 2});
  TF_CHECK_THROWS_WITH(optim::gradient_descent_update(ints, ints, {}, 0.1), DTypeError,
                       "gradient_descent_update: the variable is int32 [2]", "float32/float64");
  optim::RMSPropState wrong;
  wrong.ms = ones({3}, float64);
  TF_CHECK_THROWS_WITH(optim::rmsprop_update(var, ones({2}, float64), wrong, {}, 0.1), ShapeError,
                       "rmsprop_update: slot 'ms' has shape [3] but the variable has shape [2]");
  optim::AdagradState wrong_dtype;
  wrong_dtype.accum = ones({2}, float32);
  TF_CHECK_THROWS_WITH(optim::adagrad_update(var, ones({2}, float64), wrong_dtype, {}, 0.1), DTypeError,
                       "adagrad_update: slot 'accum' is float32 [2] but the variable is float64 [2]");
}

BOOST_AUTO_TEST_SUITE_END()
