// Second derivatives for real: a physics-informed network (PINN) learns the oscillator
// u'' + u = 0 with u(0) = 0, u'(0) = 1 on [0, 2 pi] from the equation alone, no data. Its
// solution is sin(t).
//
//   ./pinn_oscillator --steps 3000
//
// The loss needs u'(t) and u''(t) of the network's output with respect to its input, taken with
// create_graph so that they are tape records themselves; loss.backward() then differentiates
// through them (a third derivative of the network, with respect to its weights). The last line
// reads `final: max_abs_error=<max |u - sin| on 1000 points> steps=<steps> seconds=<seconds>`.
#include <chrono>
#include <cmath>
#include <numbers>
#include <vector>

#include <CLI/CLI.hpp>

#include "flags.h"

#include "tapeflow/nn.h"
#include "tapeflow/optim.h"
#include "tapeflow/optim/schedule.h"
#include "tapeflow/tapeflow.h"

namespace tf = tapeflow;

namespace {

struct Derivatives {
  tf::Tensor u, du, d2u;
};

// u(t), u'(t), u''(t) for a column of times t [N, 1]: each derivative a create_graph gradient,
// so that the loss built from them can be differentiated with respect to the weights.
Derivatives derivatives(tf::nn::Module& net, const tf::Tensor& times) {
  tf::Tensor t = times.detach().requires_grad_();
  tf::Tensor u = net(t);
  // The sum's gradient is each u_i's own derivative: u_i depends on t_i alone.
  tf::Tensor du = tf::autograd::grad({tf::reduce_sum(u)}, {t}, {.create_graph = true})[0];
  tf::Tensor d2u = tf::autograd::grad({tf::reduce_sum(du)}, {t}, {.create_graph = true})[0];
  return {u, du, d2u};
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"Fits u'' + u = 0, u(0) = 0, u'(0) = 1 with a physics-informed network (second derivatives)"};
  int steps = 3000, points = 128, threads = 0;
  double learning_rate = 1e-2;
  std::uint64_t seed = 1;
  app.add_option("--steps", steps, "training steps")->check(flags::positive)->capture_default_str();
  app.add_option("--points", points, "collocation points drawn in [0, 2 pi] each step")
      ->check(flags::positive)
      ->capture_default_str();
  // Adam from 1e-2, decayed tenfold over the run: at a constant rate the fit keeps jumping between
  // nearby solutions (the points are redrawn each step), and the final error depends on the seed.
  app.add_option("--learning_rate", learning_rate, "Adam's initial learning rate (decays to a tenth by the end)")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--seed", seed, "seed of the initial weights and of the points")->capture_default_str();
  app.add_option("--threads", threads, "threads (default: $TAPEFLOW_NUM_THREADS, else all cores)")
      ->check(flags::positive);
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) tf::set_num_threads(threads);
  tf::manual_seed(seed);

  // float64: the equation's residual is a difference of second derivatives, where float32's
  // rounding would set the floor of the error.
  const tf::nn::LinearOptions f64{.dtype = tf::float64};
  tf::nn::Sequential net(tf::nn::Linear(1, 32, f64), tf::nn::Tanh(), tf::nn::Linear(32, 32, f64), tf::nn::Tanh(),
                         tf::nn::Linear(32, 1, f64));
  tf::optim::Adam opt(net.parameters(), {.lr = learning_rate});
  const double two_pi = 2 * std::numbers::pi;
  const tf::Tensor origin = tf::zeros({1, 1}, tf::float64);
  fmt::print("pinn_oscillator: u'' + u = 0 on [0, 2 pi], {} points per step, Adam lr {} decaying to a tenth, {} "
             "threads\n", points,
             learning_rate, tf::get_num_threads());

  const auto start = std::chrono::steady_clock::now();
  for (int step = 1; step <= steps; ++step) {
    Derivatives inside = derivatives(net, tf::random_uniform({points, 1}, 0.0, two_pi, tf::float64));
    Derivatives at0 = derivatives(net, origin);
    tf::Tensor residual = tf::reduce_mean(tf::square(inside.d2u + inside.u));
    tf::Tensor initial = tf::reduce_sum(tf::square(at0.u)) + tf::reduce_sum(tf::square(at0.du - 1.0));
    tf::Tensor loss = residual + initial;
    opt.set_lr(tf::optim::exponential_decay(learning_rate, step, steps, 0.1));
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step % 500 == 0 || step == steps)
      fmt::print("step {}/{} loss {:.3e} (residual {:.3e}, initial conditions {:.3e})\n", step, steps, loss.item(),
                 residual.item(), initial.item());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // The error against sin(t) on 1000 evenly spaced points.
  tf::NoGradGuard no_grad;
  std::vector<double> times(1000), exact(1000);
  for (std::size_t i = 0; i < times.size(); ++i) {
    times[i] = two_pi * static_cast<double>(i) / 999;
    exact[i] = std::sin(times[i]);
  }
  tf::Tensor predicted = net(tf::from_vector(times, {1000, 1}));
  const double error = tf::reduce_max(tf::abs(predicted - tf::from_vector(exact, {1000, 1}))).item();
  fmt::print("final: max_abs_error={:.4f} steps={} seconds={:.1f}\n", error, steps, seconds);
  return 0;
} catch (const tf::Error& e) {
  fmt::print(stderr, "pinn_oscillator: {}\n", e.what());
  return 1;
}
