// tapeflow::distributed in a single process (no mpirun): the API works as a job of one process,
// DataSet sharding, the graph ops, and the error paths that need no second rank. The tests that
// need two processes are the mpi_* suites (run under mpirun by CTest).
//
// The first tests run before distributed::init(); the last one starts MPI (a singleton job).
#include <cstdlib>
#include <optional>
#include <set>

#include "helpers.h"
#include "tapeflow/data/mnist.h"
#include "tapeflow/distributed.h"
#include "tapeflow/graph.h"
#include "tapeflow/optim.h"

using namespace tapeflow;
namespace dist = tapeflow::distributed;

namespace {

// Sets an environment variable for the scope, restoring the previous value.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> previous;
  ScopedEnv(std::string n, const char* value) : name(std::move(n)) {
    if (const char* old = std::getenv(name.c_str())) previous = old;
    ::setenv(name.c_str(), value, 1);
  }
  ~ScopedEnv() {
    if (previous)
      ::setenv(name.c_str(), previous->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

// Example i has image [i] and label i.
data::DataSet numbered(std::int64_t n, std::uint64_t seed = 17) {
  std::vector<float> images(static_cast<std::size_t>(n));
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    images[static_cast<std::size_t>(i)] = static_cast<float>(i);
    labels[static_cast<std::size_t>(i)] = i;
  }
  return data::DataSet(from_vector(images, {n, 1}), from_vector(labels, {n}), seed);
}

std::vector<std::int64_t> labels_of(const data::Batch& b) { return b.labels.to_vector<std::int64_t>(); }

// A tiny regression: loss = mean((x·w + b - y)^2), with leaves w [3,2], b [2].
struct Regression {
  Tensor x = tft::rand64({6, 3}, -1, 1, 1).detach().to(float32);
  Tensor y = tft::rand64({6, 2}, -1, 1, 2).detach().to(float32);
  Tensor w = tft::rand64({3, 2}, -1, 1, 3).detach().to(float32).requires_grad_();
  Tensor b = tft::rand64({2}, -1, 1, 4).detach().to(float32).requires_grad_();
  Tensor unused = zeros({4}).requires_grad_();  // never gets a gradient
  Tensor loss() const { return reduce_mean(square(matmul(x, w) + b - y)); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(distributed)

BOOST_AUTO_TEST_CASE(one_process_before_init) {
  BOOST_REQUIRE(!dist::initialized());
  BOOST_TEST(dist::rank() == 0);
  BOOST_TEST(dist::size() == 1);
  BOOST_TEST(dist::is_root());
  BOOST_TEST(dist::local_rank() == 0);
  BOOST_TEST(dist::local_size() == 1);
  BOOST_TEST(std::string(dist::reduce_op_name(dist::ReduceOp::average)) == "average");
}

BOOST_AUTO_TEST_CASE(collectives_of_one_process_copy_their_input) {
  const std::int64_t calls = dist::allreduce_calls();
  Tensor a = tensor({{1, -2, 3}, {4, 5, -6}});
  std::vector<double> values = a.to_vector<double>();
  for (auto op : {dist::ReduceOp::average, dist::ReduceOp::sum, dist::ReduceOp::min, dist::ReduceOp::max}) {
    Tensor r = dist::allreduce(a, op);
    BOOST_TEST(!r.is_same(a));
    BOOST_TEST(r.shape().str() == "[2,3]");
    BOOST_TEST(r.to_vector<double>() == values, boost::test_tools::per_element());
  }
  Tensor counts = tensor({3, 4}, int64);
  BOOST_TEST(dist::allreduce(counts, dist::ReduceOp::sum).to_vector<std::int64_t>() ==
                 std::vector<std::int64_t>({3, 4}),
             boost::test_tools::per_element());
  auto grouped = dist::grouped_allreduce({a, tensor({2.5}, float64), counts}, dist::ReduceOp::sum);
  BOOST_REQUIRE(grouped.size() == 3u);
  BOOST_TEST(grouped[1].dtype() == float64);
  BOOST_TEST(grouped[1].item() == 2.5);
  BOOST_TEST(grouped[2].dtype() == int64);
  // The result of an allreduce is a constant for autograd.
  Tensor w = tensor({1.0, 2.0}).requires_grad_();
  BOOST_TEST(!dist::allreduce(w).requires_grad());

  Tensor before = a.clone();
  dist::broadcast({a});
  BOOST_TEST(a.to_vector<double>() == before.to_vector<double>(), boost::test_tools::per_element());
  dist::broadcast(std::vector<std::pair<std::string, Tensor>>{{"a", a}});
  dist::barrier();
  BOOST_TEST(dist::allreduce_calls() == calls);  // one process: no MPI call at all
}

BOOST_AUTO_TEST_CASE(collectives_before_init_in_a_process_started_by_mpirun_are_an_error) {
  BOOST_REQUIRE(!dist::initialized());
  ScopedEnv env("OMPI_COMM_WORLD_SIZE", "2");
  const char* hint = "call distributed::init(argc, argv) at the start of main";
  TF_CHECK_THROWS_WITH(dist::allreduce(scalar(1.0)), ValueError, "distributed::allreduce",
                       "one of 2 started by mpirun", hint);
  TF_CHECK_THROWS_WITH(dist::broadcast({scalar(1.0)}), ValueError, "distributed::broadcast", hint);
  TF_CHECK_THROWS_WITH(dist::barrier(), ValueError, "distributed::barrier", hint);
  Regression r;
  dist::DistributedOptimizer opt(std::make_unique<optim::SGD>(std::vector<Tensor>{r.w, r.b}));
  r.loss().backward();
  TF_CHECK_THROWS_WITH(opt.step(), ValueError, "DistributedOptimizer(GradientDescent)", hint);
}

BOOST_AUTO_TEST_CASE(bad_arguments) {
  TF_CHECK_THROWS_WITH(dist::broadcast({scalar(1.0)}, 1), ValueError, "distributed::broadcast",
                       "root 1 is out of range: the job has 1 process (ranks 0 to 0)");
  TF_CHECK_THROWS_WITH(dist::broadcast({scalar(1.0)}, -1), ValueError, "root -1 is out of range");
  TF_CHECK_THROWS_WITH(dist::broadcast({scalar(1.0), Tensor()}), ValueError, "distributed::broadcast",
                       "tensor 1 is undefined");
  TF_CHECK_THROWS_WITH(dist::allreduce(Tensor()), ValueError, "distributed::allreduce", "undefined");
  TF_CHECK_THROWS_WITH(dist::allreduce(tensor({1, 2}, int64)), DTypeError, "distributed::allreduce",
                       "cannot average a int64 tensor [2]", "ReduceOp::sum");
  TF_CHECK_THROWS_WITH(dist::allreduce(tensor({1, 0}, bool_), dist::ReduceOp::sum), DTypeError,
                       "cannot sum a bool tensor [2]", "ReduceOp::max");
  TF_CHECK_THROWS_WITH(dist::grouped_allreduce({scalar(1.0), Tensor()}), ValueError,
                       "distributed::grouped_allreduce", "input 1 is an undefined tensor");
  TF_CHECK_THROWS_WITH(dist::DistributedOptimizer(std::unique_ptr<optim::Optimizer>()), ValueError,
                       "the optimizer to wrap is null");
  Regression r;
  optim::SGD sgd({r.w});
  TF_CHECK_THROWS_WITH(dist::DistributedOptimizer(sgd, {.op = dist::ReduceOp::max}), ValueError,
                       "ReduceOp::average or ReduceOp::sum, got ReduceOp::max");
  {
    Graph g;
    auto scope = g.as_default();
    Tensor x = placeholder(float32, {-1, 3}, "x");
    TF_CHECK_THROWS_WITH(dist::broadcast({x}), ValueError, "tensor 0 is the graph tensor 'x:0'",
                         "broadcast_global_variables");
    TF_CHECK_THROWS_WITH(dist::broadcast_global_variables(), ValueError, "has no global variables");
    Variable(zeros({2}), "v");
    TF_CHECK_THROWS_WITH(dist::broadcast_global_variables(-1), ValueError, "root -1 is out of range");
    TF_CHECK_THROWS_WITH(train::DistributedOptimizer(std::unique_ptr<train::Optimizer>()), ValueError,
                         "the optimizer to wrap is null");
    // Shape and dtype rules hold at build time too.
    TF_CHECK_THROWS_WITH(dist::allreduce(placeholder(int64, {-1}, "ids")), DTypeError, "cannot average a int64");
  }
}

BOOST_AUTO_TEST_CASE(distributed_optimizer_of_one_process_is_its_inner_optimizer) {
  Regression a, b;
  optim::Adam plain({a.w, a.b, a.unused}, {.lr = 0.1});
  dist::DistributedOptimizer wrapped(std::make_unique<optim::Adam>(std::vector<Tensor>{b.w, b.b, b.unused},
                                                                   optim::AdamOptions{.lr = 0.1}));
  BOOST_TEST(wrapped.inner().name() == "Adam");
  BOOST_TEST(wrapped.parameters().size() == 3u);
  for (int step = 0; step < 3; ++step) {
    plain.zero_grad();
    a.loss().backward();
    plain.step();
    wrapped.zero_grad();
    b.loss().backward();
    if (step == 1) wrapped.synchronize();  // then step() does not synchronize again
    wrapped.step();
  }
  tft::check_same(b.w, a.w);
  tft::check_same(b.b, a.b);
  BOOST_TEST(wrapped.inner().state<optim::AdamState>(2) == nullptr);  // no gradient, no update
  BOOST_TEST(!b.unused.grad().defined());
  BOOST_TEST(wrapped.allreduce_calls() == 0);
  wrapped.set_lr(0.5);
  BOOST_TEST(wrapped.lr() == 0.5);
}

// What code written against the base class does (a training library's fit()): it takes any optimizer.
void fit(optim::Optimizer& opt, const Regression& r, int steps) {
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    r.loss().backward();
    opt.step();
  }
}

BOOST_AUTO_TEST_CASE(distributed_optimizer_is_an_optim_optimizer) {
  Regression a, b;
  optim::Adam plain({a.w, a.b, a.unused}, {.lr = 0.1});
  dist::DistributedOptimizer wrapped(std::make_unique<optim::Adam>(std::vector<Tensor>{b.w, b.b, b.unused},
                                                                   optim::AdamOptions{.lr = 0.1}));
  optim::Optimizer& opt = wrapped;
  fit(plain, a, 3);
  fit(opt, b, 3);  // step() is the wrapper's (the base's would throw: the wrapper has no update())
  tft::check_same(b.w, a.w);
  tft::check_same(b.b, a.b);
  BOOST_TEST(opt.name() == "DistributedOptimizer(Adam)");
  BOOST_TEST(opt.parameters().size() == 3u);
  BOOST_TEST(opt.parameters()[0].is_same(b.w));
  BOOST_TEST(opt.state<optim::AdamState>(0) == wrapped.inner().state<optim::AdamState>(0));  // the inner's
  BOOST_TEST(opt.state<optim::AdamState>(0)->step == 3);
  BOOST_TEST(opt.state<optim::AdamState>(2) == nullptr);
  TF_CHECK_THROWS_WITH(opt.state<optim::AdamState>(3), ValueError, "Adam: no parameter 3");
  opt.set_lr(0.05);
  BOOST_TEST(wrapped.inner().lr() == 0.05);
  BOOST_TEST(opt.lr() == 0.05);
  // The parameter groups are the inner optimizer's too.
  BOOST_TEST(&opt.param_groups() == &wrapped.inner().param_groups());
  opt.set_group_lr(0, 0.04);
  BOOST_TEST(wrapped.inner().group_lr(0) == 0.04);
  BOOST_TEST(opt.group_lr(0) == 0.04);
  TF_CHECK_THROWS_WITH(opt.group_lr(1), ValueError, "Adam");
  opt.set_lr(0.05);
  b.loss().backward();
  opt.zero_grad();
  BOOST_TEST(!b.w.grad().defined());

  // The state dict is the inner optimizer's: saved through the wrapper, it loads into a plain
  // Adam, and a plain Adam's loads into the wrapper.
  const optim::NamedTensors dict = opt.state_dict();
  const std::vector<std::uint8_t> type = dict[0].second.to_vector<std::uint8_t>();
  BOOST_TEST(std::string(type.begin(), type.end()) == "Adam");
  Regression c;
  optim::Adam resumed({c.w, c.b, c.unused}, {.lr = 0.1});
  resumed.load_state_dict(dict);
  BOOST_TEST(resumed.lr() == 0.05);
  BOOST_TEST(resumed.state<optim::AdamState>(1)->step == 3);
  plain.set_lr(0.02);
  opt.load_state_dict(plain.state_dict());
  BOOST_TEST(wrapped.inner().lr() == 0.02);
  optim::Momentum momentum({c.w});
  TF_CHECK_THROWS_WITH(opt.load_state_dict(momentum.state_dict()), ValueError,
                       "Adam.load_state_dict: the state dict is of optimizer type Momentum");
}

// The regression's loss in the default graph: placeholders x [?,3] and y [?,2], variables w and b
// starting from r's values.
Tensor graph_loss(const Regression& r, Tensor& x, Tensor& y, Tensor& w, Tensor& b) {
  x = placeholder(float32, {-1, 3}, "x");
  y = placeholder(float32, {-1, 2}, "y");
  w = Variable(r.w.detach().clone(), "w");
  b = Variable(r.b.detach().clone(), "b");
  return reduce_mean(square(matmul(x, w) + b - y));
}

// Builds a train op from any graph optimizer, through the base interface.
Tensor build_train_op(train::Optimizer& opt, const Tensor& loss, const Tensor& step, bool in_two_calls) {
  if (in_two_calls) return opt.apply_gradients(opt.compute_gradients(loss), step);
  return opt.minimize(loss, step);
}

BOOST_AUTO_TEST_CASE(graph_distributed_optimizer_is_a_train_optimizer) {
  Regression r;
  for (bool in_two_calls : {false, true}) {
    BOOST_TEST_CONTEXT("in_two_calls " << in_two_calls) {
      auto train_with = [&](bool distributed) {
        Graph g;
        auto scope = g.as_default();
        Tensor x, y, w, b;
        Tensor loss = graph_loss(r, x, y, w, b);
        Tensor step = train::get_or_create_global_step();
        train::AdamOptimizer adam(0.1);
        train::DistributedOptimizer wrapper(adam);
        train::Optimizer& opt = distributed ? static_cast<train::Optimizer&>(wrapper) : adam;
        BOOST_TEST(opt.name() == (distributed ? "DistributedAdam" : "Adam"));
        Tensor train_op = build_train_op(opt, loss, step, in_two_calls);
        if (distributed)  // the wrapper's apply_gradients built the allreduce
          BOOST_TEST(tft::type_of(g.get_tensor_by_name("DistributedAdam/HorovodGroupedAllreduce:0")) ==
                     "HorovodGroupedAllreduce");
        Session sess(g);
        sess.run(global_variables_initializer());
        for (int i = 0; i < 3; ++i) sess.run(train_op, {{x, r.x}, {y, r.y}});
        BOOST_TEST(sess.run(step).item() == 3);
        return std::vector<Tensor>{sess.run(w), sess.run(b)};
      };
      auto plain = train_with(false), wrapped = train_with(true);
      tft::check_same(wrapped[0], plain[0]);
      tft::check_same(wrapped[1], plain[1]);
    }
  }
}

// ---------------------------------------------------------------------------- sharding

BOOST_AUTO_TEST_CASE(shards_are_disjoint_and_cover_each_epoch) {
  data::DataSet whole = numbered(12);
  std::vector<data::DataSet> shards;
  for (int i = 0; i < 3; ++i) shards.push_back(whole.shard(3, i));
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(shards[static_cast<std::size_t>(i)].num_examples() == 4);
    BOOST_TEST(shards[static_cast<std::size_t>(i)].num_shards() == 3);
    BOOST_TEST(shards[static_cast<std::size_t>(i)].shard_index() == i);
  }
  std::set<std::vector<std::int64_t>> epoch_orders;
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::set<std::int64_t> seen;
    std::vector<std::int64_t> order;
    for (auto& s : shards) {
      for (std::int64_t label : labels_of(s.next_batch(4))) {
        BOOST_TEST(seen.insert(label).second, "example " << label << " is in two shards in epoch " << epoch);
        order.push_back(label);
      }
      BOOST_TEST(s.epochs_completed() == epoch);  // counted when a batch runs past the end (TensorFlow)
    }
    BOOST_TEST(seen.size() == 12u);
    epoch_orders.insert(order);
  }
  BOOST_TEST(epoch_orders.size() == 3u);  // reshuffled every epoch
}

BOOST_AUTO_TEST_CASE(shards_together_serve_the_batches_of_the_whole_data_set) {
  // 3 shards x batch 3 against one data set x batch 9 with the same seed, over several epochs
  // (12 examples: batches cross epoch ends): row t*3 + s of the whole batch is row t of shard s's.
  for (bool shuffle : {true, false}) {
    data::DataSet whole = numbered(12, 99);
    std::vector<data::DataSet> shards;
    for (int i = 0; i < 3; ++i) shards.push_back(whole.shard(3, i));
    for (int step = 0; step < 7; ++step) {
      data::Batch all = whole.next_batch(9, shuffle);
      std::vector<std::int64_t> expected = labels_of(all);
      std::vector<float> images = all.images.to_vector<float>();
      for (std::size_t s = 0; s < 3; ++s) {
        data::Batch part = shards[s].next_batch(3, shuffle);
        BOOST_TEST(part.images.shape().str() == "[3,1]");
        std::vector<std::int64_t> got = labels_of(part);
        std::vector<float> got_images = part.images.to_vector<float>();
        for (std::size_t t = 0; t < 3; ++t) {
          BOOST_TEST(got[t] == expected[t * 3 + s], "step " << step << " shard " << s << " row " << t);
          BOOST_TEST(got_images[t] == images[t * 3 + s]);
        }
        BOOST_TEST(shards[s].epochs_completed() == whole.epochs_completed());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_remainder_is_left_out_of_each_epoch) {
  // 10 examples, 3 shards: 3 each per epoch; one example of each epoch's order is left out.
  for (bool shuffle : {true, false}) {
    data::DataSet whole = numbered(10, 5);
    std::vector<data::DataSet> shards;
    for (int i = 0; i < 3; ++i) shards.push_back(whole.shard(3, i));
    std::set<std::int64_t> left_out;
    for (int epoch = 0; epoch < 6; ++epoch) {
      std::set<std::int64_t> seen;
      for (auto& s : shards) {
        BOOST_TEST(s.num_examples() == 3);
        for (std::int64_t label : labels_of(s.next_batch(3, shuffle))) BOOST_TEST(seen.insert(label).second);
      }
      BOOST_TEST(seen.size() == 9u);
      for (std::int64_t i = 0; i < 10; ++i)
        if (!seen.count(i)) left_out.insert(i);
    }
    if (shuffle)
      BOOST_TEST(left_out.size() > 1u);  // a different one in different epochs
    else
      BOOST_TEST((left_out == std::set<std::int64_t>{9}));  // always the last one
  }
}

BOOST_AUTO_TEST_CASE(one_shard_is_the_whole_data_set) {
  data::DataSet whole = numbered(10, 3);
  data::DataSet one = whole.shard(1, 0);
  for (int step = 0; step < 5; ++step) BOOST_TEST(labels_of(one.next_batch(4)) == labels_of(whole.next_batch(4)));
}

BOOST_AUTO_TEST_CASE(bad_shards) {
  data::DataSet whole = numbered(10);
  TF_CHECK_THROWS_WITH(whole.shard(0, 0), ValueError, "DataSet::shard",
                       "num_shards must be between 1 and the number of examples 10, got 0");
  TF_CHECK_THROWS_WITH(whole.shard(11, 0), ValueError, "got 11");
  TF_CHECK_THROWS_WITH(whole.shard(3, 3), ValueError, "index 3 is out of range for 3 shards (0 to 2)");
  TF_CHECK_THROWS_WITH(whole.shard(3, -1), ValueError, "index -1 is out of range");
  TF_CHECK_THROWS_WITH(whole.shard(2, 0).shard(2, 0), ValueError, "is shard 0 of 2 already");
  whole.next_batch(2);
  TF_CHECK_THROWS_WITH(whole.shard(2, 0), ValueError, "has served batches already (epoch 0, example 2)");
}

// ---------------------------------------------------------------------------- graph mode

BOOST_AUTO_TEST_CASE(allreduce_nodes) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3}, "x");
  Tensor n = placeholder(int64, {}, "n");
  Tensor mean = dist::allreduce(x);
  BOOST_TEST(tft::type_of(mean) == "HorovodAllreduce");
  BOOST_TEST(mean.impl()->node->name() == "HorovodAllreduce");
  BOOST_TEST(mean.shape().str() == "[?,3]");
  auto both = dist::grouped_allreduce({x, n}, dist::ReduceOp::sum);
  BOOST_TEST(tft::type_of(both[0]) == "HorovodGroupedAllreduce");
  BOOST_TEST(both[0].shape().str() == "[?,3]");
  BOOST_TEST(both[1].shape().str() == "[]");
  BOOST_TEST(both[1].dtype() == int64);
  Session sess(g);
  Tensor xv = tensor({{1, 2, 3}, {4, 5, 6}});
  auto out = sess.run({mean, both[0], both[1]}, {{x, xv}, {n, scalar(7, int64)}});
  tft::check_same(out[0], xv);
  tft::check_same(out[1], xv);
  BOOST_TEST(out[2].item<std::int64_t>() == 7);
}

BOOST_AUTO_TEST_CASE(graph_distributed_optimizer_of_one_process_is_its_inner_optimizer) {
  Regression r;
  auto train_with = [&](bool distributed) {
    Graph g;
    auto scope = g.as_default();
    Tensor x, y, w, b;
    Tensor loss = graph_loss(r, x, y, w, b);
    Tensor step = train::get_or_create_global_step();
    Tensor train_op;
    if (distributed) {
      train::DistributedOptimizer opt(std::make_unique<train::AdamOptimizer>(0.1));
      BOOST_TEST(opt.name() == "DistributedAdam");
      train_op = opt.minimize(loss, step);
      BOOST_TEST(tft::type_of(g.get_tensor_by_name("DistributedAdam/HorovodGroupedAllreduce:0")) ==
                 "HorovodGroupedAllreduce");
    } else {
      train_op = train::AdamOptimizer(0.1).minimize(loss, step);
    }
    Tensor bcast = dist::broadcast_global_variables();
    BOOST_TEST(bcast.impl()->node->type() == "HorovodBroadcast");
    Session sess(g);
    sess.run(global_variables_initializer());
    sess.run(bcast);
    for (int i = 0; i < 3; ++i) sess.run(train_op, {{x, r.x}, {y, r.y}});
    return std::vector<Tensor>{sess.run(w), sess.run(b)};
  };
  auto plain = train_with(false), wrapped = train_with(true);
  tft::check_same(wrapped[0], plain[0]);
  tft::check_same(wrapped[1], plain[1]);
}

// ---------------------------------------------------------------------------- init (last)

BOOST_AUTO_TEST_CASE(init_starts_a_job_of_one_process) {
  dist::init();
  BOOST_TEST(dist::initialized());
  int argc = 1;
  char name[] = "tapeflow_tests";
  char* args[] = {name, nullptr};
  char** argv = args;
  dist::init(argc, argv);  // idempotent
  dist::init();
  BOOST_TEST(argc == 1);
  BOOST_TEST(dist::rank() == 0);
  BOOST_TEST(dist::size() == 1);
  BOOST_TEST(dist::local_size() == 1);
  const std::int64_t calls = dist::allreduce_calls();
  BOOST_TEST(dist::allreduce(scalar(2.5), dist::ReduceOp::sum).item() == 2.5);
  dist::barrier();
  BOOST_TEST(dist::allreduce_calls() == calls);
  TF_CHECK_THROWS_WITH(dist::broadcast({scalar(1.0)}, 1), ValueError, "root 1 is out of range");
}

BOOST_AUTO_TEST_SUITE_END()
