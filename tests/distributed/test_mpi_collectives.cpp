// tapeflow::distributed's collectives on two processes (CTest: mpirun -np 2, see mpi_fixture.h):
// broadcast, allreduce, grouped_allreduce with fusion, and the errors for tensors that differ
// across ranks (the same error on both ranks, and the job goes on).
#include "distributed/mpi_fixture.h"
#include "tapeflow/graph.h"
#include "tapeflow/nn.h"

using namespace tapeflow;
namespace dist = tapeflow::distributed;

BOOST_AUTO_TEST_SUITE(mpi_collectives, *boost::unit_test::precondition(tft::under_mpirun))

BOOST_AUTO_TEST_CASE(the_job_has_two_ranks) {
  BOOST_TEST(dist::initialized());
  BOOST_TEST(dist::size() == tft::expected_ranks());
  BOOST_TEST((dist::rank() == 0 || dist::rank() == 1));
  BOOST_TEST(dist::is_root() == (dist::rank() == 0));
  BOOST_TEST(dist::local_size() == 2);  // both on this machine
  BOOST_TEST(dist::local_rank() == dist::rank());
  BOOST_TEST(dist::mpi_built());
}

BOOST_AUTO_TEST_CASE(after_broadcast_all_parameters_are_bitwise_equal) {
  // Each rank initializes its network from its own seed.
  Generator gen(1000 + static_cast<std::uint64_t>(dist::rank()));
  nn::Linear fc1(8, 16, {.generator = &gen}), fc2(16, 4, {.generator = &gen});
  std::vector<Tensor> params = fc1.parameters();
  for (const Tensor& p : fc2.parameters()) params.push_back(p);
  for (Tensor& p : params) {
    NoGradGuard no_grad;
    add_(p, random_uniform(p.shape(), -1, 1, float32, &gen));  // the biases differ too
  }
  std::vector<std::vector<double>> mine;
  for (const Tensor& p : params) mine.push_back(p.to_vector<double>());
  BOOST_TEST(!tft::same_on_all_ranks(params[0]));

  dist::broadcast(params);
  for (const Tensor& p : params) BOOST_TEST(tft::same_on_all_ranks(p));
  if (dist::is_root())
    for (std::size_t i = 0; i < params.size(); ++i) BOOST_TEST(params[i].to_vector<double>() == mine[i]);

  // From another root, other dtypes, by name.
  Tensor d = full({3}, 10.0 + dist::rank(), float64), n = full({2, 2}, 7.0 * dist::rank(), int64),
         u = full({5}, 3.0 + dist::rank(), uint8);
  dist::broadcast({d, n, u}, 1);
  BOOST_TEST(d.to_vector<double>() == std::vector<double>(3, 11.0), boost::test_tools::per_element());
  BOOST_TEST(n.to_vector<double>() == std::vector<double>(4, 7.0), boost::test_tools::per_element());
  BOOST_TEST(u.to_vector<double>() == std::vector<double>(5, 4.0), boost::test_tools::per_element());
  Tensor w = full({2}, dist::rank());
  dist::broadcast(std::vector<std::pair<std::string, Tensor>>{{"fc/weight", w}});
  BOOST_TEST(w.to_vector<double>() == std::vector<double>(2, 0.0), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(broadcast_of_tensors_that_differ_across_ranks) {
  const bool one = dist::rank() == 1;
  TF_CHECK_THROWS_WITH(dist::broadcast({zeros({3}), zeros({3, one ? 5 : 4})}), ShapeError, "distributed::broadcast",
                       "tensor 1 has shape [3,4] on rank 0 (the root) but [3,5] on rank 1",
                       "every rank must pass tensors of the same shapes");
  TF_CHECK_THROWS_WITH(dist::broadcast({zeros({2}, one ? float64 : float32)}), DTypeError,
                       "tensor 0 is float32 on rank 0 (the root) but float64 on rank 1");
  std::vector<Tensor> list{zeros({2})};
  if (!one) list.push_back(zeros({2}));
  TF_CHECK_THROWS_WITH(dist::broadcast(list), ValueError, "rank 0 (the root) passes 2 tensors but rank 1 passes 1");
  TF_CHECK_THROWS_WITH(
      dist::broadcast(std::vector<std::pair<std::string, Tensor>>{{one ? "fc/bias" : "fc/weight", zeros({2})}}),
      ValueError, "tensor 0 is 'fc/weight' on rank 0 (the root) but 'fc/bias' on rank 1");
  TF_CHECK_THROWS_WITH(dist::broadcast({zeros({2})}, 2), ValueError,
                       "root 2 is out of range: the job has 2 processes (ranks 0 to 1)");
  // The ranks are still in step.
  BOOST_TEST(dist::allreduce(scalar(1.0), dist::ReduceOp::sum).item() == 2.0);
}

BOOST_AUTO_TEST_CASE(allreduce_of_a_metric) {
  const double r = dist::rank();
  BOOST_TEST(dist::allreduce(scalar(r + 1), dist::ReduceOp::sum).item() == 3.0);
  BOOST_TEST(dist::allreduce(scalar(r + 1)).item() == 1.5);
  BOOST_TEST(dist::allreduce(scalar(r + 1), dist::ReduceOp::min).item() == 1.0);
  BOOST_TEST(dist::allreduce(scalar(r + 1), dist::ReduceOp::max).item() == 2.0);
  // Accuracy over all shards: correct counts summed.
  Tensor correct = scalar(dist::rank() == 0 ? 40 : 45, int64);
  BOOST_TEST(dist::allreduce(correct, dist::ReduceOp::sum).item<std::int64_t>() == 85);
  Tensor m = tensor({{1, 2}, {3, 4}}, float64) * (r + 1);
  tft::check_close(dist::allreduce(m), {1.5, 3, 4.5, 6});
  Tensor flags = tensor({1, 0, dist::rank() == 0 ? 1.0 : 0.0}, bool_);
  BOOST_TEST(dist::allreduce(flags, dist::ReduceOp::max).to_vector<double>() == std::vector<double>({1, 0, 1}),
             boost::test_tools::per_element());
  BOOST_TEST(dist::allreduce(flags, dist::ReduceOp::min).to_vector<double>() == std::vector<double>({1, 0, 0}),
             boost::test_tools::per_element());
  TF_CHECK_THROWS_WITH(dist::allreduce(zeros({dist::rank() + 2})), ShapeError, "distributed::allreduce",
                       "tensor 0 has shape [2] on rank 0 but [3] on rank 1");
}

BOOST_AUTO_TEST_CASE(grouped_allreduce_fuses_the_tensors_per_dtype) {
  const double r = dist::rank();
  std::vector<Tensor> tensors;
  for (int i = 0; i < 10; ++i) tensors.push_back(full({3}, (r + 1) * i));  // float32, 12 bytes each
  tensors.push_back(full({2}, r + 0.5, float64));
  tensors.push_back(full({2}, r + 1, int64));
  auto calls = dist::allreduce_calls();
  auto out = dist::grouped_allreduce(tensors, dist::ReduceOp::sum);
  // One call comparing the tensors across ranks, then one buffer per dtype.
  BOOST_TEST(dist::allreduce_calls() - calls == 1 + 3);
  for (int i = 0; i < 10; ++i) tft::check_close(out[static_cast<std::size_t>(i)], {3.0 * i, 3.0 * i, 3.0 * i});
  tft::check_close(out[10], {2, 2});
  BOOST_TEST(out[11].to_vector<std::int64_t>() == std::vector<std::int64_t>({3, 3}), boost::test_tools::per_element());
  // 40-byte buffers: 3 float32 tensors each (4 buffers), then the float64 one.
  tensors.pop_back();  // (an int64 tensor cannot be averaged)
  calls = dist::allreduce_calls();
  out = dist::grouped_allreduce(tensors, dist::ReduceOp::average, 40);
  BOOST_TEST(dist::allreduce_calls() - calls == 1 + 4 + 1);
  tft::check_close(out[9], {13.5, 13.5, 13.5});
  tft::check_close(out[10], {1, 1});
}

BOOST_AUTO_TEST_CASE(graph_allreduce_of_a_metric) {
  Graph g;
  auto scope = g.as_default();
  Tensor accuracy = placeholder(float32, {}, "accuracy");
  Tensor mean = dist::allreduce(accuracy);
  Session sess(g);
  float mine = dist::rank() == 0 ? 0.75f : 0.25f;
  BOOST_TEST(sess.run(mean, {{accuracy, scalar(mine)}}).item() == 0.5);
}

BOOST_AUTO_TEST_CASE(barrier) {
  dist::barrier();
  BOOST_TEST(dist::allreduce(scalar(1.0), dist::ReduceOp::sum).item() == 2.0);
}

BOOST_AUTO_TEST_SUITE_END()
