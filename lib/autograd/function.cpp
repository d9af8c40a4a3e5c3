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

void CustomOpContext::save_for_backward(std::vector<Tensor> tensors) {
  if (forward_done_)
    throw AutogradError("save_for_backward: call it in the forward of the CustomOp; the backward reads what the "
                        "forward saved with saved_tensors()");
  to_save_.insert(to_save_.end(), std::make_move_iterator(tensors.begin()), std::make_move_iterator(tensors.end()));
}

std::vector<Tensor> CustomOpContext::saved_tensors() const {
  std::vector<Tensor> out;
  out.reserve(saved_.size());
  for (std::size_t i = 0; i < saved_.size(); ++i)
    out.push_back(output_index_[i] >= 0 ? autograd::saved_output(saved_[i], static_cast<std::size_t>(output_index_[i]))
                                        : *saved_[i]);
  return out;
}

bool CustomOpContext::needs_input_grad(std::size_t i) const {
  if (i >= needs_input_grad_.size())
    throw ValueError(fmt::format("needs_input_grad({}): the op has {} inputs", i, needs_input_grad_.size()));
  return needs_input_grad_[i];
}

CustomOp::CustomOp(std::string name, Forward forward, Backward backward, ShapeFn shape)
    : name_(std::make_shared<const std::string>(std::move(name))), forward_(std::move(forward)),
      backward_(std::move(backward)), shape_(std::move(shape)) {
  if (!forward_ || !backward_) throw ValueError(fmt::format("CustomOp '{}': needs both a forward and a backward", *name_));
}

// The one-output shorthand, as a forward that saves the inputs and the output and a backward that
// hands them over.
CustomOp::CustomOp(std::string name, OneForward forward, OneBackward backward, OneShapeFn shape)
    : CustomOp(std::move(name),
               forward ? Forward([forward](CustomOpContext& ctx, std::span<const Tensor> in) {
                 Tensor y = forward(in);
                 std::vector<Tensor> keep(in.begin(), in.end());
                 keep.push_back(y);
                 ctx.save_for_backward(std::move(keep));
                 return std::vector<Tensor>{y};
               })
                       : Forward(),
               backward ? Backward([backward](CustomOpContext& ctx, std::span<const Tensor> g) {
                 std::vector<Tensor> saved = ctx.saved_tensors();
                 const Tensor y = saved.back();
                 saved.pop_back();
                 return backward(saved, y, g[0]);
               })
                        : Backward(),
               shape ? ShapeFn([shape](std::span<const Tensor> in) { return std::vector<OutputSpec>{shape(in)}; })
                     : ShapeFn()) {}

Tensor CustomOp::operator()(std::vector<Tensor> inputs) const {
  std::vector<Tensor> out = apply(std::move(inputs));
  if (out.size() != 1)
    throw ValueError(fmt::format("CustomOp '{}' has {} outputs; call apply() to get them all", *name_, out.size()));
  return std::move(out[0]);
}

std::vector<Tensor> CustomOp::apply(std::vector<Tensor> inputs) const {
  const char* name = name_->c_str();
  // The node (and any tape record) keeps the name alive through `owner`, after this object is gone.
  return autograd::apply(
      {name, name, DTypes::Any, "a", nullptr, nullptr, name_}, inputs, {},
      [name = name_, shape = shape_](Args in) {
        if (shape) return shape(in);
        for (const Tensor& t : in)
          if (!known_value(t))
            throw ValueError(fmt::format("CustomOp '{}': an input is a graph tensor, and without a shape function "
                                         "the op's output shapes are only known when its forward runs; give the "
                                         "CustomOp a shape function (its fourth argument)",
                                         *name));
        return std::vector<OutputSpec>{};  // eager: the forward's outputs say
      },
      [name = name_, forward = forward_, backward = backward_](Args in, const std::vector<OutputSpec>&) {
        auto ctx = std::make_shared<CustomOpContext>();
        for (const Tensor& t : in) ctx->needs_input_grad_.push_back(t.defined() && t.requires_grad());
        std::vector<Tensor> outs;
        {
          NoGradGuard no_grad;
          outs = forward(*ctx, in);
        }
        if (outs.empty()) throw ValueError(fmt::format("CustomOp '{}': forward returned no outputs", *name));
        for (std::size_t i = 0; i < outs.size(); ++i)
          if (!outs[i].defined())
            throw ValueError(fmt::format("CustomOp '{}': forward returned an undefined tensor as output {}", *name, i));
        // What the forward saved: an output is kept detached (its record would own itself) and
        // connected again when read; an input or anything else as it is.
        ctx->forward_done_ = true;
        for (Tensor& t : ctx->to_save_) {
          int index = -1;
          for (std::size_t i = 0; i < outs.size() && index < 0; ++i)
            if (t.defined() && t.is_same(outs[i])) index = static_cast<int>(i);
          ctx->saved_.push_back(index >= 0 ? autograd::save_output(t) : autograd::save(t));
          ctx->output_index_.push_back(index);
        }
        ctx->to_save_.clear();
        std::vector<OutputSpec> out_specs;
        for (Tensor& t : outs) {
          t = t.detach();  // the op's own record replaces whatever forward did
          out_specs.push_back({t.shape(), t.dtype()});
        }
        std::vector<Shape> in_shapes;
        for (const Tensor& t : in) in_shapes.push_back(t.defined() ? t.shape() : Shape{});
        return with_backward(std::move(outs), [name, backward, ctx, out_specs, in_shapes](std::span<const Tensor> g) {
          // An output no gradient reached gets zeros, so that the backward need not test for it.
          std::vector<Tensor> grads(g.begin(), g.end());
          for (std::size_t i = 0; i < grads.size(); ++i)
            if (!grads[i].defined()) grads[i] = zeros(out_specs[i].shape, out_specs[i].dtype);
          Grads result = backward(*ctx, grads);
          if (result.size() != in_shapes.size())
            throw AutogradError(fmt::format("CustomOp '{}': backward returned {} gradients for {} inputs", *name,
                                            result.size(), in_shapes.size()));
          for (std::size_t i = 0; i < result.size(); ++i)
            if (result[i].defined() && result[i].shape() != in_shapes[i])
              throw AutogradError(fmt::format("CustomOp '{}': backward returned a gradient of shape {} for input {} "
                                              "of shape {}",
                                              *name, result[i].shape().str(), i, in_shapes[i].str()));
          return result;
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
