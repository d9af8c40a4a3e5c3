// The ops of transformers and LSTMs in graph mode (sin cos erf log1p expm1 round, the logical ops,
// cumsum, top_k, pad, band_part, unsorted_segment_sum, reduce_variance / reduce_std, norm,
// broadcast matmul, einsum): built from placeholders with unknown dims, node types and static
// shapes, runs that give exactly the eager result, and tf.gradients through each that gives
// exactly eager autograd's.
#include <functional>
#include <limits>

#include "helpers.h"
#include "ops/reference.h"
#include "tapeflow/graph.h"

using namespace tapeflow;

namespace {

using tft::check_same;
using tft::type_of;

using Unary = std::function<Tensor(const Tensor&)>;

/// The gradient of sum(f(x)^2) at xv, eagerly.
Tensor eager_grad(const Unary& f, const Tensor& xv) {
  Tensor x = xv.clone().requires_grad_();
  return autograd::grad({reduce_sum(square(f(x)))}, {x})[0];
}

struct Case {
  const char* what;
  const char* type;         // the type of the node f builds last
  Shape placeholder_shape;  // with unknown dims
  const char* static_shape;
  Unary f;
  Shape feed_shape;
  double offset = -1.0;  // of the fed pattern
};

/// Builds f from a float64 placeholder, runs it and its gradient, and compares with eager mode.
void check_case(const Case& c) {
  BOOST_TEST_CONTEXT(c.what) {
    Graph g;
    auto scope = g.as_default();
    Tensor x = placeholder(float64, c.placeholder_shape, "x");
    Tensor y = c.f(x);
    BOOST_TEST(type_of(y) == c.type);
    BOOST_TEST(y.shape().str() == c.static_shape);
    BOOST_TEST(y.dtype() == float64);
    Tensor dx = gradients({reduce_sum(square(y))}, {x})[0];
    BOOST_TEST(dx.shape().str() == x.shape().str());
    Session sess(g);
    Tensor xv = tft::pattern(c.feed_shape, 0.2, c.offset);
    auto out = sess.run({y, dx}, {{x, xv}});
    check_same(out[0], c.f(xv));
    check_same(out[1], eager_grad(c.f, xv));
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(graph_sequence_ops)

BOOST_AUTO_TEST_CASE(unary_ops_run_and_differentiate_in_graph_mode) {
  const std::vector<Case> cases = {
      {"sin", "Sin", Shape{-1, 3}, "[?,3]", [](const Tensor& t) { return sin(t); }, Shape{2, 3}},
      {"cos", "Cos", Shape{-1, 3}, "[?,3]", [](const Tensor& t) { return cos(t); }, Shape{2, 3}},
      {"erf", "Erf", Shape{-1, 3}, "[?,3]", [](const Tensor& t) { return erf(t); }, Shape{2, 3}},
      {"log1p", "Log1p", Shape{-1, 3}, "[?,3]", [](const Tensor& t) { return log1p(t); }, Shape{2, 3}, -0.5},
      {"expm1", "Expm1", Shape{-1, 3}, "[?,3]", [](const Tensor& t) { return expm1(t); }, Shape{2, 3}},
      {"round", "Mul", Shape{-1, 3}, "[?,3]", [](const Tensor& t) { return round(t * 3.0) * t; }, Shape{2, 3}},
      {"cumsum", "Cumsum", Shape{-1, 3}, "[?,3]", [](const Tensor& t) { return cumsum(t, 1, true, true); },
       Shape{2, 3}},
      {"cumsum along the unknown axis", "Cumsum", Shape{-1, 3}, "[?,3]", [](const Tensor& t) { return cumsum(t); },
       Shape{4, 3}},
      {"top_k", "TopKV2", Shape{-1, 5}, "[?,2]", [](const Tensor& t) { return top_k(t, 2).values; }, Shape{3, 5}},
      {"pad CONSTANT 0", "Pad", Shape{-1, 3}, "[?,5]", [](const Tensor& t) { return pad(t, {{1, 0}, {0, 2}}); },
       Shape{2, 3}},
      {"pad CONSTANT 1.5", "PadV2", Shape{-1, 3}, "[?,5]",
       [](const Tensor& t) { return pad(t, {{1, 0}, {0, 2}}, "CONSTANT", 1.5); }, Shape{2, 3}},
      {"pad REFLECT", "MirrorPad", Shape{-1, 3}, "[?,7]",
       [](const Tensor& t) { return pad(t, {{1, 1}, {2, 2}}, "REFLECT"); }, Shape{2, 3}},
      {"pad SYMMETRIC", "MirrorPad", Shape{-1, 3}, "[?,6]",
       [](const Tensor& t) { return pad(t, {{2, 0}, {3, 0}}, "SYMMETRIC"); }, Shape{4, 3}},
      {"band_part", "MatrixBandPart", Shape{-1, 3, 3}, "[?,3,3]",
       [](const Tensor& t) { return linalg::band_part(t, -1, 0); }, Shape{2, 3, 3}},
      {"reduce_variance", "Mean", Shape{-1, 4}, "[?]", [](const Tensor& t) { return reduce_variance(t, {1}); },
       Shape{3, 4}},
      {"reduce_std", "Sqrt", Shape{-1, 4}, "[?,1]", [](const Tensor& t) { return reduce_std(t, {-1}, true); },
       Shape{3, 4}},
      {"norm euclidean", "Sqrt", Shape{-1, 4}, "[]", [](const Tensor& t) { return norm(t); }, Shape{3, 4}},
      {"norm 1 of rows", "Sum", Shape{-1, 4}, "[?]", [](const Tensor& t) { return norm(t, 1, {1}); }, Shape{3, 4}},
      {"norm inf of a matrix", "Squeeze", Shape{-1, 4}, "[]",
       [](const Tensor& t) { return norm(t, std::numeric_limits<double>::infinity(), {0, 1}); }, Shape{3, 4}},
      {"matmul [?,3,4] x [4,2]", "BatchMatMulV2", Shape{-1, 3, 4}, "[?,3,2]",
       [](const Tensor& t) { return matmul(t, tft::pattern({4, 2}, 0.3, -1.2)); }, Shape{2, 3, 4}},
      {"matmul [?,1,3,4] x [2,4,5]", "BatchMatMulV2", Shape{-1, 1, 3, 4}, "[?,2,3,5]",
       [](const Tensor& t) { return matmul(t, tft::pattern({2, 4, 5}, 0.3, -1.2)); }, Shape{2, 1, 3, 4}},
      {"matmul [?,3,4]ᵀ x [3,2]", "BatchMatMulV2", Shape{-1, 3, 4}, "[?,4,2]",
       [](const Tensor& t) { return matmul(t, tft::pattern({3, 2}, 0.3, -1.2), true); }, Shape{2, 3, 4}},
      {"einsum btd,de->bte", "Reshape", Shape{-1, 3, 4}, "[?,3,2]",
       [](const Tensor& t) { return einsum("btd,de->bte", {t, tft::pattern({4, 2}, 0.3, -1.2)}); }, Shape{2, 3, 4}},
      {"einsum bqd,bkd->bqk", "BatchMatMulV2", Shape{-1, 3, 4}, "[?,3,3]",
       [](const Tensor& t) { return einsum("bqd,bkd->bqk", {t, t}); }, Shape{2, 3, 4}},
  };
  for (const Case& c : cases) check_case(c);
}

BOOST_AUTO_TEST_CASE(top_k_builds_one_node_with_two_outputs) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 6}, "x");
  auto [values, indices] = top_k(x, 3);
  BOOST_TEST(values.name() == "TopKV2:0");
  BOOST_TEST(indices.name() == "TopKV2:1");
  BOOST_TEST(indices.dtype() == int32);
  BOOST_TEST(indices.shape().str() == "[?,3]");
  BOOST_TEST(top_k(placeholder(float32, {2, -1}), 2).values.shape().str() == "[2,2]");  // k checked when run
  Session sess(g);
  Tensor xv = cast(tft::pattern({2, 6}), float32);
  auto out = sess.run({values, indices}, {{x, xv}});
  auto [ev, ei] = top_k(xv, 3);
  check_same(out[0], ev);
  check_same(out[1], ei);
}

BOOST_AUTO_TEST_CASE(unsorted_segment_sum_with_fed_ids) {
  Graph g;
  auto scope = g.as_default();
  Tensor data = placeholder(float64, {-1, 3}, "data");
  Tensor ids = placeholder(int32, {-1}, "ids");
  Tensor s = unsorted_segment_sum(data, ids, 4);
  BOOST_TEST(type_of(s) == "UnsortedSegmentSum");
  BOOST_TEST(s.shape().str() == "[4,3]");
  Tensor dd = gradients({reduce_sum(square(s))}, {data})[0];
  Session sess(g);
  Tensor dv = tft::pattern({5, 3}), iv = tensor({3, 0, -1, 3, 1}, int32);
  auto out = sess.run({s, dd}, {{data, dv}, {ids, iv}});
  auto f = [&](const Tensor& t) { return unsorted_segment_sum(t, iv, 4); };
  check_same(out[0], f(dv));
  check_same(out[1], eager_grad(f, dv));
  // Fed ids are checked when the graph runs.
  TF_CHECK_THROWS_WITH(sess.run(s, {{data, dv}, {ids, tensor({0, 4, 0, 0, 0}, int32)}}), ValueError,
                       "unsorted_segment_sum: segment id 4 (at position 1) is out of range for num_segments 4");
}

BOOST_AUTO_TEST_CASE(logical_ops_in_graph_mode) {
  Graph g;
  auto scope = g.as_default();
  Tensor a = placeholder(bool_, {-1, 1}, "a");
  Tensor b = placeholder(bool_, {3}, "b");
  Tensor both = logical_and(a, b), either = logical_or(a, b);
  BOOST_TEST(type_of(both) == "LogicalAnd");
  BOOST_TEST(type_of(either) == "LogicalOr");
  BOOST_TEST(both.shape().str() == "[?,3]");
  BOOST_TEST(either.dtype() == bool_);
  Session sess(g);
  Tensor av = reshape(tensor({1, 0}, bool_), {2, 1}), bv = tensor({1, 0, 1}, bool_);
  auto out = sess.run({both, either}, {{a, av}, {b, bv}});
  check_same(out[0], logical_and(av, bv));
  check_same(out[1], logical_or(av, bv));
}

BOOST_AUTO_TEST_CASE(a_causal_attention_block_in_graph_mode) {
  // softmax(QKᵀ / sqrt d + mask) V with the mask from band_part, through einsum and broadcast matmul:
  // one run and its gradient with respect to the inputs, against eager mode.
  auto attend = [](const Tensor& x, const Tensor& wq) {
    Tensor q = matmul(x, wq);                                    // [B,T,D]·[D,D]
    Tensor scores = einsum("bqd,bkd->bqk", {q, x}) / 2.0;        // [B,T,T]
    Tensor allowed = linalg::band_part(ones({4, 4}, bool_), -1, 0);
    Tensor masked = where(allowed, scores, full({}, -1e9, float64));
    return matmul(nn::softmax(masked), x);                       // [B,T,T]·[B,T,D]
  };
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {-1, 4, 3}, "x");
  Tensor wq = constant(tft::pattern({3, 3}, 0.3, -1.2), "wq");
  Tensor y = attend(x, wq);
  BOOST_TEST(y.shape().str() == "[?,4,3]");
  Tensor dx = gradients({reduce_sum(square(y))}, {x})[0];
  Session sess(g);
  Tensor xv = tft::pattern({2, 4, 3});
  auto out = sess.run({y, dx}, {{x, xv}});
  check_same(out[0], attend(xv, tft::pattern({3, 3}, 0.3, -1.2)));
  check_same(out[1], eager_grad([&](const Tensor& t) { return attend(t, tft::pattern({3, 3}, 0.3, -1.2)); }, xv));
}

BOOST_AUTO_TEST_CASE(batch_matmul_nodes_are_named_matmul) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3, 4}, "x");
  Tensor y = matmul(x, ones({4, 2}));
  Tensor z = matmul(placeholder(float32, {-1, 4}, "v"), ones({4, 2}));
  BOOST_TEST(y.impl()->node->name() == "MatMul");
  BOOST_TEST(type_of(y) == "BatchMatMulV2");
  BOOST_TEST(z.impl()->node->name() == "MatMul_1");
  BOOST_TEST(type_of(z) == "MatMul");
  // Unknown batch dims broadcast against 1 stay unknown, against another size take it.
  BOOST_TEST(matmul(placeholder(float32, {-1, 1, 2, 3}), placeholder(float32, {5, 3, 2})).shape().str() ==
             "[?,5,2,2]");
  BOOST_TEST(matmul(placeholder(float32, {-1, 2, 3}), placeholder(float32, {4, 3, 2})).shape().str() == "[4,2,2]");
}

BOOST_AUTO_TEST_SUITE_END()
