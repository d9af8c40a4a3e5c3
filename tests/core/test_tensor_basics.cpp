#include "helpers.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(tensor_basics)

BOOST_AUTO_TEST_CASE(factories_and_shapes) {
  Tensor z = zeros({2, 3});
  BOOST_TEST(z.shape() == Shape({2, 3}));
  BOOST_TEST(z.dtype() == float32);
  BOOST_TEST(z.numel() == 6);
  tft::check_close(ones({2}, int64), {1, 1});
  tft::check_close(full({3}, 2.5, float64), {2.5, 2.5, 2.5});
  tft::check_close(arange(0, 5, 2), {0, 2, 4});
  tft::check_close(arange(4, 0, -1.5, float64), {4, 2.5, 1});
  Tensor t = tensor({{1, 2, 3}, {4, 5, 6}});
  BOOST_TEST(t.shape() == Shape({2, 3}));
  tft::check_close(t, {1, 2, 3, 4, 5, 6});
  Tensor v = from_vector(std::vector<std::int64_t>{3, 1, 2}, {3});
  BOOST_TEST(v.dtype() == int64);
  BOOST_TEST(scalar(3.5).item<double>() == 3.5);
  BOOST_TEST(scalar(7, int32).shape().rank() == 0);
}

BOOST_AUTO_TEST_CASE(ragged_list_is_an_error) {
  TF_CHECK_THROWS_WITH(tensor({{1, 2}, {3}}), ShapeError, "ragged", "1 elements at depth 1 where 2");
}

BOOST_AUTO_TEST_CASE(copies_share_data_and_clone_does_not) {
  Tensor a = zeros({2});
  Tensor b = a;
  b.data<float>()[0] = 5;
  BOOST_TEST(a.data<float>()[0] == 5.0f);
  Tensor c = a.clone();
  c.data<float>()[0] = 1;
  BOOST_TEST(a.data<float>()[0] == 5.0f);
}

BOOST_AUTO_TEST_CASE(to_detach_and_typed_access) {
  Tensor a = tensor({1.7, -2.2});
  tft::check_close(a.to(int32), {1, -2});
  BOOST_TEST(a.to(float64).dtype() == float64);
  TF_CHECK_THROWS_WITH(a.data<double>(), DTypeError, "float32", "accessed as float64");
  Tensor x = ones({2}, float64);
  x.requires_grad_();
  Tensor y = x * 2.0;
  BOOST_TEST(y.requires_grad());
  Tensor d = y.detach();
  BOOST_TEST(!d.requires_grad());
  BOOST_TEST(d.raw_data() == y.raw_data());
  TF_CHECK_THROWS_WITH(scalar(1, int64).requires_grad_(), DTypeError, "int64");
  TF_CHECK_THROWS_WITH(a.item(), ShapeError, "[2]");
}

BOOST_AUTO_TEST_CASE(printing_is_numpy_style_with_shape_and_dtype) {
  BOOST_TEST(fmt::format("{}", tensor({{1, 2}, {3, 4}}, int32)) ==
             "tensor([[1, 2],\n        [3, 4]], shape=[2,2], dtype=int32)");
  BOOST_TEST(fmt::format("{}", tensor({0.5, -1.25})) == "tensor([  0.5, -1.25], shape=[2], dtype=float32)");
  BOOST_TEST(fmt::format("{}", scalar(3)) == "tensor(3, shape=[], dtype=float32)");
  std::ostringstream os;
  os << tensor({1, 0}, bool_);
  BOOST_TEST(os.str() == "tensor([ true, false], shape=[2], dtype=bool)");
}

BOOST_AUTO_TEST_CASE(random_is_seedable) {
  Generator g1(42), g2(42);
  Tensor a = random_normal({100}, 0, 1, float32, &g1);
  Tensor b = random_normal({100}, 0, 1, float32, &g2);
  BOOST_TEST(a.to_vector<float>() == b.to_vector<float>());
  Tensor t = truncated_normal({10000}, 1.0, 0.5, float64, &g1);
  BOOST_TEST(reduce_max(t).item() <= 2.0);
  BOOST_TEST(reduce_min(t).item() >= 0.0);
  BOOST_TEST(std::abs(reduce_mean(t).item() - 1.0) < 0.02);
  Tensor u = random_uniform({10000}, -2, 3, float64, &g1);
  BOOST_TEST(reduce_min(u).item() >= -2.0);
  BOOST_TEST(reduce_max(u).item() < 3.0);
  BOOST_TEST(std::abs(reduce_mean(u).item() - 0.5) < 0.05);
}

BOOST_AUTO_TEST_CASE(shape_errors) {
  TF_CHECK_THROWS_WITH(Shape({1, 2, 3, 4, 5, 6, 7, 8, 9}), ShapeError, "at most 8");
  BOOST_TEST(Shape({-1, 784}).str() == "[?,784]");
  TF_CHECK_THROWS_WITH(Tensor::empty({-1, 3}), ShapeError, "[?,3]");
}

BOOST_AUTO_TEST_CASE(sizes_never_overflow) {
  // Element counts beyond int64 are an error, never a wrapped-around count (a shape [2^32, 2^32]
  // used to have 0 elements, so zeros() returned a tensor of that shape with 0 bytes).
  const std::int64_t big = std::int64_t{1} << 32;
  TF_CHECK_THROWS_WITH(Shape({big, big}).numel(), ShapeError, "[4294967296,4294967296]",
                       "more elements than an int64 can count");
  TF_CHECK_THROWS_WITH(zeros({big, big}), ShapeError, "[4294967296,4294967296]");
  TF_CHECK_THROWS_WITH(Shape({4611686018427387905, 4}).numel(), ShapeError, "[4611686018427387905,4]");
  // A count that fits but whose bytes do not.
  TF_CHECK_THROWS_WITH(zeros({std::int64_t{1} << 62}), ShapeError, "[4611686018427387904]", "float32",
                       "more bytes than any machine holds");
  // Bytes that fit in the address space but not in memory: a tapeflow error saying how much.
  TF_CHECK_THROWS_WITH(zeros({std::int64_t{1} << 40}), MemoryError, "cannot allocate 4398046511104 bytes",
                       "[1099511627776]", "out of memory");
  // A zero anywhere: no elements, however large the other dimensions.
  BOOST_TEST(Shape({big, 0, big}).numel() == 0);
  BOOST_TEST(Shape({big, big, big, 0}).numel() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
