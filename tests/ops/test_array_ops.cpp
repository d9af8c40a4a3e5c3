// Shape and indexing ops: values (checked against numpy), gradchecks, and the error messages.
#include <functional>

#include "helpers.h"

using namespace tapeflow;

namespace {

using tft::grad_of_sum;

/// float64 0, 1, 2, ... in the given shape.
Tensor iota(const Shape& s) { return cast(reshape(arange(static_cast<double>(s.numel())), s), float64); }

void grad1(const std::function<Tensor(const Tensor&)>& f, const Shape& s) {
  tft::check_grad([&](std::span<const Tensor> in) { return f(in[0]); }, {tft::rand64(s)});
}

/// Flattens and joins differently weighted pieces, so a gradcheck sees every one of them.
Tensor join(const std::vector<Tensor>& pieces) {
  std::vector<Tensor> flat;
  for (std::size_t i = 0; i < pieces.size(); ++i)
    flat.push_back(reshape(pieces[i], {-1}) * static_cast<double>(i + 1));
  return concat(flat, 0);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(array_ops)

// ---------------------------------------------------------------------------- reshape and friends

BOOST_AUTO_TEST_CASE(reshape_values_and_inference) {
  Tensor x = arange(6);
  Tensor r = reshape(x, {2, -1});
  BOOST_TEST(r.shape() == Shape({2, 3}));
  tft::check_close(r, {0, 1, 2, 3, 4, 5});
  BOOST_TEST(r.raw_data() == x.raw_data());  // shares storage
  BOOST_TEST(reshape(r, {-1}).shape() == Shape({6}));
  BOOST_TEST(reshape(r, {3, 1, -1}).shape() == Shape({3, 1, 2}));
  BOOST_TEST(reshape(scalar(4), {1, 1}).shape() == Shape({1, 1}));
  BOOST_TEST(reshape(ones({1, 1}), {}).shape() == Shape{});
  BOOST_TEST(reshape(zeros({0, 3}), {-1, 3}).shape() == Shape({0, 3}));
  Tensor i = reshape(tensor({1, 2, 3, 4}, int64), {2, 2});
  BOOST_TEST(i.dtype() == int64);
}

BOOST_AUTO_TEST_CASE(reshape_gradcheck) {
  grad1([](const Tensor& t) { return reshape(t, {1, 1}); }, {});
  grad1([](const Tensor& t) { return reshape(t, {}); }, {1, 1});
  grad1([](const Tensor& t) { return reshape(t, {2, -1, 2}); }, {3, 4});
  grad1([](const Tensor& t) { return reshape(t, {4, 6}) * iota({4, 6}); }, {2, 3, 4});
}

BOOST_AUTO_TEST_CASE(reshape_errors) {
  TF_CHECK_THROWS_WITH(reshape(ones({2, 3}), {4, 2}), ShapeError, "reshape", "[2,3]", "6 elements", "[4,2]",
                       "8 elements");
  TF_CHECK_THROWS_WITH(reshape(ones({2, 3}), {4, -1}), ShapeError, "reshape", "[2,3]", "6 elements");
  TF_CHECK_THROWS_WITH(reshape(ones({2, 3}), {-1, -1}), ShapeError, "reshape", "only infer one");
}

BOOST_AUTO_TEST_CASE(transpose_values) {
  Tensor m = tensor({{1, 2, 3}, {4, 5, 6}});
  Tensor t = transpose(m);
  BOOST_TEST(t.shape() == Shape({3, 2}));
  tft::check_close(t, {1, 4, 2, 5, 3, 6});
  tft::check_close(transpose(m, {0, 1}), {1, 2, 3, 4, 5, 6});
  Tensor x = iota({2, 3, 4});
  Tensor p = transpose(x, {2, 0, 1});
  BOOST_TEST(p.shape() == Shape({4, 2, 3}));
  tft::check_close(p, {0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23});
  Tensor rev = transpose(x);  // reverses the dims
  BOOST_TEST(rev.shape() == Shape({4, 3, 2}));
  tft::check_close(rev, {0, 12, 4, 16, 8, 20, 1, 13, 5, 17, 9, 21, 2, 14, 6, 18, 10, 22, 3, 15, 7, 19, 11, 23});
  Tensor q = permute(cast(x, int32), {1, 0, -1});
  BOOST_TEST(q.dtype() == int32);
  BOOST_TEST(q.shape() == Shape({3, 2, 4}));
  tft::check_close(q, {0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7, 16, 17, 18, 19, 8, 9, 10, 11, 20, 21, 22, 23});
  tft::check_close(transpose(scalar(3)), {3});
}

BOOST_AUTO_TEST_CASE(transpose_gradcheck) {
  grad1([](const Tensor& t) { return transpose(t); }, {});
  grad1([](const Tensor& t) { return transpose(t); }, {1, 1});
  grad1([](const Tensor& t) { return transpose(t); }, {5});
  grad1([](const Tensor& t) { return transpose(t) * iota({4, 3}); }, {3, 4});
  grad1([](const Tensor& t) { return transpose(t, {2, 0, 1}) * iota({4, 2, 3}); }, {2, 3, 4});
  grad1([](const Tensor& t) { return permute(t, {0, 2, 1, 3}) * iota({2, 1, 3, 2}); }, {2, 3, 1, 2});
}

BOOST_AUTO_TEST_CASE(transpose_errors) {
  TF_CHECK_THROWS_WITH(transpose(ones({2, 3}), {0}), ShapeError, "transpose", "perm [0]", "[2,3]", "rank 2");
  TF_CHECK_THROWS_WITH(transpose(ones({2, 3}), {1, 1}), ValueError, "transpose", "[1,1]", "not a permutation");
  TF_CHECK_THROWS_WITH(transpose(ones({2, 3}), {0, 2}), ValueError, "transpose", "axis 2");
}

BOOST_AUTO_TEST_CASE(squeeze_and_expand_dims) {
  Tensor x = ones({1, 3, 1, 2});
  BOOST_TEST(squeeze(x).shape() == Shape({3, 2}));
  BOOST_TEST(squeeze(x, {2}).shape() == Shape({1, 3, 2}));
  BOOST_TEST(squeeze(x, {0, -2}).shape() == Shape({3, 2}));
  BOOST_TEST(squeeze(ones({1, 1})).shape() == Shape{});
  BOOST_TEST(squeeze(ones({2, 3})).shape() == Shape({2, 3}));
  tft::check_close(squeeze(reshape(tensor({1, 2}), {2, 1})), {1, 2});
  Tensor y = ones({2, 3});
  BOOST_TEST(expand_dims(y, 0).shape() == Shape({1, 2, 3}));
  BOOST_TEST(expand_dims(y, 1).shape() == Shape({2, 1, 3}));
  BOOST_TEST(expand_dims(y, 2).shape() == Shape({2, 3, 1}));
  BOOST_TEST(expand_dims(y, -1).shape() == Shape({2, 3, 1}));
  BOOST_TEST(expand_dims(y, -3).shape() == Shape({1, 2, 3}));
  BOOST_TEST(expand_dims(scalar(1), 0).shape() == Shape({1}));
  grad1([](const Tensor& t) { return squeeze(t); }, {1, 1});
  grad1([](const Tensor& t) { return squeeze(t, {1}); }, {3, 1, 4});
  grad1([](const Tensor& t) { return squeeze(t, {-1}); }, {1, 3, 1});
  grad1([](const Tensor& t) { return expand_dims(t, 0); }, {});
  grad1([](const Tensor& t) { return expand_dims(t, -1); }, {3, 4});
  TF_CHECK_THROWS_WITH(squeeze(ones({2, 1}), {0}), ShapeError, "squeeze", "axis 0", "[2,1]", "size is 2");
  TF_CHECK_THROWS_WITH(squeeze(ones({2, 1}), {2}), ValueError, "squeeze", "axis 2");
  TF_CHECK_THROWS_WITH(expand_dims(y, 4), ValueError, "expand_dims", "axis 4", "[-3, 2]");
}

// ---------------------------------------------------------------------------- concat, stack, split, slice

BOOST_AUTO_TEST_CASE(concat_values) {
  Tensor a = reshape(arange(6), {2, 3});
  Tensor b = reshape(arange(10, 14), {2, 2});
  Tensor c = concat({a, b}, 1);
  BOOST_TEST(c.shape() == Shape({2, 5}));
  tft::check_close(c, {0, 1, 2, 10, 11, 3, 4, 5, 12, 13});
  tft::check_close(concat({a, b}, -1), {0, 1, 2, 10, 11, 3, 4, 5, 12, 13});
  Tensor r = concat({a, ones({1, 3}), a}, 0);
  BOOST_TEST(r.shape() == Shape({5, 3}));
  tft::check_close(r, {0, 1, 2, 3, 4, 5, 1, 1, 1, 0, 1, 2, 3, 4, 5});
  tft::check_close(concat({tensor({1, 2}, int64), tensor({3}, int64)}, 0), {1, 2, 3});
  BOOST_TEST(concat({zeros({0, 2}), ones({1, 2})}, 0).shape() == Shape({1, 2}));
}

BOOST_AUTO_TEST_CASE(concat_gradcheck) {
  auto cat = [](int axis) {
    return [axis](std::span<const Tensor> in) { return concat(std::vector<Tensor>(in.begin(), in.end()), axis); };
  };
  tft::check_grad(cat(1), {tft::rand64({3, 4}), tft::rand64({3, 2})});
  tft::check_grad(cat(0), {tft::rand64({1, 1}, -1, 1, 1), tft::rand64({1, 1}, -1, 1, 2)});
  tft::check_grad(cat(1), {tft::rand64({2, 3, 4}), tft::rand64({2, 1, 4}), tft::rand64({2, 2, 4})});
  tft::check_grad(cat(-1), {tft::rand64({5}), tft::rand64({2})});
  // only some inputs require grad
  Tensor fixed = ones({3, 2}, float64);
  tft::check_grad([&](std::span<const Tensor> in) { return concat({fixed, in[0]}, 1); }, {tft::rand64({3, 4})});
}

BOOST_AUTO_TEST_CASE(concat_errors) {
  TF_CHECK_THROWS_WITH(concat({ones({2, 3}), ones({3, 3})}, 1), ShapeError, "concat", "axis 1",
                       "input 1 has shape [3,3]", "input 0 has shape [2,3]");
  TF_CHECK_THROWS_WITH(concat({ones({2, 3}), ones({2, 3, 1})}, 0), ShapeError, "concat", "[2,3,1]", "[2,3]");
  TF_CHECK_THROWS_WITH(concat({ones({2}), ones({2}, float64)}, 0), DTypeError, "concat", "float32", "float64");
  TF_CHECK_THROWS_WITH(concat({scalar(1), scalar(2)}, 0), ShapeError, "concat", "scalars", "stack");
  TF_CHECK_THROWS_WITH(concat({ones({2})}, 1), ValueError, "concat", "axis 1");
  TF_CHECK_THROWS_WITH(concat({}, 0), ValueError, "concat", "at least one");
}

BOOST_AUTO_TEST_CASE(stack_values_gradcheck_and_errors) {
  Tensor a = arange(3), b = arange(10, 13);
  Tensor s0 = stack({a, b});
  BOOST_TEST(s0.shape() == Shape({2, 3}));
  tft::check_close(s0, {0, 1, 2, 10, 11, 12});
  Tensor s1 = stack({a, b}, 1);
  BOOST_TEST(s1.shape() == Shape({3, 2}));
  tft::check_close(s1, {0, 10, 1, 11, 2, 12});
  BOOST_TEST(stack({a, b}, -1).shape() == Shape({3, 2}));
  Tensor ss = stack({scalar(1), scalar(2), scalar(3)});
  BOOST_TEST(ss.shape() == Shape({3}));
  tft::check_close(ss, {1, 2, 3});
  auto st = [](int axis) {
    return [axis](std::span<const Tensor> in) { return stack(std::vector<Tensor>(in.begin(), in.end()), axis); };
  };
  tft::check_grad(st(0), {tft::rand64({}, -1, 1, 1), tft::rand64({}, -1, 1, 2)});
  tft::check_grad(st(1), {tft::rand64({3, 4}, -1, 1, 1), tft::rand64({3, 4}, -1, 1, 2), tft::rand64({3, 4}, -1, 1, 3)});
  tft::check_grad(st(-1), {tft::rand64({1, 1}, -1, 1, 1), tft::rand64({1, 1}, -1, 1, 2)});
  TF_CHECK_THROWS_WITH(stack({ones({2}), ones({3})}), ShapeError, "stack", "input 1 has shape [3]", "[2]");
  TF_CHECK_THROWS_WITH(stack({ones({2}), ones({2})}, 2), ValueError, "stack", "axis 2");
}

BOOST_AUTO_TEST_CASE(split_values_gradcheck_and_errors) {
  Tensor x = reshape(arange(12), {6, 2});
  std::vector<Tensor> p = split(x, 3);
  BOOST_REQUIRE_EQUAL(p.size(), 3u);
  BOOST_TEST(p[1].shape() == Shape({2, 2}));
  tft::check_close(p[1], {4, 5, 6, 7});
  std::vector<Tensor> q = split(reshape(arange(15), {3, 5}), std::vector<std::int64_t>{2, -1, 1}, 1);
  BOOST_REQUIRE_EQUAL(q.size(), 3u);
  BOOST_TEST(q[0].shape() == Shape({3, 2}));
  BOOST_TEST(q[1].shape() == Shape({3, 2}));
  BOOST_TEST(q[2].shape() == Shape({3, 1}));
  tft::check_close(q[1], {2, 3, 7, 8, 12, 13});
  tft::check_close(q[2], {4, 9, 14});
  grad1([](const Tensor& t) { return join(split(t, 3)); }, {6, 4});
  grad1([](const Tensor& t) { return join(split(t, std::vector<std::int64_t>{2, -1, 1}, 1)); }, {3, 5});
  grad1([](const Tensor& t) { return join(split(t, 1, -1)); }, {1, 1});
  TF_CHECK_THROWS_WITH(split(ones({5, 2}), 3), ShapeError, "split", "[5,2]", "3 equal parts");
  TF_CHECK_THROWS_WITH(split(ones({5, 2}), std::vector<std::int64_t>{2, 2}), ShapeError, "split", "[2,2]",
                       "do not add up", "[5,2]");
  TF_CHECK_THROWS_WITH(split(ones({5, 2}), std::vector<std::int64_t>{-1, -1}), ValueError, "split", "[-1,-1]");
  TF_CHECK_THROWS_WITH(split(ones({5, 2}), 2, 2), ValueError, "split", "axis 2");
}

BOOST_AUTO_TEST_CASE(slice_values_gradient_and_errors) {
  Tensor x = iota({2, 3, 4});
  Tensor s = slice(x, {1, 0, 1}, {1, 3, 2});
  BOOST_TEST(s.shape() == Shape({1, 3, 2}));
  tft::check_close(s, {13, 14, 17, 18, 21, 22});
  tft::check_close(slice(x, {1, 2, 2}, {-1, -1, -1}), {22, 23});
  tft::check_close(slice(tensor({1, 2, 3, 4}, int32), {1}, {2}), {2, 3});
  BOOST_TEST(slice(x, {0, 0, 0}, {0, 3, 4}).shape() == Shape({0, 3, 4}));
  tft::check_close(grad_of_sum([](const Tensor& t) { return slice(t, {0, 1}, {2, 2}); }, iota({2, 4})),
                   {0, 1, 1, 0, 0, 1, 1, 0});
  grad1([](const Tensor& t) { return slice(t, {1, 1}, {2, -1}); }, {3, 4});
  grad1([](const Tensor& t) { return slice(t, {0, 0}, {1, 1}); }, {1, 1});
  grad1([](const Tensor& t) { return slice(t, {}, {}); }, {});
  grad1([](const Tensor& t) { return slice(t, {1, 0, 1}, {1, 3, 2}); }, {2, 3, 4});
  TF_CHECK_THROWS_WITH(slice(ones({3, 4}), {2, 0}, {2, 4}), ShapeError, "slice", "[2,0]", "[2,4]", "[3,4]",
                       "out of bounds");
  TF_CHECK_THROWS_WITH(slice(ones({3, 4}), {-1, 0}, {1, 1}), ShapeError, "slice", "out of bounds");
  TF_CHECK_THROWS_WITH(slice(ones({3, 4}), {0}, {1}), ShapeError, "slice", "2 entries", "[3,4]");
}

// ---------------------------------------------------------------------------- gather, one_hot, tile, broadcast_to

BOOST_AUTO_TEST_CASE(gather_values) {
  Tensor p = reshape(arange(12), {3, 4});
  Tensor g = gather(p, tensor({{2, 0}, {1, 2}}, int64));
  BOOST_TEST(g.shape() == Shape({2, 2, 4}));
  tft::check_close(g, {8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  Tensor h = gather(p, tensor({3, 1}, int32), 1);
  BOOST_TEST(h.shape() == Shape({3, 2}));
  tft::check_close(h, {3, 1, 7, 5, 11, 9});
  Tensor s = gather(p, scalar(1, int64));  // a scalar index drops the axis
  BOOST_TEST(s.shape() == Shape({4}));
  tft::check_close(s, {4, 5, 6, 7});
  tft::check_close(gather(p, scalar(2, int32), -1), {2, 6, 10});
  tft::check_close(gather(tensor({5, 6, 7}, int64), tensor({2, 2, 0}, int64)), {7, 7, 5});
}

BOOST_AUTO_TEST_CASE(gather_gradient_accumulates_repeated_indices) {
  Tensor idx = tensor({1, 1, 3}, int64);
  tft::check_close(grad_of_sum([&](const Tensor& t) { return gather(t, idx); }, zeros({4, 2}, float64)),
                   {0, 0, 2, 2, 0, 0, 1, 1});
  tft::check_grad([&](std::span<const Tensor> in) { return gather(in[0], idx); }, {tft::rand64({5, 3})});
  tft::check_grad([](std::span<const Tensor> in) { return gather(in[0], tensor({{2, 0}, {0, 3}}, int32), 1); },
                  {tft::rand64({3, 4})});
  tft::check_grad([](std::span<const Tensor> in) { return gather(in[0], scalar(0, int64)); }, {tft::rand64({1, 1})});
  tft::check_grad([](std::span<const Tensor> in) { return gather(in[0], scalar(3, int64)); }, {tft::rand64({5})});
  tft::check_grad([](std::span<const Tensor> in) { return gather(in[0], tensor({1, 0, 1}, int64), 1); },
                  {tft::rand64({2, 2, 3})});
}

BOOST_AUTO_TEST_CASE(gather_errors) {
  TF_CHECK_THROWS_WITH(gather(ones({3, 2}), tensor({0, 3}, int64)), ValueError, "gather", "index 3", "[0, 3)",
                       "[3,2]");
  TF_CHECK_THROWS_WITH(gather(ones({3, 2}), tensor({-1}, int32)), ValueError, "gather", "index -1");
  TF_CHECK_THROWS_WITH(gather(ones({3, 2}), tensor({2}, int32), 1), ValueError, "gather", "index 2", "[0, 2)");
  TF_CHECK_THROWS_WITH(gather(ones({3, 2}), tensor({0.0})), DTypeError, "gather", "int32 or int64", "float32");
  TF_CHECK_THROWS_WITH(gather(ones({3, 2}), tensor({0}, int64), 2), ValueError, "gather", "axis 2");
}

BOOST_AUTO_TEST_CASE(one_hot_values) {
  Tensor o = one_hot(tensor({0, 2, -1, 3}, int64), 3);
  BOOST_TEST(o.shape() == Shape({4, 3}));
  BOOST_TEST(o.dtype() == float32);
  // out-of-range indices give a row of off_value (TensorFlow)
  tft::check_close(o, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0});
  Tensor p = one_hot(tensor({{1, 0}, {0, 1}}, int32), 2, 5, -1, int32);
  BOOST_TEST(p.shape() == Shape({2, 2, 2}));
  BOOST_TEST(p.dtype() == int32);
  tft::check_close(p, {-1, 5, 5, -1, 5, -1, -1, 5});
  tft::check_close(one_hot(scalar(1, uint8), 2), {0, 1});
  TF_CHECK_THROWS_WITH(one_hot(tensor({1.0}), 3), DTypeError, "one_hot", "float32");
  TF_CHECK_THROWS_WITH(one_hot(tensor({1}, int32), -2), ValueError, "one_hot", "depth", "-2");
}

BOOST_AUTO_TEST_CASE(tile_values_gradcheck_and_errors) {
  Tensor t = tile(tensor({{1, 2}, {3, 4}}), {2, 3});
  BOOST_TEST(t.shape() == Shape({4, 6}));
  tft::check_close(t, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
  tft::check_close(tile(tensor({1, 2, 3}, int64), {2}), {1, 2, 3, 1, 2, 3});
  BOOST_TEST(tile(ones({2}), {0}).shape() == Shape({0}));
  tft::check_close(grad_of_sum([](const Tensor& x) { return tile(x, {3, 1}); }, zeros({1, 2}, float64)), {3, 3});
  grad1([](const Tensor& x) { return tile(x, {2, 1}) * iota({4, 3}); }, {2, 3});
  grad1([](const Tensor& x) { return tile(x, {3, 2}) * iota({3, 2}); }, {1, 1});
  grad1([](const Tensor& x) { return tile(x, {1, 4, 2}) * iota({2, 4, 6}); }, {2, 1, 3});
  grad1([](const Tensor& x) { return tile(x, {}); }, {});
  TF_CHECK_THROWS_WITH(tile(ones({2, 3}), {2}), ShapeError, "tile", "[2]", "2 entries", "[2,3]");
  TF_CHECK_THROWS_WITH(tile(ones({2}), {-1}), ValueError, "tile", "[-1]");
  TF_CHECK_THROWS_WITH(tile(ones({1, 1, 1, 1, 1}), {1, 1, 1, 1, 1}), ShapeError, "tile", "rank 5", "at most 4");
}

BOOST_AUTO_TEST_CASE(broadcast_to_values_gradcheck_and_errors) {
  Tensor s = broadcast_to(scalar(7), {2, 3});
  BOOST_TEST(s.shape() == Shape({2, 3}));
  tft::check_close(s, {7, 7, 7, 7, 7, 7});
  tft::check_close(broadcast_to(tensor({1, 2, 3}), {2, 3}), {1, 2, 3, 1, 2, 3});
  tft::check_close(broadcast_to(reshape(tensor({1, 2}, int32), {2, 1}), {2, 2}), {1, 1, 2, 2});
  tft::check_close(broadcast_to(reshape(tensor({1, 2}), {2, 1}), {2, 2, 3}), {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2});
  grad1([](const Tensor& x) { return broadcast_to(x, {2, 3}); }, {});
  grad1([](const Tensor& x) { return broadcast_to(x, {3, 4}); }, {1, 1});
  grad1([](const Tensor& x) { return broadcast_to(x, {3, 4}) * iota({3, 4}); }, {4});
  grad1([](const Tensor& x) { return broadcast_to(x, {2, 3, 4}) * iota({2, 3, 4}); }, {3, 1});
  TF_CHECK_THROWS_WITH(broadcast_to(ones({3}), {2, 4}), ShapeError, "broadcast_to", "[3]", "[2,4]");
  TF_CHECK_THROWS_WITH(broadcast_to(ones({2, 3}), {3}), ShapeError, "broadcast_to", "[2,3]", "[3]");
  TF_CHECK_THROWS_WITH(broadcast_to(ones({3, 1}), {1, 3}), ShapeError, "broadcast_to", "[3,1]", "[1,3]");
}

BOOST_AUTO_TEST_SUITE_END()
