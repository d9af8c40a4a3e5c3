// Parameter groups (PyTorch's param_groups) of every eager optimizer: each group trains with its
// own lr and weight_decay exactly as a separate optimizer would; set_lr and the per-group
// learning rates; the groups in state dicts; and every error, with its message.
#include <memory>

#include "optim/optim_fixture.h"

using namespace tapeflow;
namespace optim = tapeflow::optim;

namespace {

using tft::bitwise_equal;
using tft::entry;
using tft::names_of;
using tft::with;

Tensor param(const std::vector<double>& values) { return tft::leaf(values, float64); }

/// Three steps with loss sum(p^2 * c) for every parameter (c differs per step, so that the
/// moments see several gradients).
void train_steps(optim::Optimizer& opt, int steps = 3) {
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    for (const Tensor& p : opt.parameters()) reduce_sum(square(p) * (1.0 + 0.5 * s)).backward();
    opt.step();
  }
}

/// Groups {a, b} (the options' lr and weight_decay) and {c} (its own lr 0.02 and weight_decay
/// 0.3) must train a, b, c bit for bit as two optimizers do: one over {a, b} with the options, one
/// over {c} with the options changed to c's group's.
template <class Opt, class Options>
void check_groups_train_as_separate_optimizers(Options options) {
  const std::vector<double> va = {1.0, -2.0}, vb = {0.5}, vc = {-1.5, 0.25, 3.0};
  Tensor a = param(va), b = param(vb), c = param(vc);
  Opt grouped({{.params = {a, b}}, {.params = {c}, .lr = 0.02, .weight_decay = 0.3}}, options);
  BOOST_REQUIRE_EQUAL(grouped.param_groups().size(), 2u);
  train_steps(grouped);

  Tensor a2 = param(va), b2 = param(vb), c2 = param(vc);
  Opt first(std::vector<Tensor>{a2, b2}, options);
  Options c_options = options;
  c_options.lr = 0.02;
  c_options.weight_decay = 0.3;
  Opt second(std::vector<Tensor>{c2}, c_options);
  train_steps(first);
  train_steps(second);
  BOOST_TEST(bitwise_equal(a, a2));
  BOOST_TEST(bitwise_equal(b, b2));
  BOOST_TEST(bitwise_equal(c, c2));
  // ... and the group's options matter (the test can fail): c with the options' values ends elsewhere.
  Tensor c3 = param(vc);
  Opt same(std::vector<Tensor>{c3}, options);
  train_steps(same);
  BOOST_TEST(!bitwise_equal(c, c3));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(param_groups)

// ---------------------------------------------------------------------- every optimizer

BOOST_AUTO_TEST_CASE(every_optimizer_trains_each_group_with_its_options) {
  check_groups_train_as_separate_optimizers<optim::GradientDescent>(
      optim::GradientDescentOptions{.lr = 0.1, .weight_decay = 0.01});
  check_groups_train_as_separate_optimizers<optim::Momentum>(optim::MomentumOptions{.lr = 0.05, .momentum = 0.9});
  check_groups_train_as_separate_optimizers<optim::Momentum>(
      optim::MomentumOptions{.lr = 0.05, .momentum = 0.5, .nesterov = true});
  check_groups_train_as_separate_optimizers<optim::Adam>(optim::AdamOptions{.lr = 0.01});
  check_groups_train_as_separate_optimizers<optim::AdamW>(optim::AdamWOptions{.lr = 0.01});
  check_groups_train_as_separate_optimizers<optim::RMSProp>(
      optim::RMSPropOptions{.lr = 0.01, .momentum = 0.5, .centered = true});
  check_groups_train_as_separate_optimizers<optim::Adagrad>(optim::AdagradOptions{.lr = 0.1});
}

BOOST_AUTO_TEST_CASE(groups_resolve_unset_options_and_index_the_parameters) {
  Tensor a = param({1.0}), b = param({2.0}), c = param({3.0}), d = param({4.0});
  optim::AdamW opt({{.params = {a, b}}, {.params = {c}, .weight_decay = 0.0}, {.params = {d}, .lr = 0.5}},
                   {.lr = 0.01, .weight_decay = 0.1});
  const auto& groups = opt.param_groups();
  BOOST_REQUIRE_EQUAL(groups.size(), 3u);
  BOOST_TEST(groups[0].indices == (std::vector<std::size_t>{0, 1}), boost::test_tools::per_element());
  BOOST_TEST(groups[1].indices == (std::vector<std::size_t>{2}), boost::test_tools::per_element());
  BOOST_TEST(groups[2].indices == (std::vector<std::size_t>{3}), boost::test_tools::per_element());
  BOOST_TEST(groups[0].lr == 0.01);
  BOOST_TEST(groups[0].weight_decay == 0.1);
  BOOST_TEST(groups[1].lr == 0.01);
  BOOST_TEST(groups[1].weight_decay == 0.0);
  BOOST_TEST(groups[2].lr == 0.5);
  BOOST_TEST(groups[2].weight_decay == 0.1);
  // parameters() is the groups' parameters, group after group.
  BOOST_REQUIRE_EQUAL(opt.parameters().size(), 4u);
  BOOST_TEST(opt.parameters()[2].is_same(c));
  BOOST_TEST(opt.parameters()[3].is_same(d));
  // The list constructor makes one group of the options' values.
  optim::Momentum one({a, b, c}, {.lr = 0.3, .weight_decay = 0.2});
  BOOST_REQUIRE_EQUAL(one.param_groups().size(), 1u);
  BOOST_TEST(one.param_groups()[0].indices == (std::vector<std::size_t>{0, 1, 2}), boost::test_tools::per_element());
  BOOST_TEST(one.param_groups()[0].lr == 0.3);
  BOOST_TEST(one.param_groups()[0].weight_decay == 0.2);
}

BOOST_AUTO_TEST_CASE(no_decay_on_biases_and_norm_scales) {
  // The transformer split: a zero gradient isolates the decay. The weight shrinks by
  // lr * weight_decay, the bias and the scale keep their values.
  Tensor weight = param({2.0, -4.0}), bias = param({1.0}), scale = param({1.0, 1.0});
  optim::AdamW opt({{.params = {weight}}, {.params = {bias, scale}, .weight_decay = 0.0}},
                   {.lr = 0.1, .weight_decay = 0.5});
  for (Tensor* p : {&weight, &bias, &scale}) p->set_grad(zeros(p->shape(), float64));
  opt.step();
  tft::check_close(weight, {2.0 * 0.95, -4.0 * 0.95}, 1e-15, 1e-15);
  tft::check_close(bias, {1.0}, 0.0, 0.0);
  tft::check_close(scale, {1.0, 1.0}, 0.0, 0.0);
}

// ------------------------------------------------------------------------------ learning rates

BOOST_AUTO_TEST_CASE(set_lr_sets_every_group_and_group_lr_one) {
  Tensor a = param({1.0}), b = param({1.0});
  optim::GradientDescent opt({{.params = {a}}, {.params = {b}, .lr = 0.01}}, {.lr = 0.1});
  BOOST_TEST(opt.lr() == 0.1);  // the first group's
  BOOST_TEST(opt.group_lr(0) == 0.1);
  BOOST_TEST(opt.group_lr(1) == 0.01);
  a.set_grad(ones({1}, float64));
  b.set_grad(ones({1}, float64));
  opt.step();
  tft::check_close(a, {0.9}, 1e-15, 1e-15);
  tft::check_close(b, {0.99}, 1e-15, 1e-15);

  opt.set_group_lr(1, 0.5);
  BOOST_TEST(opt.group_lr(1) == 0.5);
  BOOST_TEST(opt.param_groups()[1].lr == 0.5);
  BOOST_TEST(opt.lr() == 0.1);
  opt.step();
  tft::check_close(a, {0.8}, 1e-15, 1e-15);
  tft::check_close(b, {0.49}, 1e-15, 1e-15);

  opt.set_lr(0.25);  // every group, those with their own rate too
  BOOST_TEST(opt.group_lr(0) == 0.25);
  BOOST_TEST(opt.group_lr(1) == 0.25);
  opt.step();
  tft::check_close(a, {0.55}, 1e-15, 1e-15);
  tft::check_close(b, {0.24}, 1e-15, 1e-15);
}

BOOST_AUTO_TEST_CASE(a_schedule_for_groups_at_different_rates) {
  // optimizer.h's recipe: the schedule of a rate of 1 scales each group's base rate.
  Tensor a = param({1.0}), b = param({1.0});
  const std::vector<double> base = {0.1, 0.01};
  optim::SGD opt({{.params = {a}, .lr = base[0]}, {.params = {b}, .lr = base[1]}});
  for (std::int64_t step = 0; step < 3; ++step) {
    const double factor = optim::exponential_decay(1.0, step, 1, 0.5);  // 1, 0.5, 0.25
    for (std::size_t g = 0; g < opt.param_groups().size(); ++g) opt.set_group_lr(g, base[g] * factor);
    a.set_grad(ones({1}, float64));
    b.set_grad(ones({1}, float64));
    opt.step();
  }
  tft::check_close(a, {1.0 - 0.1 * 1.75}, 1e-15, 1e-14);
  tft::check_close(b, {1.0 - 0.01 * 1.75}, 1e-15, 1e-14);
}

BOOST_AUTO_TEST_CASE(learning_rate_errors) {
  Tensor a = param({1.0}), b = param({1.0});
  optim::Adam opt({{.params = {a}}, {.params = {b}, .lr = 0.01}});
  TF_CHECK_THROWS_WITH(opt.group_lr(2), ValueError, "Adam: no parameter group 2: the optimizer has 2 groups");
  TF_CHECK_THROWS_WITH(opt.set_group_lr(5, 0.1), ValueError, "Adam: no parameter group 5: the optimizer has 2 groups");
  TF_CHECK_THROWS_WITH(opt.set_group_lr(1, -0.1), ValueError,
                       "Adam: parameter group 1: invalid learning rate: -0.1 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(opt.set_lr(std::nan("")), ValueError, "Adam: invalid learning rate: nan");
  BOOST_TEST(opt.group_lr(0) == 0.001);  // unchanged by the failures
  BOOST_TEST(opt.group_lr(1) == 0.01);
  optim::Adam one({a});
  TF_CHECK_THROWS_WITH(one.group_lr(1), ValueError, "Adam: no parameter group 1: the optimizer has 1 group");
}

// ---------------------------------------------------------------------------- construction errors

BOOST_AUTO_TEST_CASE(invalid_groups_are_rejected) {
  Tensor a = param({1.0}), b = param({2.0}), c = param({3.0});
  using Groups = std::vector<optim::ParamGroup>;
  TF_CHECK_THROWS_WITH(optim::Adam(Groups{}), ValueError,
                       "Adam: got no parameter groups; pass at least one, e.g. {{.params = net.parameters()}}");
  TF_CHECK_THROWS_WITH(optim::Adam(Groups{{.params = {a}}, {.params = {}}}), ValueError,
                       "Adam: parameter group 1 is empty; a group needs at least one parameter: give it its "
                       "parameters or drop it");
  // One empty group is the empty list of the list constructor.
  TF_CHECK_THROWS_WITH(optim::SGD(Groups{{.params = {}}}), ValueError,
                       "GradientDescent: got an empty parameter list; pass the tensors to train, e.g. "
                       "net.parameters()");
  TF_CHECK_THROWS_WITH(optim::AdamW(Groups{{.params = {a, b}}, {.params = {c, a}}}), ValueError,
                       "AdamW: parameter group 1: parameter 3 is already in parameter group 0 (as parameter 0); a "
                       "tensor belongs to one group: pass each tensor once");
  Tensor alias = b;  // the same tensor
  TF_CHECK_THROWS_WITH(optim::Momentum(Groups{{.params = {a}}, {.params = {b, c, alias}}}), ValueError,
                       "Momentum: parameter group 1: parameter 3 is the same tensor as parameter 1; pass each tensor "
                       "once");
  TF_CHECK_THROWS_WITH(optim::RMSProp(Groups{{.params = {a}}, {.params = {b}, .lr = -1.0}}), ValueError,
                       "RMSProp: parameter group 1: invalid learning rate: -1 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(optim::Adagrad(Groups{{.params = {a}, .weight_decay = -0.5}, {.params = {b}}}), ValueError,
                       "Adagrad: parameter group 0: invalid weight_decay: -0.5 (must be >= 0)");
  TF_CHECK_THROWS_WITH(optim::Adam(Groups{{.params = {a}}, {.params = {b * 2.0}}}), ValueError,
                       "Adam: parameter group 1: parameter 1 (float64 [1]) is not a leaf", "detach()");
  TF_CHECK_THROWS_WITH(optim::Adam(Groups{{.params = {a}}, {.params = {b, Tensor()}}}), ValueError,
                       "Adam: parameter group 1: parameter 2 is an undefined tensor");
  // The options are checked too, before the groups.
  TF_CHECK_THROWS_WITH(optim::AdamW(Groups{{.params = {a}, .weight_decay = 0.0}}, {.weight_decay = -1.0}),
                       ValueError, "AdamW: invalid weight_decay: -1 (must be >= 0)");
  // A single group names no group, as the list constructor's messages.
  TF_CHECK_THROWS_WITH(optim::Adam(Groups{{.params = {a, a}}}), ValueError,
                       "Adam: parameter 1 is the same tensor as parameter 0; pass each tensor once");
}

// ------------------------------------------------------------------------------ state dicts

BOOST_AUTO_TEST_CASE(state_dicts_keep_the_groups_and_their_learning_rates) {
  auto make = [](std::vector<Tensor> p) {
    return std::make_unique<optim::AdamW>(
        std::vector<optim::ParamGroup>{{.params = {p[0], p[2]}}, {.params = {p[1]}, .lr = 0.05, .weight_decay = 0.0}},
        optim::AdamWOptions{.lr = 0.01});
  };
  std::vector<Tensor> p = {param({1.0, 2.0}), param({0.5}), param({-1.0})};
  auto opt = make(p);
  train_steps(*opt);
  opt->set_group_lr(0, 0.003);
  const optim::NamedTensors dict = opt->state_dict();
  BOOST_TEST(names_of(dict) == (std::vector<std::string>{"optimizer", "num_parameters", "groups", "lr", "state/0/m",
                                                          "state/0/v", "state/0/step", "state/1/m", "state/1/v",
                                                          "state/1/step", "state/2/m", "state/2/v", "state/2/step"}),
             boost::test_tools::per_element());
  // Parameters in group order: p[0], p[2] (group 0), then p[1] (group 1).
  BOOST_TEST(entry(dict, "groups").to_vector<std::int64_t>() == (std::vector<std::int64_t>{0, 0, 1}),
             boost::test_tools::per_element());
  BOOST_TEST(entry(dict, "lr").to_vector<double>() == (std::vector<double>{0.003, 0.05}),
             boost::test_tools::per_element());
  BOOST_TEST(bitwise_equal(entry(dict, "state/2/v"), opt->state<optim::AdamWState>(2)->v));

  // Training resumes bit for bit, each group at its own rate.
  std::vector<Tensor> q = {param({1.0, 2.0}), param({0.5}), param({-1.0})};
  auto resumed = make(q);
  for (std::size_t i = 0; i < p.size(); ++i) copy_(q[i], p[i]);
  resumed->load_state_dict(dict);
  BOOST_TEST(resumed->group_lr(0) == 0.003);
  BOOST_TEST(resumed->group_lr(1) == 0.05);
  train_steps(*opt);
  train_steps(*resumed);
  for (std::size_t i = 0; i < p.size(); ++i) BOOST_TEST(bitwise_equal(p[i], q[i]), "parameter " << i);
}

BOOST_AUTO_TEST_CASE(loading_into_other_groups_fails) {
  Tensor a = param({1.0}), b = param({2.0}), c = param({3.0});
  optim::Adam two({{.params = {a, b}}, {.params = {c}, .lr = 0.1}});
  train_steps(two);
  const optim::NamedTensors dict = two.state_dict();

  // The same parameters split otherwise.
  optim::Adam other({{.params = {param({1.0})}}, {.params = {param({2.0}), param({3.0})}, .lr = 0.1}});
  TF_CHECK_THROWS_WITH(other.load_state_dict(dict), ValueError,
                       "Adam.load_state_dict: the state dict has other parameter groups (entry 'groups'): parameter "
                       "1 is in group 0 there, in group 1 here; build the optimizer with the same groups of the same "
                       "parameters, in the same order");
  // One group.
  optim::Adam one({param({1.0}), param({2.0}), param({3.0})});
  TF_CHECK_THROWS_WITH(one.load_state_dict(dict), ValueError,
                       "the state dict has other parameter groups (entry 'groups'): parameter 2 is in group 1 there, "
                       "in group 0 here");
  TF_CHECK_THROWS_WITH(two.load_state_dict(with(dict, "lr", from_vector(std::vector<double>{0.1}))), ShapeError,
                       "Adam.load_state_dict: entry 'lr' is float64 [1], expected one per parameter group, float64 [2]");
  TF_CHECK_THROWS_WITH(two.load_state_dict(with(dict, "lr", from_vector(std::vector<double>{0.1, -2.0}))), ValueError,
                       "Adam.load_state_dict: entry 'lr', group 1: invalid learning rate: -2 (must be a finite number "
                       ">= 0)");
  TF_CHECK_THROWS_WITH(two.load_state_dict(with(dict, "groups", from_vector(std::vector<double>{0, 0, 1}))),
                       DTypeError, "Adam.load_state_dict: entry 'groups' is float64 [3], expected int64 [3]");
  TF_CHECK_THROWS_WITH(two.load_state_dict(with(dict, "groups", from_vector(std::vector<std::int64_t>{0, 1}))),
                       ShapeError,
                       "Adam.load_state_dict: entry 'groups' is int64 [2], expected one per parameter, int64 [3]");
  BOOST_TEST(two.group_lr(1) == 0.1);  // the failed loads changed nothing
}

BOOST_AUTO_TEST_SUITE_END()
