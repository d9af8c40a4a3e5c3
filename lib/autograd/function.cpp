// User-defined ops (CustomOp) and the finite-difference gradient check.
#include <cmath>

#include <fmt/format.h>

#include "autograd/door.h"
#include "tapeflow/autograd.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/random.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow {

using autograd::apply;
using autograd::Args;
using autograd::DTypes;
using autograd::known_value;
using autograd::with_backward;

CustomOp::CustomOp(std::string name, Forward forward, Backward backward, ShapeFn shape)
    : name_(std::make_shared<const std::string>(std::move(name))), forward_(std::move(forward)),
      backward_(std::move(backward)), shape_(std::move(shape)) {
  if (!forward_ || !backward_) throw ValueError(fmt::format("CustomOp '{}': needs both a forward and a backward", *name_));
}

Tensor CustomOp::operator()(std::vector<Tensor> inputs) const {
  const char* name = name_->c_str();
  // The node (and any tape record) keeps the name alive through `owner`, after this object is gone.
  return apply({name, name, DTypes::Any, "a", nullptr, nullptr, name_}, inputs, {},
               [name = name_, shape = shape_](Args in) {
                 if (shape) return shape(in);
                 for (const Tensor& t : in)
                   if (!known_value(t))
                     throw ValueError(fmt::format("CustomOp '{}': an input is a graph tensor, and without a shape "
                                                  "function the op's output shape is only known when its forward "
                                                  "runs; give the CustomOp a shape function (its fourth argument)",
                                                  *name));
                 return OutputSpec{};  // eager: the forward's output says
               },
               [name = name_, forward = forward_, backward = backward_](Args in, const OutputSpec&) {
                 Tensor out;
                 {
                   NoGradGuard no_grad;
                   out = forward(in);
                 }
                 if (!out.defined())
                   throw ValueError(fmt::format("CustomOp '{}': forward returned an undefined tensor", *name));
                 out = out.detach();  // the op's own record replaces whatever forward did
                 // The inputs themselves (not detached): a backward written in ops is then differentiable
                 // again (create_graph) through them.
                 std::vector<Tensor> saved(in.begin(), in.end());
                 return with_backward(out, [name, backward, saved, y = out.detach()](const Tensor& g) {
                   Grads grads = backward(saved, autograd::saved_output(y), g);
                   if (grads.size() != saved.size())
                     throw AutogradError(fmt::format("CustomOp '{}': backward returned {} gradients for {} inputs",
                                                     *name, grads.size(), saved.size()));
                   for (std::size_t i = 0; i < saved.size(); ++i)
                     if (grads[i].defined() && grads[i].shape() != saved[i].shape())
                       throw AutogradError(fmt::format("CustomOp '{}': backward returned a gradient of shape {} for "
                                                       "input {} of shape {}",
                                                       *name, grads[i].shape().str(), i, saved[i].shape().str()));
                   return grads;
                 });
               });
}

bool gradcheck(const std::function<Tensor(std::span<const Tensor>)>& fn, std::vector<Tensor> inputs,
               GradcheckOptions opt) {
  std::vector<Tensor> wrt;
  std::vector<std::size_t> wrt_index;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    if (inputs[i].dtype() != float64)
      throw DTypeError(fmt::format("gradcheck: input {} is {} {}; finite differences need float64 inputs", i,
                                   dtype_name(inputs[i].dtype()), inputs[i].shape().str()));
    wrt.push_back(inputs[i]);
    wrt_index.push_back(i);
  }
  if (wrt.empty()) throw ValueError("gradcheck: no input requires grad (call requires_grad_() on them)");

  Tensor probe;
  {
    NoGradGuard no_grad;
    probe = fn(inputs);
  }
  Generator gen(1234);
  Tensor weights = random_uniform(probe.shape(), 0.5, 1.5, probe.dtype(), &gen);
  auto objective = [&](std::span<const Tensor> in) { return reduce_sum(fn(in) * weights); };

  Tensor loss = objective(inputs);
  std::vector<Tensor> analytic = autograd::grad(std::span<const Tensor>(&loss, 1), wrt);

  NoGradGuard no_grad;
  for (std::size_t w = 0; w < wrt.size(); ++w) {
    double* p = wrt[w].data<double>();
    std::vector<double> a = analytic[w].to_vector<double>();
    for (std::int64_t k = 0; k < wrt[w].numel(); ++k) {
      const double orig = p[k];
      p[k] = orig + opt.eps;
      const double plus = objective(inputs).item<double>();
      p[k] = orig - opt.eps;
      const double minus = objective(inputs).item<double>();
      p[k] = orig;
      const double numeric = (plus - minus) / (2 * opt.eps);
      const double got = a[static_cast<std::size_t>(k)];
      if (!(std::abs(got - numeric) <= opt.atol + opt.rtol * std::abs(numeric)))
        throw AutogradError(fmt::format("gradcheck: input {} (shape {}), element {}: the tape gives {:.10g}, finite "
                                        "differences give {:.10g} (atol {}, rtol {})",
                                        wrt_index[w], wrt[w].shape().str(), k, got, numeric, opt.atol, opt.rtol));
    }
  }
  return true;
}

bool gradgradcheck(const std::function<Tensor(std::span<const Tensor>)>& fn, std::vector<Tensor> inputs,
                   GradcheckOptions options) {
  std::vector<std::size_t> wrt;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].requires_grad()) wrt.push_back(i);
  if (wrt.empty()) throw ValueError("gradgradcheck: no input requires grad (call requires_grad_() on them)");
  Tensor probe;
  {
    NoGradGuard no_grad;
    probe = fn(inputs);
  }
  // Fixed random weights for fn's output and for each first gradient.
  Generator gen(4321);
  const Tensor out_weights = random_uniform(probe.shape(), 0.5, 1.5, probe.dtype(), &gen);
  std::vector<Tensor> grad_weights;
  for (std::size_t i : wrt) grad_weights.push_back(random_uniform(inputs[i].shape(), 0.5, 1.5, float64, &gen));
  // The weighted first gradient as a function of the inputs: gradcheck compares its gradient (the
  // second derivatives, through the create_graph backward) with its finite differences.
  auto first_gradient = [&](std::span<const Tensor> in) {
    EnableGradGuard recording;  // gradcheck evaluates under NoGradGuard; the first gradient needs a tape
    Tensor y = reduce_sum(fn(in) * out_weights);
    std::vector<Tensor> xs;
    for (std::size_t i : wrt) xs.push_back(in[i]);
    std::vector<Tensor> gs = autograd::grad(std::span<const Tensor>(&y, 1), xs, {.create_graph = true});
    // (+ 0 * x: a first gradient that does not depend on x, e.g. of a linear fn, still has one.)
    Tensor total = reduce_sum(xs[0]) * 0.0;
    for (std::size_t k = 0; k < gs.size(); ++k) total = total + reduce_sum(gs[k] * grad_weights[k]);
    return total;
  };
  try {
    return gradcheck(first_gradient, std::move(inputs), options);
  } catch (const AutogradError& e) {
    throw AutogradError(fmt::format("gradgradcheck (second derivatives): {}", e.what()));
  }
}

}  // namespace tapeflow
