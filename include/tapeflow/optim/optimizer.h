#pragma once
/// The base of the eager optimizers (PyTorch C++ frontend shape, TensorFlow 1.x update rules).
///
///   tapeflow::optim::Adam opt(net.parameters(), {.lr = 1e-3});
///   for (auto& [x, y] : batches) {
///     opt.zero_grad();
///     Tensor loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, net(x)));
///     loss.backward();
///     opt.step();
///   }
///
/// An optimizer holds handles to its parameters (copies of a Tensor share its data, so `step()`
/// updates the caller's tensors in place) and one state per parameter, keyed by the parameter's
/// index in parameters() and created on that parameter's first update.
///
/// Each update rule is also a free function (`adam_update(var, grad, state, options, lr)` ...)
/// that `step()` calls once per parameter; graph mode's optimizers call the same functions.
///
/// Parameter groups (PyTorch's param_groups): every optimizer can also be built from groups of
/// parameters, each with its own learning rate and weight decay; an option a group leaves unset
/// is the options struct's. The usual split for transformers and LSTMs, no weight decay on biases
/// and normalization scales:
///
///   optim::AdamW opt({{.params = weights}, {.params = biases_and_norm_scales, .weight_decay = 0.0}},
///                    {.lr = 3e-4, .weight_decay = 0.1});
///
/// parameters() lists group 0's parameters, then group 1's, and so on; the constructors that take
/// a list make one group of it. set_lr(lr) gives every group that learning rate (it is what a
/// schedule calls); group_lr(g) and set_group_lr(g, lr) read and set one group's. A schedule that
/// keeps groups at different rates scales each group's own base rate:
///
///   const double factor = optim::cosine_decay(1.0, step, 10000);  // the schedule of a rate of 1
///   for (std::size_t g = 0; g < opt.param_groups().size(); ++g) opt.set_group_lr(g, base_lr[g] * factor);
///
/// State dicts: `state_dict()` returns everything the next steps depend on besides the
/// parameters and the constructor's options, as named tensors that io::save writes next to the
/// model's, so that training resumes exactly (bit for bit) where it stopped:
///
///   io::save(dir + "/model.safetensors", net.state_dict());
///   io::save(dir + "/optimizer.safetensors", opt.state_dict());
///   ...  // later, maybe in another process: the same model and optimizer, built afresh, then
///   net.load_state_dict(io::load(dir + "/model.safetensors"));
///   opt.load_state_dict(io::load(dir + "/optimizer.safetensors"));
///
/// The entries, named with '/' as a model's:
///
///   "optimizer"         uint8 [n]    the optimizer's name() in ASCII ("Adam"; in Python,
///                                    bytes(d["optimizer"]).decode())
///   "num_parameters"    int64 []     the number of parameters
///   "groups"            int64 [p]    the group of each parameter, p = num_parameters (all 0 for
///                                    an optimizer of one group)
///   "lr"                float64 [g]  each group's learning rate, g = the number of groups, as the
///                                    last set_lr() / set_group_lr() (a schedule) left it
///   "state/<i>/<slot>"  the slots of parameter i (its index in parameters()), each of the
///                       parameter's shape and dtype: Adam and AdamW "m" and "v"; Momentum
///                       "accum"; RMSProp "ms", "mom" and, when centered, "mg"; Adagrad "accum"
///   "state/<i>/step"    int64 []     Adam's and AdamW's count of the updates of parameter i
///
/// A parameter without state (never updated, e.g. it never had a gradient) has no "state/<i>/"
/// entries; GradientDescent keeps no state at all. The constructor's options (betas, momentum,
/// ..., the groups' weight decays) are not in the dict: build the optimizer that loads it with
/// the same options, over the same parameters in the same groups and order.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow::optim {

/// (name, tensor) pairs: the type of nn::Module::state_dict() and of io::save / io::load.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// A group of parameters with its own hyper-parameters (PyTorch's param_groups); an option left
/// unset is the optimizer's (its options struct's). A group has at least one parameter, and a
/// tensor is in one group only.
struct ParamGroup {
  std::vector<Tensor> params = {};
  /// >= 0 and finite.
  std::optional<double> lr = std::nullopt;
  /// >= 0; the optimizer's kind of decay (AdamW's decoupled decay, the L2 term of the others).
  std::optional<double> weight_decay = std::nullopt;
};

/// What an optimizer keeps per parameter (moments, accumulators, step count).
struct OptimizerState {
  virtual ~OptimizerState() = default;
};

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Clears every parameter's gradient (sets it undefined, like PyTorch's set_to_none): the next
  /// backward() writes fresh gradients, and step() skips parameters that get none.
  virtual void zero_grad();
  /// Applies one update to every parameter whose gradient is defined, in place, with recording
  /// off, with the options of the parameter's group. Throws ShapeError / DTypeError when a
  /// gradient's shape / dtype differs from its parameter's.
  virtual void step();

  /// The learning rate the next step() uses for the first group: the optimizer's (initially the
  /// options' lr) when the groups share one.
  virtual double lr() const { return groups_.front().lr; }
  /// Gives every group the learning rate `lr` (e.g. from a schedule), those built with their own
  /// too; throws ValueError when lr is negative or not finite.
  virtual void set_lr(double lr);

  /// A parameter group as the optimizer holds it, its options resolved.
  struct Group {
    /// Its parameters, as indices into parameters() (consecutive, in the group's order).
    std::vector<std::size_t> indices;
    double lr;
    double weight_decay;
  };
  /// The groups, in the order given to the constructor (one for the list constructors).
  virtual const std::vector<Group>& param_groups() const { return groups_; }
  /// Group `group`'s learning rate; ValueError when there is no such group.
  virtual double group_lr(std::size_t group) const;
  /// Sets group `group`'s learning rate (until the next set_lr); ValueError when there is no such
  /// group or lr is negative or not finite.
  virtual void set_group_lr(std::size_t group, double lr);

  /// The state as named tensors (entries: see the top of this header). The tensors are copies:
  /// training on does not change them.
  virtual NamedTensors state_dict() const;
  /// Replaces the whole state (every parameter's, and the groups' learning rates) with copies of
  /// the tensors of `state`, a state_dict() of an optimizer of this type over the same parameters
  /// in the same groups. Everything is checked before anything changes, so a load that throws
  /// leaves the optimizer as it was: ValueError when the dict is of another optimizer type,
  /// another number of parameters or other groups, or has missing or unexpected entries (listed);
  /// DTypeError / ShapeError naming an entry whose dtype / shape is not the expected one.
  /// Parameters without entries get no state (as before their first update).
  virtual void load_state_dict(const NamedTensors& state);

  /// The parameters, in the order given to the constructor (group after group).
  const std::vector<Tensor>& parameters() const { return params_; }
  /// "Adam", "Momentum", ... (the name in messages).
  const std::string& name() const { return name_; }

  /// The state of parameter `index` as the optimizer's state type (AdamState, ...), or nullptr
  /// before that parameter's first update. Throws ValueError when index is out of range.
  template <class S>
  const S* state(std::size_t index) const {
    return dynamic_cast<const S*>(state_at(index));
  }

 protected:
  /// Checks the groups (at least one; each a non-empty list of defined, floating-point leaves; no
  /// tensor twice, in one group or in two) and their options, the unset ones being `lr` and
  /// `weight_decay`, which are checked too. `name` prefixes every message.
  Optimizer(std::vector<ParamGroup> groups, std::string name, double lr, double weight_decay);
  /// One group of `params`, with learning rate `lr` and weight decay 0 (for an optimizer without
  /// weight decay, or a wrapper such as distributed::DistributedOptimizer).
  Optimizer(std::vector<Tensor> params, std::string name, double lr);

  /// `options` (the optimizer's options struct: AdamOptions, ...) with the lr and weight_decay of
  /// parameter `index`'s group: what update() hands to the update function.
  template <class Options>
  Options group_options(std::size_t index, Options options) const {
    const Group& group = groups_[group_of_[index]];
    options.lr = group.lr;
    options.weight_decay = group.weight_decay;
    return options;
  }

  /// Updates parameter `index` from its (defined, checked) gradient, with the options of its
  /// group (group_options).
  virtual void update(std::size_t index, Tensor& param, const Tensor& grad) = 0;

  /// The state of parameter `index`, created (default-constructed) on first use.
  template <class S>
  S& mutable_state(std::size_t index) {
    auto& slot = states_[index];
    if (!slot) slot = std::make_unique<S>();
    return static_cast<S&>(*slot);
  }

  /// The state of parameter `index`, or nullptr before its first update; ValueError when index is
  /// out of range. (A wrapper such as distributed::DistributedOptimizer returns its inner
  /// optimizer's.)
  virtual const OptimizerState* state_at(std::size_t index) const;

  /// One part of a parameter's state as state_dict() names it, "state/<index>/<name>": a slot
  /// (a tensor of the parameter's shape and dtype) or a count (an int64 scalar in the dict).
  struct StateField {
    const char* name;
    Tensor* slot = nullptr;
    std::int64_t* count = nullptr;
  };
  /// The fields of `state`, one of this optimizer's states, that state_dict() saves and
  /// load_state_dict() requires of a parameter with state (all of them, or none). Default: none.
  virtual std::vector<StateField> state_fields(OptimizerState& state) const;
  /// A default-constructed state of this optimizer's state type, which load_state_dict() fills
  /// through state_fields(). Default: nullptr (no per-parameter state).
  virtual std::unique_ptr<OptimizerState> new_state() const;

 private:
  /// ValueError unless `group` is a group's index.
  void check_group(std::size_t group) const;

  std::vector<Tensor> params_;
  std::vector<std::unique_ptr<OptimizerState>> states_;
  std::vector<Group> groups_;
  std::vector<std::size_t> group_of_;  // the group of each parameter
  std::string name_;
};

}  // namespace tapeflow::optim
