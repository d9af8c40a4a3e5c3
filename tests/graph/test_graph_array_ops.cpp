// Shape and indexing ops in graph mode: static shapes with unknown dims, node types, runs that
// give exactly the eager result, and shape errors at build time.
#include "helpers.h"
#include "tapeflow/graph.h"

using namespace tapeflow;

namespace {

/// float32 0, 1, 2, ... in the given shape.
Tensor iota(const Shape& s) { return reshape(arange(static_cast<double>(s.numel())), s); }

using tft::check_same;
using tft::type_of;

}  // namespace

BOOST_AUTO_TEST_SUITE(graph_array_ops)

// ---------------------------------------------------------------------------- reshape and friends

BOOST_AUTO_TEST_CASE(reshape_infers_shapes_with_unknown_dims) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 28, 28, 1}, "images");
  Tensor flat = reshape(x, {-1, 784});
  BOOST_TEST(flat.shape().str() == "[?,784]");
  BOOST_TEST(type_of(flat) == "Reshape");
  BOOST_TEST(flat.name() == "Reshape:0");
  BOOST_TEST(flat.dtype() == float32);
  Tensor back = reshape(flat, {-1, 28, 28, 1});
  BOOST_TEST(back.shape().str() == "[?,28,28,1]");
  BOOST_TEST(reshape(x, {-1}).shape().str() == "[?]");
  BOOST_TEST(reshape(x, {-1, 14, 56}).shape().str() == "[?,14,56]");
  // An input with unknown dims and a fully known target: taken as is (checked when run).
  BOOST_TEST(reshape(placeholder(float32, {-1, 3}), {6, 2}).shape().str() == "[6,2]");
  BOOST_TEST(reshape(placeholder(float32, {-1, -1}), {4, -1}).shape().str() == "[4,?]");
  // A zero dimension means no elements, whatever the unknown ones are (TensorFlow: 0 * ? = 0).
  BOOST_TEST(reshape(placeholder(float32, {-1, 0}), {-1, 5}).shape().str() == "[0,5]");
  // Fully known graph tensors infer as in eager mode, and a same-shape reshape is still a node.
  Tensor k = placeholder(int64, {2, 3});
  Tensor r = reshape(k, {3, -1});
  BOOST_TEST(r.shape().str() == "[3,2]");
  BOOST_TEST(r.dtype() == int64);
  BOOST_TEST(type_of(reshape(k, {2, 3})) == "Reshape");

  Session sess(g);
  Tensor images = iota({2, 28, 28, 1});
  check_same(sess.run(flat, {{x, images}}), reshape(images, {-1, 784}));
  check_same(sess.run(back, {{x, images}}), images);
  Tensor kv = cast(iota({2, 3}), int64);
  check_same(sess.run(r, {{k, kv}}), reshape(kv, {3, -1}));
}

BOOST_AUTO_TEST_CASE(reshape_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3}, "x");
  TF_CHECK_THROWS_WITH(reshape(x, {2, 2}), ShapeError, "reshape", "[?,3]", "[2,2]", "4 elements", "multiple of 3");
  TF_CHECK_THROWS_WITH(reshape(x, {-1, -1}), ShapeError, "reshape", "only infer one", "[?,3]");
  TF_CHECK_THROWS_WITH(reshape(x, {0, -1}), ShapeError, "reshape", "[0,-1]", "[?,3]", "0 elements");
  TF_CHECK_THROWS_WITH(reshape(placeholder(float32, {-1, 0}), {2}), ShapeError, "reshape", "[?,0]", "[2]");
  TF_CHECK_THROWS_WITH(reshape(placeholder(float32, {2, 3}), {4, 2}), ShapeError, "reshape", "[2,3]", "6 elements",
                       "[4,2]", "8 elements");
  // A batch that does not fit is reported when the graph runs.
  Tensor y = reshape(x, {-1, 2});
  BOOST_TEST(y.shape().str() == "[?,2]");
  Session sess(g);
  check_same(sess.run(y, {{x, iota({2, 3})}}), iota({3, 2}));
  TF_CHECK_THROWS_WITH(sess.run(y, {{x, iota({3, 3})}}), ShapeError, "reshape", "[3,3]", "9 elements");
}

BOOST_AUTO_TEST_CASE(transpose_static_shape_and_run) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3, 4});
  Tensor p = transpose(x, {2, 0, 1});
  BOOST_TEST(p.shape().str() == "[4,?,3]");
  BOOST_TEST(type_of(p) == "Transpose");
  Tensor rev = transpose(x);
  BOOST_TEST(rev.shape().str() == "[4,3,?]");
  Tensor neg_axes = permute(x, {-1, 0, 1});
  BOOST_TEST(neg_axes.shape().str() == "[4,?,3]");
  Tensor m = placeholder(int32, {-1, 5});
  Tensor mt = transpose(m);
  BOOST_TEST(mt.shape().str() == "[5,?]");
  BOOST_TEST(mt.dtype() == int32);

  Session sess(g);
  Tensor xv = iota({2, 3, 4});
  auto out = sess.run({p, rev, neg_axes}, {{x, xv}});
  check_same(out[0], transpose(xv, {2, 0, 1}));
  check_same(out[1], transpose(xv));
  check_same(out[2], transpose(xv, {2, 0, 1}));
  Tensor mv = cast(iota({3, 5}), int32);
  check_same(sess.run(mt, {{m, mv}}), transpose(mv));

  TF_CHECK_THROWS_WITH(transpose(x, {0}), ShapeError, "transpose", "perm [0]", "[?,3,4]", "rank 3");
  TF_CHECK_THROWS_WITH(transpose(x, {1, 1, 0}), ValueError, "transpose", "[1,1,0]", "not a permutation");
  TF_CHECK_THROWS_WITH(transpose(x, {0, 1, 3}), ValueError, "transpose", "axis 3");
}

BOOST_AUTO_TEST_CASE(squeeze_static_shape_run_and_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 1, 3, 1}, "x");
  Tensor s = squeeze(x, {1, 3});
  BOOST_TEST(s.shape().str() == "[?,3]");
  BOOST_TEST(type_of(s) == "Squeeze");
  BOOST_TEST(squeeze(x, {-1}).shape().str() == "[?,1,3]");
  // Squeezing an unknown dim is allowed; it must be 1 when the graph runs.
  Tensor s0 = squeeze(x, {0, 1});
  BOOST_TEST(s0.shape().str() == "[3,1]");
  BOOST_TEST(squeeze(placeholder(float32, {1, 2, 1})).shape().str() == "[2]");

  Session sess(g);
  Tensor xv = iota({2, 1, 3, 1});
  check_same(sess.run(s, {{x, xv}}), squeeze(xv, {1, 3}));
  check_same(sess.run(s0, {{x, iota({1, 1, 3, 1})}}), iota({3, 1}));
  TF_CHECK_THROWS_WITH(sess.run(s0, {{x, xv}}), ShapeError, "squeeze", "axis 0", "[2,1,3,1]", "size is 2");

  TF_CHECK_THROWS_WITH(squeeze(x, {2}), ShapeError, "squeeze", "axis 2", "[?,1,3,1]", "size is 3");
  TF_CHECK_THROWS_WITH(squeeze(x, {4}), ValueError, "squeeze", "axis 4");
  // Without axes, which dims go would depend on the unknown one: TensorFlow's rank becomes unknown.
  TF_CHECK_THROWS_WITH(squeeze(x), ShapeError, "squeeze", "[?,1,3,1]", "unknown dimension", "name the axes");
}

BOOST_AUTO_TEST_CASE(expand_dims_static_shape_and_run) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3});
  Tensor e0 = expand_dims(x, 0), e1 = expand_dims(x, 1), e2 = expand_dims(x, -1);
  BOOST_TEST(e0.shape().str() == "[1,?,3]");
  BOOST_TEST(e1.shape().str() == "[?,1,3]");
  BOOST_TEST(e2.shape().str() == "[?,3,1]");
  BOOST_TEST(type_of(e1) == "ExpandDims");
  Tensor sc = expand_dims(placeholder(float64, {}), 0);
  BOOST_TEST(sc.shape().str() == "[1]");
  BOOST_TEST(sc.dtype() == float64);

  Session sess(g);
  Tensor xv = iota({2, 3});
  auto out = sess.run({e0, e1, e2}, {{x, xv}});
  check_same(out[0], expand_dims(xv, 0));
  check_same(out[1], expand_dims(xv, 1));
  check_same(out[2], expand_dims(xv, -1));
  TF_CHECK_THROWS_WITH(expand_dims(x, 3), ValueError, "expand_dims", "axis 3", "[-3, 2]");
}

// ---------------------------------------------------------------------------- concat, stack, split, slice

BOOST_AUTO_TEST_CASE(concat_static_shapes) {
  Graph g;
  auto scope = g.as_default();
  Tensor a = placeholder(float32, {-1, 3}, "a"), b = placeholder(float32, {-1, 2}, "b");
  Tensor c = concat({a, b}, 1);
  BOOST_TEST(c.shape().str() == "[?,5]");
  BOOST_TEST(type_of(c) == "ConcatV2");
  BOOST_TEST(c.impl()->node->inputs().size() == 2u);
  // An unknown size along the axis makes the output's unknown.
  BOOST_TEST(concat({a, placeholder(float32, {2, 3})}, 0).shape().str() == "[?,3]");
  // An unknown dim off the axis takes the size another input knows.
  BOOST_TEST(concat({placeholder(float32, {2, -1}), placeholder(float32, {4, 3})}, 0).shape().str() == "[6,3]");
  BOOST_TEST(concat({placeholder(float32, {-1, -1}), b}, -1).shape().str() == "[?,?]");
  // Eager inputs become constants of the graph.
  Tensor with_const = concat({a, ones({1, 3})}, 0);
  BOOST_TEST(with_const.shape().str() == "[?,3]");
  BOOST_TEST(with_const.impl()->node->inputs()[1].impl()->node->type() == "Const");

  Session sess(g);
  Tensor av = iota({2, 3}), bv = iota({2, 2}) + 100.0;
  auto out = sess.run({c, with_const}, {{a, av}, {b, bv}});
  check_same(out[0], concat({av, bv}, 1));
  check_same(out[1], concat({av, ones({1, 3})}, 0));
  Tensor i64 = concat({placeholder(int64, {-1}, "i"), tensor({7, 8}, int64)}, 0);
  BOOST_TEST(i64.shape().str() == "[?]");
  BOOST_TEST(i64.dtype() == int64);
  check_same(sess.run(i64, {{g.get_tensor_by_name("i:0"), tensor({1, 2, 3}, int64)}}),
             tensor({1, 2, 3, 7, 8}, int64));
}

BOOST_AUTO_TEST_CASE(concat_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor a = placeholder(float32, {-1, 3}), b = placeholder(float32, {-1, 2});
  TF_CHECK_THROWS_WITH(concat({a, b}, 0), ShapeError, "concat", "axis 0", "input 1 has shape [?,2]",
                       "input 0 has shape [?,3]");
  // The message names the input that fixed the size.
  Tensor any = placeholder(float32, {-1, -1}), three = placeholder(float32, {1, 3}), four = placeholder(float32, {1, 4});
  TF_CHECK_THROWS_WITH(concat({any, three, four}, 0), ShapeError, "concat", "input 2 has shape [1,4]",
                       "input 1 has shape [1,3]");
  TF_CHECK_THROWS_WITH(concat({a, placeholder(float32, {-1, 3, 1})}, 0), ShapeError, "concat", "[?,3,1]", "[?,3]");
  TF_CHECK_THROWS_WITH(concat({a, placeholder(float64, {-1, 3})}, 0), DTypeError, "concat", "float32", "float64");
  TF_CHECK_THROWS_WITH(concat({placeholder(float32, {}), placeholder(float32, {})}, 0), ShapeError, "concat", "scalars");
  TF_CHECK_THROWS_WITH(concat({a, b}, 2), ValueError, "concat", "axis 2");
}

BOOST_AUTO_TEST_CASE(stack_static_shapes_run_and_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor a = placeholder(float32, {-1, 3}, "a"), b = placeholder(float32, {-1, 3}, "b");
  Tensor s0 = stack({a, b}), s1 = stack({a, b}, 1), s2 = stack({a, b, a}, -1);
  BOOST_TEST(s0.shape().str() == "[2,?,3]");
  BOOST_TEST(s1.shape().str() == "[?,2,3]");
  BOOST_TEST(s2.shape().str() == "[?,3,3]");
  BOOST_TEST(type_of(s0) == "Pack");
  BOOST_TEST(stack({placeholder(float32, {-1, 3}), placeholder(float32, {2, -1})}).shape().str() == "[2,2,3]");
  Tensor with_const = stack({a, ones({2, 3})});
  BOOST_TEST(with_const.shape().str() == "[2,2,3]");
  Tensor scalars = stack({placeholder(int32, {}, "p"), scalar(5, int32)});
  BOOST_TEST(scalars.shape().str() == "[2]");
  BOOST_TEST(scalars.dtype() == int32);

  Session sess(g);
  Tensor av = iota({2, 3}), bv = iota({2, 3}) * 10.0;
  auto out = sess.run({s0, s1, s2, with_const}, {{a, av}, {b, bv}});
  check_same(out[0], stack({av, bv}));
  check_same(out[1], stack({av, bv}, 1));
  check_same(out[2], stack({av, bv, av}, -1));
  check_same(out[3], stack({av, ones({2, 3})}));
  check_same(sess.run(scalars, {{g.get_tensor_by_name("p:0"), scalar(4, int32)}}), tensor({4, 5}, int32));
  // The unknown dims must agree when the graph runs.
  TF_CHECK_THROWS_WITH(sess.run(s0, {{a, av}, {b, iota({3, 3})}}), ShapeError, "stack", "[3,3]", "[2,3]");

  TF_CHECK_THROWS_WITH(stack({a, placeholder(float32, {-1, 4})}), ShapeError, "stack", "input 1 has shape [?,4]",
                       "input 0 has shape [?,3]");
  TF_CHECK_THROWS_WITH(stack({a, placeholder(float32, {-1})}), ShapeError, "stack", "[?]", "[?,3]");
  TF_CHECK_THROWS_WITH(stack({a, placeholder(int32, {-1, 3})}), DTypeError, "stack", "float32", "int32");
  TF_CHECK_THROWS_WITH(stack({a, b}, 3), ValueError, "stack", "axis 3");
}

BOOST_AUTO_TEST_CASE(split_multi_output_nodes) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 6}, "x");
  std::vector<Tensor> p = split(x, 3, 1);
  BOOST_REQUIRE_EQUAL(p.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(p[static_cast<std::size_t>(i)].shape().str() == "[?,2]");
    BOOST_TEST(p[static_cast<std::size_t>(i)].impl()->output_index == i);
    BOOST_TEST(p[static_cast<std::size_t>(i)].impl()->node == p[0].impl()->node);
  }
  BOOST_TEST(type_of(p[0]) == "Split");
  BOOST_TEST(p[0].impl()->node->num_outputs() == 3);
  // Splitting an unknown dim gives unknown parts.
  std::vector<Tensor> rows = split(x, 2);
  BOOST_TEST(rows[1].shape().str() == "[?,6]");
  std::vector<Tensor> q = split(x, std::vector<std::int64_t>{1, -1, 2}, 1);
  BOOST_REQUIRE_EQUAL(q.size(), 3u);
  BOOST_TEST(type_of(q[0]) == "SplitV");
  BOOST_TEST(q[0].shape().str() == "[?,1]");
  BOOST_TEST(q[1].shape().str() == "[?,3]");
  BOOST_TEST(q[2].shape().str() == "[?,2]");
  std::vector<Tensor> r = split(x, std::vector<std::int64_t>{2, -1}, 0);
  BOOST_TEST(r[0].shape().str() == "[2,6]");
  BOOST_TEST(r[1].shape().str() == "[?,6]");

  Session sess(g);
  Tensor xv = iota({4, 6});
  auto out = sess.run({p[0], p[1], p[2], q[1], r[0], r[1], rows[1]}, {{x, xv}});
  std::vector<Tensor> ep = split(xv, 3, 1), eq = split(xv, std::vector<std::int64_t>{1, -1, 2}, 1),
                      er = split(xv, std::vector<std::int64_t>{2, -1}, 0), erows = split(xv, 2);
  check_same(out[0], ep[0]);
  check_same(out[1], ep[1]);
  check_same(out[2], ep[2]);
  check_same(out[3], eq[1]);
  check_same(out[4], er[0]);
  check_same(out[5], er[1]);
  check_same(out[6], erows[1]);
  // An unknown dim that does not split evenly fails when the graph runs.
  TF_CHECK_THROWS_WITH(sess.run(rows[0], {{x, iota({3, 6})}}), ShapeError, "split", "[3,6]", "2 equal parts");
}

BOOST_AUTO_TEST_CASE(split_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 6});
  TF_CHECK_THROWS_WITH(split(x, 4, 1), ShapeError, "split", "dimension 1 (= 6)", "[?,6]", "4 equal parts");
  TF_CHECK_THROWS_WITH(split(x, 0, 0), ShapeError, "split", "dimension 0 (= ?)", "[?,6]", "0 equal parts");
  TF_CHECK_THROWS_WITH(split(x, std::vector<std::int64_t>{2, 2}, 1), ShapeError, "split", "[2,2]", "do not add up",
                       "[?,6]");
  TF_CHECK_THROWS_WITH(split(x, std::vector<std::int64_t>{2, 5, -1}, 1), ShapeError, "split", "do not add up");
  TF_CHECK_THROWS_WITH(split(x, std::vector<std::int64_t>{-1, -1}, 0), ValueError, "split", "[-1,-1]");
  TF_CHECK_THROWS_WITH(split(x, 2, 2), ValueError, "split", "axis 2");
}

BOOST_AUTO_TEST_CASE(slice_static_shapes_run_and_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 4}, "x");
  Tensor a = slice(x, {1, 1}, {-1, 2});
  BOOST_TEST(a.shape().str() == "[?,2]");  // size -1 over an unknown dim
  BOOST_TEST(type_of(a) == "Slice");
  Tensor b = slice(x, {0, 1}, {2, -1});
  BOOST_TEST(b.shape().str() == "[2,3]");
  Tensor c = slice(x, {0, 4}, {-1, 0});
  BOOST_TEST(c.shape().str() == "[?,0]");

  Session sess(g);
  Tensor xv = iota({3, 4});
  auto out = sess.run({a, b, c}, {{x, xv}});
  check_same(out[0], slice(xv, {1, 1}, {-1, 2}));
  check_same(out[1], slice(xv, {0, 1}, {2, -1}));
  check_same(out[2], slice(xv, {0, 4}, {-1, 0}));
  TF_CHECK_THROWS_WITH(sess.run(b, {{x, iota({1, 4})}}), ShapeError, "slice", "[1,4]", "out of bounds");

  TF_CHECK_THROWS_WITH(slice(x, {0, 3}, {1, 2}), ShapeError, "slice", "[0,3]", "[1,2]", "[?,4]", "out of bounds");
  TF_CHECK_THROWS_WITH(slice(x, {0, 5}, {1, -1}), ShapeError, "slice", "[?,4]", "out of bounds");
  TF_CHECK_THROWS_WITH(slice(x, {-1, 0}, {1, 1}), ShapeError, "slice", "out of bounds");
  TF_CHECK_THROWS_WITH(slice(x, {0, 0}, {-2, 1}), ShapeError, "slice", "[-2,1]", "out of bounds");
  TF_CHECK_THROWS_WITH(slice(x, {0}, {1}), ShapeError, "slice", "2 entries", "[?,4]");
}

// ---------------------------------------------------------------------------- gather, one_hot, tile, broadcast_to

BOOST_AUTO_TEST_CASE(gather_static_shapes_and_run) {
  Graph g;
  auto scope = g.as_default();
  Tensor params = placeholder(float32, {-1, 4}, "params");
  Tensor idx = placeholder(int64, {-1}, "idx");
  Tensor rows = gather(params, idx);
  BOOST_TEST(rows.shape().str() == "[?,4]");
  BOOST_TEST(type_of(rows) == "GatherV2");
  BOOST_TEST(rows.dtype() == float32);
  Tensor cols = gather(params, idx, 1);
  BOOST_TEST(cols.shape().str() == "[?,?]");
  Tensor fixed = gather(params, tensor({{0, 3}, {1, 2}}, int32), -1);
  BOOST_TEST(fixed.shape().str() == "[?,2,2]");
  Tensor one = gather(placeholder(int32, {5, -1}, "p2"), scalar(1, int64));
  BOOST_TEST(one.shape().str() == "[?]");
  BOOST_TEST(one.dtype() == int32);

  Session sess(g);
  Tensor pv = iota({3, 4});
  Tensor iv = tensor({2, 0, 2}, int64);
  auto out = sess.run({rows, cols, fixed}, {{params, pv}, {idx, iv}});
  check_same(out[0], gather(pv, iv));
  check_same(out[1], gather(pv, iv, 1));
  check_same(out[2], gather(pv, tensor({{0, 3}, {1, 2}}, int32), -1));
  Tensor p2v = cast(iota({5, 2}), int32);
  check_same(sess.run(one, {{g.get_tensor_by_name("p2:0"), p2v}}), gather(p2v, scalar(1, int64)));
  // Fed indices are checked when the graph runs.
  TF_CHECK_THROWS_WITH(sess.run(rows, {{params, pv}, {idx, tensor({1, 3}, int64)}}), ValueError, "gather", "index 3",
                       "[0, 3)");
}

BOOST_AUTO_TEST_CASE(gather_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor params = placeholder(float32, {-1, 4});
  TF_CHECK_THROWS_WITH(gather(params, placeholder(float32, {-1})), DTypeError, "gather", "int32 or int64", "float32",
                       "[?]");
  TF_CHECK_THROWS_WITH(gather(params, placeholder(int32, {2}), 2), ValueError, "gather", "axis 2");
  // Concrete indices into a known axis are checked while building.
  TF_CHECK_THROWS_WITH(gather(params, tensor({0, 4}, int64), 1), ValueError, "gather", "index 4", "[0, 4)", "[?,4]");
  BOOST_TEST(gather(params, tensor({0, 4}, int64)).shape().str() == "[2,4]");  // axis 0 is unknown: checked at run
}

BOOST_AUTO_TEST_CASE(one_hot_static_shapes_run_and_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor labels = placeholder(int64, {-1}, "labels");
  Tensor o = one_hot(labels, 5);
  BOOST_TEST(o.shape().str() == "[?,5]");
  BOOST_TEST(o.dtype() == float32);
  BOOST_TEST(type_of(o) == "OneHot");
  Tensor p = one_hot(placeholder(int32, {-1, 2}, "pairs"), 3, 2, -1, int64);
  BOOST_TEST(p.shape().str() == "[?,2,3]");
  BOOST_TEST(p.dtype() == int64);

  Session sess(g);
  Tensor lv = tensor({0, 4, -1, 7, 2}, int64);
  check_same(sess.run(o, {{labels, lv}}), one_hot(lv, 5));
  Tensor pv = tensor({{1, 0}, {2, 5}}, int32);
  check_same(sess.run(p, {{g.get_tensor_by_name("pairs:0"), pv}}), one_hot(pv, 3, 2, -1, int64));

  TF_CHECK_THROWS_WITH(one_hot(placeholder(float32, {-1}), 3), DTypeError, "one_hot", "float32", "[?]");
  TF_CHECK_THROWS_WITH(one_hot(labels, -1), ValueError, "one_hot", "depth", "-1");
}

BOOST_AUTO_TEST_CASE(tile_static_shapes_run_and_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3}, "x");
  Tensor t = tile(x, {2, 2});
  BOOST_TEST(t.shape().str() == "[?,6]");
  BOOST_TEST(type_of(t) == "Tile");
  Tensor z = tile(x, {0, 1});
  BOOST_TEST(z.shape().str() == "[0,3]");  // TensorFlow: 0 * ? = 0
  Tensor i = tile(placeholder(int64, {2}, "i"), {3});
  BOOST_TEST(i.shape().str() == "[6]");
  BOOST_TEST(i.dtype() == int64);

  Session sess(g);
  Tensor xv = iota({2, 3});
  auto out = sess.run({t, z}, {{x, xv}});
  check_same(out[0], tile(xv, {2, 2}));
  check_same(out[1], tile(xv, {0, 1}));
  check_same(sess.run(i, {{g.get_tensor_by_name("i:0"), tensor({4, 5}, int64)}}), tensor({4, 5, 4, 5, 4, 5}, int64));

  TF_CHECK_THROWS_WITH(tile(x, {2}), ShapeError, "tile", "[2]", "2 entries", "[?,3]");
  TF_CHECK_THROWS_WITH(tile(x, {1, -2}), ValueError, "tile", "[1,-2]", ">= 0");
  TF_CHECK_THROWS_WITH(tile(placeholder(float32, {-1, 1, 1, 1, 1}), {1, 1, 1, 1, 1}), ShapeError, "tile", "rank 5");
}

BOOST_AUTO_TEST_CASE(broadcast_to_static_shapes_run_and_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 1}, "x");
  Tensor b = broadcast_to(x, {4, 3});
  BOOST_TEST(b.shape().str() == "[4,3]");
  BOOST_TEST(type_of(b) == "BroadcastTo");
  Tensor v = placeholder(int32, {3}, "v");
  Tensor bv = broadcast_to(v, {2, 2, 3});
  BOOST_TEST(bv.shape().str() == "[2,2,3]");
  BOOST_TEST(bv.dtype() == int32);

  Session sess(g);
  Tensor xv = iota({4, 1});
  check_same(sess.run(b, {{x, xv}}), broadcast_to(xv, {4, 3}));
  check_same(sess.run(b, {{x, iota({1, 1}) + 2.0}}), full({4, 3}, 2.0));
  Tensor vv = tensor({1, 2, 3}, int32);
  check_same(sess.run(bv, {{v, vv}}), broadcast_to(vv, {2, 2, 3}));
  TF_CHECK_THROWS_WITH(sess.run(b, {{x, iota({2, 1})}}), ShapeError, "broadcast_to", "[2,1]", "[4,3]");

  TF_CHECK_THROWS_WITH(broadcast_to(placeholder(float32, {-1, 2}), {4, 3}), ShapeError, "broadcast_to", "[?,2]",
                       "[4,3]");
  TF_CHECK_THROWS_WITH(broadcast_to(x, {3}), ShapeError, "broadcast_to", "[?,1]", "[3]");
  TF_CHECK_THROWS_WITH(broadcast_to(x, {-1, 3}), ShapeError, "broadcast_to", "[?,3]", "fully known");
}

// ---------------------------------------------------------------------------- composed

BOOST_AUTO_TEST_CASE(array_ops_compose_into_a_graph_that_gives_the_eager_loss) {
  // A small pipeline of array ops between placeholders and a loss: a run gives the eager value.
  Graph g;
  auto scope = g.as_default();
  Tensor images = placeholder(float32, {-1, 2, 2, 1}, "images");
  Tensor labels = placeholder(int64, {-1}, "labels");
  Tensor w = Variable(reshape(arange(12), {4, 3}) / 10.0, "w");
  auto build = [](const Tensor& im, const Tensor& lb, const Tensor& wt) {
    Tensor flat = reshape(im, {-1, 4});
    Tensor logits = matmul(concat(split(flat, 2, 1), 1), wt);
    Tensor picked = reduce_sum(logits * one_hot(lb, 3), {1});
    return reduce_mean(square(picked - reduce_max(transpose(logits), {0})));
  };
  Tensor loss = build(images, labels, w);
  BOOST_TEST(loss.shape().str() == "[]");
  Session sess(g);
  sess.run(global_variables_initializer());
  Tensor iv = iota({3, 2, 2, 1}) / 7.0, lv = tensor({2, 0, 1}, int64);
  Tensor wv = reshape(arange(12), {4, 3}) / 10.0;
  check_same(sess.run(loss, {{images, iv}, {labels, lv}}), build(iv, lv, wv));
}

BOOST_AUTO_TEST_SUITE_END()
