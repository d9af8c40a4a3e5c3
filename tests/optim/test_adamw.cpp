// AdamW (decoupled weight decay): values against PyTorch's torch.optim.AdamW (the numbers below
// were printed by python3-torch 1.13, float64, with the Python next to them), the free update
// functions, a small regression trained with parameter groups, defaults and errors.
#include <cmath>

#include "optim/optim_fixture.h"

using namespace tapeflow;
namespace optim = tapeflow::optim;

namespace {

// optim_fixture.h's problem, the other optimizers' (test_optimizers.cpp).
using tft::kGrads;
using tft::kX0;
using tft::Steps;

void check_steps(const optim::AdamWOptions& options, const Steps& expected) {
  tft::check_steps<optim::AdamW>(options, expected);
}

// The regression of adamw_trains_a_regression_with_groups_like_pytorch.
const std::vector<double> kX = {1.0, 2.0, -1.0, 0.5, -1.5, 2.0, -2.0, 0.0, 1.0, 1.5, 1.0, 0.5};  // [4,3]
const std::vector<double> kY = {1.0, -1.0, 0.0, 2.0, -1.0, 0.5, 2.0, 1.0};                      // [4,2]
const std::vector<double> kW0 = {0.5, -0.5, 0.25, 1.0, -1.0, 0.75};                             // [3,2]
const std::vector<double> kB0 = {0.1, -0.2};                                                    // [2]

}  // namespace

BOOST_AUTO_TEST_SUITE(adamw)

// ------------------------------------------------------------------------------------------ values

BOOST_AUTO_TEST_CASE(adamw_values_match_pytorch) {
  // import torch
  // x0 = [1.0, -2.0, 0.5]
  // grads = [[0.1, -0.2, 0.3], [0.4, 0.1, -0.5], [-0.3, 0.2, 0.1]]
  // def run(**kw):
  //     x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
  //     opt = torch.optim.AdamW([x], **kw)
  //     for g in grads:
  //         x.grad = torch.tensor(g, dtype=torch.float64)
  //         opt.step()
  //         print([float(v) for v in x.detach()])
  // run(lr=0.1)
  //
  // By hand, step 1, x[0]: the decay 1 - 0.1 * 0.01 gives 0.999; m = 0.1 * 0.1 = 0.01,
  // v = 0.001 * 0.01 = 1e-5; lr / (1 - 0.9) = 1; sqrt(v) / sqrt(1 - 0.999) = 0.1, so
  // x = 0.999 - 0.01 / (0.1 + 1e-8) = 0.89900001.
  check_steps({.lr = 0.1}, Steps{{0.8990000099999991, -1.8980000049999997, 0.39950000333333324},
                                 {0.8096633639651172, -1.8694683027136758, 0.4284566230947949},
                                 {0.7911828704156875, -1.8948685119312192, 0.43958904358463197}});
}

BOOST_AUTO_TEST_CASE(adamw_non_default_options_match_pytorch) {
  // run(lr=0.05, betas=(0.5, 0.75), eps=0.1, weight_decay=0.5)
  //
  // By hand, step 1, x[0]: the decay 1 - 0.05 * 0.5 gives 0.975; m = 0.05, v = 0.0025;
  // step size 0.05 / 0.5 = 0.1; denominator sqrt(0.0025) / sqrt(0.25) + 0.1 = 0.2;
  // x = 0.975 - 0.1 * 0.05 / 0.2 = 0.95.
  check_steps({.lr = 0.05, .beta1 = 0.5, .beta2 = 0.75, .epsilon = 0.1, .weight_decay = 0.5},
              Steps{{0.95, -1.9166666666666665, 0.45},
                    {0.8896089804307307, -1.86875, 0.46093232239198023},
                    {0.8726550940112406, -1.8428875606725517, 0.45442081104675747}});
}

BOOST_AUTO_TEST_CASE(adamw_without_decay_is_pytorchs_adam_not_tensorflows) {
  // run(lr=0.1, weight_decay=0.0)
  const Steps torch_adam = {{0.900000009999999, -1.9000000049999999, 0.4000000033333332},
                            {0.811562363975117, -1.873366302718676, 0.42935612309812815},
                            {0.7938915337896525, -1.900635980238933, 0.44091700021106006}};
  check_steps({.lr = 0.1, .weight_decay = 0.0}, torch_adam);
  // TensorFlow's epsilon hat (optim::Adam) moves the first step by ~3e-7 instead of ~1e-8.
  Tensor x = from_vector(kX0);
  x.requires_grad_();
  optim::Adam adam({x}, {.lr = 0.1});
  x.set_grad(from_vector(kGrads[0]));
  adam.step();
  BOOST_TEST(std::abs(x.to_vector<double>()[0] - torch_adam[0][0]) > 1e-7);
}

// The decay is decoupled: it does not go through the moments. With a zero gradient, Adam's L2
// weight decay still moves x by about lr (the moments normalise the decay term), AdamW's by
// lr * weight_decay * x only.
BOOST_AUTO_TEST_CASE(the_decay_is_decoupled_from_the_moments) {
  Tensor x = from_vector(std::vector<double>{2.0});
  x.requires_grad_();
  optim::AdamW opt({x}, {.lr = 0.1, .weight_decay = 0.5});
  x.set_grad(zeros({1}, float64));
  opt.step();
  tft::check_close(x, {2.0 * (1.0 - 0.1 * 0.5)}, 1e-15, 1e-15);  // m = v = 0: no Adam step
  const optim::AdamWState* state = opt.state<optim::AdamWState>(0);
  BOOST_REQUIRE(state != nullptr);
  tft::check_close(state->m, {0.0}, 0.0, 0.0);
  tft::check_close(state->v, {0.0}, 0.0, 0.0);
  BOOST_TEST(state->step == 1);

  Tensor y = from_vector(std::vector<double>{2.0});
  y.requires_grad_();
  optim::Adam l2({y}, {.lr = 0.1, .weight_decay = 0.5});
  y.set_grad(zeros({1}, float64));
  l2.step();
  BOOST_TEST(std::abs(y.item<double>() - 1.9) < 1e-6);  // ~lr * sign(weight_decay * y)
}

BOOST_AUTO_TEST_CASE(adamw_trains_a_regression_with_groups_like_pytorch) {
  // loss = mean((X @ W + b - Y)^2); W decays by 0.1 at lr 0.02, b does not decay and has lr 0.05:
  //
  // X = torch.tensor([[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-2.0, 0.0, 1.0], [1.5, 1.0, 0.5]],
  //                  dtype=torch.float64)
  // Y = torch.tensor([[1.0, -1.0], [0.0, 2.0], [-1.0, 0.5], [2.0, 1.0]], dtype=torch.float64)
  // W = torch.tensor([[0.5, -0.5], [0.25, 1.0], [-1.0, 0.75]], dtype=torch.float64,
  //                  requires_grad=True)
  // b = torch.tensor([0.1, -0.2], dtype=torch.float64, requires_grad=True)
  // opt = torch.optim.AdamW([{'params': [W]}, {'params': [b], 'weight_decay': 0.0, 'lr': 0.05}],
  //                         lr=0.02, weight_decay=0.1)
  // for step in range(5):
  //     opt.zero_grad()
  //     loss = ((X @ W + b - Y) ** 2).mean()
  //     loss.backward()
  //     opt.step()
  //     print(step + 1, float(loss))
  // print("W", [float(v) for v in W.detach().flatten()])
  // print("b", [float(v) for v in b.detach()])
  const std::vector<double> losses = {2.2398437500000004, 2.0679790486194207, 1.9081902612811272,
                                      1.7593090911189715, 1.6190651580289064};
  const std::vector<double> w5 = {0.5599127034249864,  -0.39591389182775305, 0.1482646187491815,
                                  0.8906334943850576,  -0.891021319406393,   0.8415211995891979};
  const std::vector<double> b5 = {0.3474457819984122, -0.05948708958402054};
  for (DType dt : {float64, float32}) {
    BOOST_TEST_CONTEXT("dtype " << dtype_name(dt)) {
      const double tol = dt == float64 ? 1e-12 : 1e-5;
      const Tensor x = from_vector(kX, Shape{4, 3}).to(dt), y = from_vector(kY, Shape{4, 2}).to(dt);
      Tensor w = from_vector(kW0, Shape{3, 2}).to(dt), b = from_vector(kB0).to(dt);
      w.requires_grad_();
      b.requires_grad_();
      optim::AdamW opt({{.params = {w}}, {.params = {b}, .lr = 0.05, .weight_decay = 0.0}},
                       {.lr = 0.02, .weight_decay = 0.1});
      for (std::size_t step = 0; step < losses.size(); ++step) {
        opt.zero_grad();
        Tensor loss = reduce_mean(square(matmul(x, w) + b - y));
        loss.backward();
        opt.step();
        BOOST_TEST(std::abs(loss.item<double>() - losses[step]) <= tol * (1 + losses[step]), "step " << step + 1);
      }
      tft::check_close(w, w5, tol, tol);
      tft::check_close(b, b5, tol, tol);
    }
  }
}

// ---------------------------------------------------------------------------- free functions

BOOST_AUTO_TEST_CASE(free_update_functions) {
  // adamw_update gives the class's numbers (run(lr=0.1) above) and counts the steps.
  Tensor x = from_vector(kX0);
  optim::AdamWState state;
  const Steps expected = {{0.8990000099999991, -1.8980000049999997, 0.39950000333333324},
                          {0.8096633639651172, -1.8694683027136758, 0.4284566230947949},
                          {0.7911828704156875, -1.8948685119312192, 0.43958904358463197}};
  for (std::size_t s = 0; s < 3; ++s) {
    optim::adamw_update(x, from_vector(kGrads[s]), state, {}, 0.1);
    tft::check_close(x, expected[s], 1e-12, 1e-12);
  }
  BOOST_TEST(state.step == 3);
  // v after three steps, element 0: 0.999^2 * 0.001 * 0.01 + 0.999 * 0.001 * 0.16 + 0.001 * 0.09
  tft::check_close(slice(state.v, {0}, {1}), {0.998001e-5 + 0.999 * 0.16e-3 + 0.09e-3}, 1e-15, 1e-12);

  // apply_adamw with the bias corrections of step 1 is step 1.
  Tensor y = from_vector(kX0);
  Tensor m, v;
  optim::apply_adamw(y, from_vector(kGrads[0]), m, v, 0.1, 1.0 - 0.9, 1.0 - 0.999, {});
  tft::check_close(y, expected[0], 1e-12, 1e-12);
  tft::check_close(m, {0.01, -0.02, 0.03}, 1e-15, 1e-12);
}

// ---------------------------------------------------------------------------------- and the rest

BOOST_AUTO_TEST_CASE(defaults_are_pytorchs) {
  Tensor x = from_vector(kX0).to(float32);
  x.requires_grad_();
  optim::AdamW opt({x});
  BOOST_TEST(opt.name() == "AdamW");
  BOOST_TEST(opt.options().lr == 1e-3);
  BOOST_TEST(opt.options().beta1 == 0.9);
  BOOST_TEST(opt.options().beta2 == 0.999);
  BOOST_TEST(opt.options().epsilon == 1e-8);
  BOOST_TEST(opt.options().weight_decay == 1e-2);
  BOOST_TEST(opt.lr() == 1e-3);
  BOOST_TEST(opt.param_groups().front().weight_decay == 1e-2);
}

BOOST_AUTO_TEST_CASE(adamw_with_a_cosine_warmup_schedule_like_pytorch) {
  // (x - 3)^2 from 0 for 2000 steps, the learning rate from optim::cosine_decay(0.1, step, 2000,
  // 0, 100) set each step; the decay keeps x below the minimum (without it torch ends at 3 - 4e-16):
  //
  // import math, torch
  // def sched(step, lr=0.1, decay=2000, alpha=0.0, warm=100):
  //     if step < warm: return lr * step / warm
  //     s = min(step - warm, decay)
  //     return lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * s / decay)) + alpha)
  // x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
  // opt = torch.optim.AdamW([x], lr=0.1, weight_decay=0.01)
  // for step in range(2000):
  //     for g in opt.param_groups: g['lr'] = sched(step)
  //     opt.zero_grad(); ((x - 3) ** 2).sum().backward(); opt.step()
  // print(float(x))
  Tensor x = zeros({1}, float64);
  x.requires_grad_();
  optim::AdamW opt({x}, {.lr = 0.1, .weight_decay = 0.01});
  for (std::int64_t step = 0; step < 2000; ++step) {
    opt.set_lr(optim::cosine_decay(0.1, step, 2000, 0.0, 100));
    opt.zero_grad();
    reduce_sum(square(x - 3.0)).backward();
    opt.step();
  }
  tft::check_close(x, {2.9918184610793777}, 1e-10, 1e-10);
}

BOOST_AUTO_TEST_CASE(invalid_options_are_rejected) {
  Tensor x = from_vector(kX0).to(float32);
  x.requires_grad_();
  std::vector<Tensor> p = {x};
  TF_CHECK_THROWS_WITH(optim::AdamW(p, {.lr = -1}), ValueError,
                       "AdamW: invalid learning rate: -1 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(optim::AdamW(p, {.beta1 = 1.0}), ValueError, "AdamW: invalid beta1: 1 (must be in [0, 1))");
  TF_CHECK_THROWS_WITH(optim::AdamW(p, {.beta2 = -0.5}), ValueError,
                       "AdamW: invalid beta2: -0.5 (must be in [0, 1))");
  TF_CHECK_THROWS_WITH(optim::AdamW(p, {.epsilon = -1}), ValueError, "AdamW: invalid epsilon: -1 (must be >= 0)");
  TF_CHECK_THROWS_WITH(optim::AdamW(p, {.weight_decay = -0.01}), ValueError,
                       "AdamW: invalid weight_decay: -0.01 (must be >= 0)");
  TF_CHECK_THROWS_WITH(optim::AdamW(std::vector<Tensor>{}), ValueError, "AdamW: got an empty parameter list");

  Tensor var = from_vector(std::vector<double>{1.0, 2.0});
  optim::AdamWState state;
  TF_CHECK_THROWS_WITH(optim::adamw_update(var, ones({3}, float64), state, {}, 0.1), ShapeError,
                       "adamw_update: the gradient has shape [3] but the variable has shape [2]");
  BOOST_TEST(state.step == 0);
  Tensor m, v;
  TF_CHECK_THROWS_WITH(optim::apply_adamw(var, ones({2}, float64), m, v, 0.1, 0.0, 0.5, {}), ValueError,
                       "apply_adamw: invalid bias_correction1: 0 (must be in (0, 1]: 1 - beta^t for the update "
                       "count t >= 1)");
  TF_CHECK_THROWS_WITH(optim::apply_adamw(var, ones({2}, float64), m, v, 0.1, 0.5, 1.5, {}), ValueError,
                       "apply_adamw: invalid bias_correction2: 1.5");
  tft::check_close(var, {1.0, 2.0}, 0.0, 0.0);  // nothing applied
}

BOOST_AUTO_TEST_SUITE_END()
