// Data-parallel training on two processes (CTest: mpirun -np 2, see mpi_fixture.h): 2 ranks x
// batch b train exactly like one process x batch 2b (eager and graph mode), tensor fusion,
// parameters without gradients, and files written on every rank unless the program picks one.
#include <filesystem>
#include <numeric>
#include <optional>

#include "distributed/mpi_fixture.h"
#include "tapeflow/data/mnist.h"
#include "tapeflow/graph.h"
#include "tapeflow/graph/saver.h"
#include "tapeflow/io/checkpoint.h"
#include "tapeflow/nn.h"
#include "tapeflow/optim.h"
#include "tapeflow/summary/writer.h"

using namespace tapeflow;
namespace dist = tapeflow::distributed;
namespace fs = std::filesystem;

namespace {

// 100 examples of 8 features, 4 classes: the same on every rank.
data::DataSet examples(std::uint64_t shuffle_seed = 11) {
  Generator gen(7);
  Tensor images = random_uniform({100, 8}, -1, 1, float32, &gen);
  std::vector<std::int64_t> labels(100);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>((i * 7) % 4);
  return data::DataSet(images, from_vector(labels, {100}), shuffle_seed);
}

// A small MLP 8 -> 16 -> 4 with a mean cross-entropy loss.
struct Mlp {
  Tensor w1, b1, w2, b2;
  explicit Mlp(std::uint64_t seed) {
    Generator gen(seed);
    w1 = random_uniform({8, 16}, -0.5, 0.5, float32, &gen).requires_grad_();
    b1 = random_uniform({16}, -0.1, 0.1, float32, &gen).requires_grad_();
    w2 = random_uniform({16, 4}, -0.5, 0.5, float32, &gen).requires_grad_();
    b2 = random_uniform({4}, -0.1, 0.1, float32, &gen).requires_grad_();
  }
  std::vector<Tensor> parameters() const { return {w1, b1, w2, b2}; }
  Tensor loss(const data::Batch& batch) const {
    Tensor logits = matmul(relu(matmul(batch.images, w1) + b1), w2) + b2;
    return reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(batch.labels, logits));
  }
};

void check_close_params(const std::vector<Tensor>& got, const std::vector<Tensor>& expected) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    tft::check_close(got[i], expected[i].to_vector<double>(), 1e-6, 1e-5);
    BOOST_TEST(tft::same_on_all_ranks(got[i]));
  }
}

// `steps` steps of one process on the whole data set with batch 2b (the reference), and of this
// rank on its shard with batch b through a DistributedOptimizer; returns {reference, mine}.
template <class MakeOptimizer>
std::pair<std::vector<Tensor>, std::vector<Tensor>> train_both(MakeOptimizer make, std::int64_t b, int steps) {
  Mlp reference(42);
  Mlp mine(42 + static_cast<std::uint64_t>(dist::rank()));  // rank 1 starts elsewhere...
  dist::broadcast(mine.parameters());                        // ...until the broadcast
  data::DataSet whole = examples();
  data::DataSet shard = examples().shard(dist::size(), dist::rank());
  auto reference_opt = make(reference.parameters());
  dist::DistributedOptimizer opt(make(mine.parameters()));
  for (int step = 0; step < steps; ++step) {
    reference_opt->zero_grad();
    reference.loss(whole.next_batch(2 * b)).backward();
    reference_opt->step();
    opt.zero_grad();
    mine.loss(shard.next_batch(b)).backward();
    opt.step();
  }
  BOOST_TEST(reference.w1.to_vector<double>() != Mlp(42).w1.to_vector<double>());  // it trained
  return {reference.parameters(), mine.parameters()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(mpi_training, *boost::unit_test::precondition(tft::under_mpirun))

BOOST_AUTO_TEST_CASE(one_step_of_two_ranks_equals_one_process_with_twice_the_batch) {
  BOOST_TEST(dist::size() == tft::expected_ranks());
  auto [reference, mine] = train_both(
      [](std::vector<Tensor> p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.5}); }, 50, 1);
  check_close_params(mine, reference);
}

BOOST_AUTO_TEST_CASE(adam_steps_across_an_epoch_end_equal_one_process) {
  // 3 steps of 2 x 25 on 100 examples: the shards reshuffle with the whole data set's order.
  auto [reference, mine] = train_both(
      [](std::vector<Tensor> p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 0.05}); }, 25, 5);
  check_close_params(mine, reference);
}

BOOST_AUTO_TEST_CASE(the_ranks_shards_are_disjoint_and_cover_each_epoch) {
  // Example i has label i. Each rank marks the examples it got in an epoch; summed over the
  // ranks, every example is marked exactly once (100 examples, 2 ranks: no remainder).
  std::vector<std::int64_t> ids(100);
  std::iota(ids.begin(), ids.end(), std::int64_t{0});
  data::DataSet shard = data::DataSet(zeros({100, 1}), from_vector(ids, {100}), 23).shard(dist::size(), dist::rank());
  BOOST_TEST(shard.num_examples() == 50);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<std::int32_t> seen(100, 0);
    for (int step = 0; step < 5; ++step)
      for (std::int64_t i : shard.next_batch(10).labels.to_vector<std::int64_t>()) ++seen[static_cast<std::size_t>(i)];
    BOOST_TEST(shard.epochs_completed() == epoch);
    Tensor marks = dist::allreduce(from_vector(seen, {100}), dist::ReduceOp::sum);
    BOOST_TEST(marks.to_vector<std::int32_t>() == std::vector<std::int32_t>(100, 1), boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(tensor_fusion_makes_a_step_cost_a_few_allreduces) {
  const double r = dist::rank();
  auto run = [&](std::size_t threshold, std::int64_t expected_per_step) {
    std::vector<Tensor> ws;
    for (int i = 0; i < 40; ++i) ws.push_back(full({5}, 0.1 * (i + 1)).requires_grad_());  // 20 bytes each
    dist::DistributedOptimizer opt(std::make_unique<optim::SGD>(ws, optim::SGDOptions{.lr = 0.1}),
                                   {.fusion_threshold = threshold});
    for (int step = 0; step < 2; ++step) {
      opt.zero_grad();
      Tensor loss = scalar(0.0);
      for (const Tensor& w : ws) loss = loss + reduce_sum(square(w)) * (r + 1);
      loss.backward();
      opt.step();
      BOOST_TEST(opt.allreduce_calls() == expected_per_step * (step + 1));
    }
    // The gradient 2 w (r + 1) averages to 3 w: w <- 0.7 w per step.
    for (int i = 0; i < 40; ++i)
      tft::check_close(ws[static_cast<std::size_t>(i)], std::vector<double>(5, 0.49 * 0.1 * (i + 1)));
  };
  run(dist::kDefaultFusionThreshold, 1 + 1);  // which parameters have gradients + one buffer
  run(100, 1 + 8);                            // 5 gradients per 100-byte buffer
  run(0, 1 + 40);                             // no fusion
}

BOOST_AUTO_TEST_CASE(large_gradients_are_reduced_alone_and_in_place) {
  // Two gradients of 1 MiB or more each get a call of their own, on their own memory; the four
  // small ones share one buffer: 1 + 2 + 1 calls per step.
  const double r = dist::rank();
  std::vector<Tensor> ws = {full({300, 1000}, 1.0).requires_grad_(), full({3}, 1.0).requires_grad_(),
                            full({262144}, 2.0).requires_grad_(), full({4}, 1.0).requires_grad_(),
                            full({2}, 1.0).requires_grad_(), full({10}, 1.0).requires_grad_()};
  dist::DistributedOptimizer opt(std::make_unique<optim::SGD>(ws, optim::SGDOptions{.lr = 0.1}));
  opt.zero_grad();
  Tensor loss = scalar(0.0);
  for (const Tensor& w : ws) loss = loss + reduce_sum(w) * (r + 1);  // gradient r + 1: averages to 1.5
  loss.backward();
  const void* large = ws[0].grad().raw_data();
  opt.synchronize();
  BOOST_TEST(opt.allreduce_calls() == 4);
  BOOST_TEST(ws[0].grad().raw_data() == large);
  for (const Tensor& w : ws) {
    BOOST_TEST(reduce_min(w.grad()).item() == 1.5);
    BOOST_TEST(reduce_max(w.grad()).item() == 1.5);
  }
  opt.step();
  BOOST_TEST(reduce_max(abs(ws[2] - 1.85)).item() < 1e-6);
}

BOOST_AUTO_TEST_CASE(parameters_without_a_gradient_on_some_ranks) {
  // a: a gradient on both ranks; b: only on rank 0; c: on none.
  Tensor a = full({3}, 1.0).requires_grad_(), b = full({2}, 2.0).requires_grad_(), c = full({4}, 3.0).requires_grad_();
  dist::DistributedOptimizer opt(std::make_unique<optim::SGD>(std::vector<Tensor>{a, b, c}, optim::SGDOptions{.lr = 0.1}));
  opt.zero_grad();
  Tensor loss = reduce_sum(square(a));
  if (dist::rank() == 0) loss = loss + 2 * reduce_sum(square(b));
  loss.backward();
  opt.step();
  tft::check_close(a, {0.8, 0.8, 0.8});  // grad 2a = 2 on both
  tft::check_close(b, {1.6, 1.6});       // (4b + 0) / 2 = 4 on both ranks
  tft::check_close(c, {3, 3, 3, 3});
  BOOST_TEST(!c.grad().defined());
  for (const Tensor& t : {a, b, c}) BOOST_TEST(tft::same_on_all_ranks(t));

  Tensor d = full({2}, 1.0).requires_grad_(), e = full({2}, 1.0).requires_grad_();
  dist::DistributedOptimizer adam(std::make_unique<optim::Adam>(std::vector<Tensor>{d, e}));
  adam.zero_grad();
  if (dist::rank() == 1) reduce_sum(d).backward();
  adam.step();
  BOOST_TEST(adam.inner().state<optim::AdamState>(0) != nullptr);  // updated on both ranks
  BOOST_TEST(adam.inner().state<optim::AdamState>(1) == nullptr);  // on neither
  BOOST_TEST(tft::same_on_all_ranks(d));
}

BOOST_AUTO_TEST_CASE(different_parameters_across_ranks) {
  Tensor p = zeros({dist::rank() == 0 ? 3 : 4}).requires_grad_();
  dist::DistributedOptimizer opt(std::make_unique<optim::SGD>(std::vector<Tensor>{p}));
  reduce_sum(p).backward();
  TF_CHECK_THROWS_WITH(opt.step(), ShapeError, "DistributedOptimizer(GradientDescent)",
                       "tensor 0 has shape [3] on rank 0 but [4] on rank 1");
  BOOST_TEST(dist::allreduce(scalar(1.0), dist::ReduceOp::sum).item() == 2.0);  // still in step
}

BOOST_AUTO_TEST_CASE(distributed_optimizer_stands_in_for_an_optim_optimizer) {
  // loss (r + 1) * sum(w^2) on rank r: the gradients 2 w (r + 1) average to 3 w, so one Momentum
  // step of 0.1 through an optim::Optimizer& takes w = 1 to 0.7 on both ranks (0.8 and 0.6
  // without the allreduce).
  Tensor w = full({3}, 1.0).requires_grad_();
  dist::DistributedOptimizer distributed(
      std::make_unique<optim::Momentum>(std::vector<Tensor>{w}, optim::MomentumOptions{.lr = 0.1}));
  optim::Optimizer& opt = distributed;
  opt.zero_grad();
  (reduce_sum(square(w)) * (dist::rank() + 1.0)).backward();
  opt.step();
  tft::check_close(w, {0.7, 0.7, 0.7});
  BOOST_TEST(distributed.allreduce_calls() == 2);
  const optim::NamedTensors state = opt.state_dict();  // the same on every rank
  BOOST_TEST(state.back().first == "state/0/accum");
  tft::check_close(state.back().second, {3, 3, 3});
  BOOST_TEST(tft::same_on_all_ranks(state.back().second));
}

// ---------------------------------------------------------------------------- graph mode

BOOST_AUTO_TEST_CASE(graph_distributed_optimizer_equals_one_process) {
  // Adam, 3 steps: rank r feeds its shard's batches of 25; the reference feeds the whole data
  // set's batches of 50 to the plain optimizer, in a graph of its own.
  auto train = [](bool distributed, int steps) {
    Graph g;
    auto scope = g.as_default();
    Tensor x = placeholder(float32, {-1, 8}, "x"), y = placeholder(int64, {-1}, "y");
    Mlp init(distributed ? 42 + static_cast<std::uint64_t>(dist::rank()) : 42);
    std::vector<Tensor> vars;
    for (const Tensor& p : init.parameters()) vars.push_back(Variable(p.detach().clone()));
    Tensor logits = matmul(relu(matmul(x, vars[0]) + vars[1]), vars[2]) + vars[3];
    Tensor loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits));
    Tensor global_step = train::get_or_create_global_step();
    Tensor train_op;
    if (distributed)
      train_op = train::DistributedOptimizer(std::make_unique<train::AdamOptimizer>(0.05)).minimize(loss, global_step);
    else
      train_op = train::AdamOptimizer(0.05).minimize(loss, global_step);
    Tensor bcast = dist::broadcast_global_variables();
    Session sess(g);
    sess.run(global_variables_initializer());
    data::DataSet source = distributed ? examples().shard(dist::size(), dist::rank()) : examples();
    if (distributed) sess.run(bcast);
    for (int step = 0; step < steps; ++step) {
      auto batch = source.next_batch(distributed ? 25 : 50);
      const std::int64_t calls = dist::allreduce_calls();
      sess.run(train_op, {{x, batch.images}, {y, batch.labels}});
      // After the first run (which also compares the gradients' shapes across the ranks), a
      // training step is one fused allreduce of all the gradients.
      if (distributed && step > 0) BOOST_TEST(dist::allreduce_calls() - calls == 1);
    }
    BOOST_TEST(sess.run(global_step).item() == steps);
    std::vector<Tensor> values;
    for (const Tensor& v : vars) values.push_back(sess.run(v));
    return values;
  };
  std::vector<Tensor> reference = train(false, 3), mine = train(true, 3);
  check_close_params(mine, reference);
}

BOOST_AUTO_TEST_CASE(graph_distributed_optimizer_stands_in_for_a_train_optimizer) {
  // As above in graph mode, GradientDescent(0.1) through a train::Optimizer&: the averaged
  // gradient 3 w takes w = 1 to 0.7, then minimize takes it to 0.49, on both ranks.
  Graph g;
  auto scope = g.as_default();
  Tensor w = Variable(full({3}, 1.0), "w");
  Tensor loss = reduce_sum(square(w)) * (dist::rank() + 1.0);
  train::DistributedOptimizer distributed(std::make_unique<train::GradientDescentOptimizer>(0.1));
  train::Optimizer& opt = distributed;
  Tensor apply_op = opt.apply_gradients(opt.compute_gradients(loss));
  Tensor minimize_op = opt.minimize(loss);
  Session sess(g);
  sess.run(global_variables_initializer());
  sess.run(apply_op);
  tft::check_close(sess.run(w), {0.7, 0.7, 0.7});
  sess.run(minimize_op);
  tft::check_close(sess.run(w), {0.49, 0.49, 0.49});
  BOOST_TEST(tft::same_on_all_ranks(sess.run(w)));
}

BOOST_AUTO_TEST_CASE(broadcast_global_variables_gives_every_rank_the_roots_values) {
  Graph g;
  auto scope = g.as_default();
  Tensor v = Variable(full({3}, 5.0 + dist::rank()), "v");
  Tensor w = Variable(full({2}, 1.0 + dist::rank(), float64), "w");
  Tensor bcast = dist::broadcast_global_variables(1);
  Session sess(g);
  sess.run(global_variables_initializer());
  sess.run(bcast);
  tft::check_close(sess.run(v), {6, 6, 6});
  tft::check_close(sess.run(w), {2, 2});
}

// ---------------------------------------------------------------------------- who writes files

// io::save, summary::Writer (FileWriter) and train::Saver know nothing of ranks: they write in
// every process that calls them, rank 1 too. A distributed program says itself who writes, at
// the call (`if (dist::is_root()) ...`), as Horovod's examples do.
BOOST_AUTO_TEST_CASE(writers_write_on_every_rank_and_the_program_picks_the_root) {
  tft::TempDir dir("mpi_writers");  // one per rank (its name has the process id)
  const bool root = dist::is_root();
  auto files_in = [](const fs::path& p) {
    int n = 0;
    if (fs::exists(p))
      for (const auto& entry : fs::directory_iterator(p)) n += entry.is_regular_file() ? 1 : 0;
    return n;
  };
  // How many ranks saw `ok`: each rank checks its own files, the count is summed over the ranks.
  auto ranks_where = [](bool ok) {
    return dist::allreduce(scalar(ok ? 1 : 0, int64), dist::ReduceOp::sum).item<std::int64_t>();
  };

  const std::string model = (dir.path / "model.safetensors").string();
  io::save(model, {{"w", full({2}, 1.0 + dist::rank())}});
  BOOST_TEST(ranks_where(fs::exists(model)) == dist::size());
  if (fs::exists(model)) tft::check_close(io::load(model).at(0).second, {1.0 + dist::rank(), 1.0 + dist::rank()});

  {
    summary::Writer writer((dir.path / "logs").string());
    writer.scalar("loss", 1.5, 0);
    writer.histogram("w", tensor({1, 2, 3}), 0);
    writer.flush();
    BOOST_TEST(!writer.file_writer().path().empty());
    BOOST_TEST(ranks_where(files_in(dir.path / "logs") == 1) == dist::size());
  }

  Graph g;
  auto scope = g.as_default();
  Tensor v = Variable(full({3}, 2.0), "v");
  Session sess(g);
  sess.run(global_variables_initializer());
  train::Saver saver({}, {.max_to_keep = 1});
  const std::string prefix = (dir.path / "ckpt" / "model").string();
  BOOST_TEST(saver.save(sess, prefix, 1) == prefix + "-1");
  BOOST_TEST(saver.save(sess, prefix, 2) == prefix + "-2");
  BOOST_TEST(ranks_where(fs::exists(prefix + "-2.safetensors") && fs::exists(dir.path / "ckpt" / "checkpoint") &&
                         !fs::exists(prefix + "-1.safetensors")) == dist::size());

  // The root-only pattern of the samples: only rank 0 creates the writer and saves.
  {
    std::optional<summary::Writer> log;
    if (root) log.emplace((dir.path / "root_logs").string());
    if (log) log->scalar("loss", 1.5, 0);
  }
  if (root) io::save((dir.path / "root.safetensors").string(), {{"w", ones({2})}});
  BOOST_TEST(files_in(dir.path / "root_logs") == (root ? 1 : 0));
  BOOST_TEST(fs::exists(dir.path / "root.safetensors") == root);
  dist::barrier();
}

BOOST_AUTO_TEST_SUITE_END()
