// Element-wise, reduction and matmul ops in graph mode: static shapes and dtypes with unknown
// dims, node types, runs that give exactly the eager result, and shape/dtype errors at build time.
#include <functional>

#include "helpers.h"
#include "tapeflow/graph.h"

using namespace tapeflow;

namespace {

/// float32 values -2.5, -1.5, ... in the given shape, shifted by `offset`.
Tensor ramp(const Shape& s, double offset = -2.5) {
  return reshape(arange(static_cast<double>(s.numel())), s) + offset;
}

using tft::check_same;
using tft::type_of;

using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;
using Unary = std::function<Tensor(const Tensor&)>;

}  // namespace

BOOST_AUTO_TEST_SUITE(graph_math_ops)

// ---------------------------------------------------------------------------- binary

BOOST_AUTO_TEST_CASE(binary_ops_broadcast_against_unknown_dims) {
  struct Case {
    const char* type;
    Binary f;
  };
  const std::vector<Case> cases = {
      {"Add", [](const Tensor& a, const Tensor& b) { return a + b; }},
      {"Sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"Mul", [](const Tensor& a, const Tensor& b) { return a * b; }},
      {"RealDiv", [](const Tensor& a, const Tensor& b) { return a / b; }},
      {"Pow", [](const Tensor& a, const Tensor& b) { return pow(abs(a), b); }},
      {"Maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"Minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.type) {
      Graph g;
      auto scope = g.as_default();
      Tensor a = placeholder(float32, {-1, 3}, "a");
      Tensor col = placeholder(float32, {-1, 1}, "col");
      Tensor row = placeholder(float32, {1, 4}, "row");
      Tensor ab = c.f(a, ramp({3}, 0.5));           // [?,3] with an eager [3]
      Tensor outer = c.f(col, row);                  // [?,1] with [1,4]
      Tensor batched = c.f(a, placeholder(float32, {2, 1, 3}, "batched"));  // [?,3] with [2,1,3]
      BOOST_TEST(ab.shape().str() == "[?,3]");
      BOOST_TEST(outer.shape().str() == "[?,4]");
      BOOST_TEST(batched.shape().str() == "[2,?,3]");
      BOOST_TEST(type_of(ab) == c.type);
      BOOST_TEST(ab.dtype() == float32);

      Session sess(g);
      Tensor av = ramp({2, 3}), colv = ramp({2, 1}, 0.25), rowv = ramp({1, 4}, 1.0), bv = ramp({2, 1, 3}, -1.0);
      auto out = sess.run({ab, outer, batched}, {{a, av}, {col, colv}, {row, rowv},
                                                 {g.get_tensor_by_name("batched:0"), bv}});
      check_same(out[0], c.f(av, ramp({3}, 0.5)));
      check_same(out[1], c.f(colv, rowv));
      check_same(out[2], c.f(av, bv));
    }
  }
}

BOOST_AUTO_TEST_CASE(binary_ops_with_numbers_and_integers) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {-1}, "x");
  Tensor n = placeholder(int32, {-1, 2}, "n");
  Tensor y = 2.0 * x - 1.0;
  BOOST_TEST(y.shape().str() == "[?]");
  BOOST_TEST(y.dtype() == float64);
  BOOST_TEST(type_of(y) == "Sub");
  Tensor p = pow(x, 2.0);
  BOOST_TEST(type_of(p) == "Pow");
  Tensor m = n * 3.0 + n;
  BOOST_TEST(m.dtype() == int32);
  Tensor q = n / 2.0;  // integer division truncates, as eager
  BOOST_TEST(q.dtype() == int32);

  Session sess(g);
  Tensor xv = tensor({0.5, -1.25, 3}, float64);
  Tensor nv = tensor({{1, -7}, {4, 9}}, int32);
  auto out = sess.run({y, p, m, q}, {{x, xv}, {n, nv}});
  check_same(out[0], 2.0 * xv - 1.0);
  check_same(out[1], pow(xv, 2.0));
  check_same(out[2], nv * 3.0 + nv);
  check_same(out[3], nv / 2.0);
}

BOOST_AUTO_TEST_CASE(binary_op_errors_at_build_time) {
  Graph g;
  auto scope = g.as_default();
  Tensor a = placeholder(float32, {-1, 3}, "a");
  TF_CHECK_THROWS_WITH(a + placeholder(float32, {-1, 4}), ShapeError, "add", "[?,3]", "[?,4]", "3 vs 4");
  TF_CHECK_THROWS_WITH(maximum(a, ones({2})), ShapeError, "maximum", "[?,3]", "[2]");
  TF_CHECK_THROWS_WITH(a * placeholder(float64, {-1, 3}), DTypeError, "mul", "float32", "float64");
  Tensor flags = placeholder(bool_, {-1}, "flags");
  TF_CHECK_THROWS_WITH(flags + flags, DTypeError, "add", "bool", "[?]");
  TF_CHECK_THROWS_WITH(minimum(flags, flags), DTypeError, "minimum", "bool");
  Tensor n = placeholder(int32, {-1}, "n");
  TF_CHECK_THROWS_WITH(pow(n, n), DTypeError, "pow", "int32", "[?]");
  TF_CHECK_THROWS_WITH(n * 0.5, DTypeError, "mul", "0.5", "int32");
}

// ---------------------------------------------------------------------------- unary

BOOST_AUTO_TEST_CASE(unary_ops_static_types_and_runs) {
  struct Case {
    const char* type;
    Unary f;
    bool positive;  // needs inputs > 0
  };
  const std::vector<Case> cases = {
      {"Neg", [](const Tensor& x) { return -x; }, false},
      {"Exp", [](const Tensor& x) { return exp(x); }, false},
      {"Log", [](const Tensor& x) { return log(x); }, true},
      {"Sqrt", [](const Tensor& x) { return sqrt(x); }, true},
      {"Rsqrt", [](const Tensor& x) { return rsqrt(x); }, true},
      {"Square", [](const Tensor& x) { return square(x); }, false},
      {"Abs", [](const Tensor& x) { return abs(x); }, false},
      {"Sign", [](const Tensor& x) { return sign(x); }, false},
      {"ClipByValue", [](const Tensor& x) { return clip_by_value(x, -1.0, 0.75); }, false},
      {"Relu", [](const Tensor& x) { return relu(x); }, false},
      {"Relu6", [](const Tensor& x) { return relu6(x * 4.0); }, false},
      {"LeakyRelu", [](const Tensor& x) { return leaky_relu(x, 0.1); }, false},
      {"Elu", [](const Tensor& x) { return elu(x); }, false},
      {"Softplus", [](const Tensor& x) { return softplus(x); }, false},
      {"Sigmoid", [](const Tensor& x) { return sigmoid(x); }, false},
      {"Tanh", [](const Tensor& x) { return tanh(x); }, false},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.type) {
      for (DType dt : {float32, float64}) {
        Graph g;
        auto scope = g.as_default();
        Tensor x = placeholder(dt, {-1, 3}, "x");
        Tensor y = c.f(x);
        BOOST_TEST(y.shape().str() == "[?,3]");
        BOOST_TEST(y.dtype() == dt);
        BOOST_TEST(type_of(y) == c.type);
        Session sess(g);
        Tensor xv = cast(ramp({4, 3}, c.positive ? 0.5 : -5.5), dt);
        check_same(sess.run(y, {{x, xv}}), c.f(xv));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(unary_ops_on_integers) {
  Graph g;
  auto scope = g.as_default();
  Tensor n = placeholder(int64, {-1}, "n");
  Tensor a = abs(n), s = sign(n), q = square(n), ng = -n, c = clip(n, -2, 3);
  for (const Tensor& t : {a, s, q, ng, c}) {
    BOOST_TEST(t.shape().str() == "[?]");
    BOOST_TEST(t.dtype() == int64);
  }
  Session sess(g);
  Tensor nv = tensor({-4, 0, 2, 7}, int64);
  auto out = sess.run({a, s, q, ng, c}, {{n, nv}});
  check_same(out[0], abs(nv));
  check_same(out[1], sign(nv));
  check_same(out[2], square(nv));
  check_same(out[3], -nv);
  check_same(out[4], clip(nv, -2, 3));
}

BOOST_AUTO_TEST_CASE(unary_dtype_errors_at_build_time) {
  Graph g;
  auto scope = g.as_default();
  Tensor n = placeholder(int32, {-1, 3}, "n");
  TF_CHECK_THROWS_WITH(relu(n), DTypeError, "relu", "int32", "[?,3]", "cast");
  TF_CHECK_THROWS_WITH(exp(n), DTypeError, "exp", "int32");
  TF_CHECK_THROWS_WITH(log(n), DTypeError, "log", "int32");
  TF_CHECK_THROWS_WITH(sigmoid(n), DTypeError, "sigmoid", "int32");
  TF_CHECK_THROWS_WITH(tanh(n), DTypeError, "tanh", "int32");
  TF_CHECK_THROWS_WITH(leaky_relu(n), DTypeError, "leaky_relu", "int32");
  Tensor flags = placeholder(bool_, {-1}, "flags");
  TF_CHECK_THROWS_WITH(-flags, DTypeError, "neg", "bool", "[?]");
  TF_CHECK_THROWS_WITH(abs(flags), DTypeError, "abs", "bool");
  TF_CHECK_THROWS_WITH(clip(flags, 0, 1), DTypeError, "clip_by_value", "bool");
  TF_CHECK_THROWS_WITH(clip(placeholder(float32, {-1}), 2, 1), ValueError, "clip_by_value", "2", "1");
  BOOST_TEST(g.nodes().size() == 3u);  // only the placeholders were added
}

// ---------------------------------------------------------------------------- comparisons, where, cast

BOOST_AUTO_TEST_CASE(comparisons_give_bool) {
  struct Case {
    const char* type;
    Binary f;
  };
  const std::vector<Case> cases = {
      {"Equal", [](const Tensor& a, const Tensor& b) { return equal(a, b); }},
      {"NotEqual", [](const Tensor& a, const Tensor& b) { return not_equal(a, b); }},
      {"Less", [](const Tensor& a, const Tensor& b) { return less(a, b); }},
      {"LessEqual", [](const Tensor& a, const Tensor& b) { return less_equal(a, b); }},
      {"Greater", [](const Tensor& a, const Tensor& b) { return greater(a, b); }},
      {"GreaterEqual", [](const Tensor& a, const Tensor& b) { return greater_equal(a, b); }},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.type) {
      Graph g;
      auto scope = g.as_default();
      Tensor a = placeholder(int64, {-1, 1}, "a");
      Tensor b = placeholder(int64, {-1}, "b");
      Tensor r = c.f(a, b);
      BOOST_TEST(r.shape().str() == "[?,?]");
      BOOST_TEST(r.dtype() == bool_);
      BOOST_TEST(type_of(r) == c.type);
      Tensor f = c.f(placeholder(float32, {-1, 2}, "f"), scalar(0.5));
      BOOST_TEST(f.shape().str() == "[?,2]");
      BOOST_TEST(f.dtype() == bool_);
      Session sess(g);
      Tensor av = reshape(tensor({1, 3}, int64), {2, 1});
      Tensor bv = tensor({0, 1, 3}, int64);
      check_same(sess.run(r, {{a, av}, {b, bv}}), c.f(av, bv));
      Tensor fv = tensor({{0.25, 0.5}, {0.75, 0.5}});
      check_same(sess.run(f, {{g.get_tensor_by_name("f:0"), fv}}), c.f(fv, scalar(0.5)));
      TF_CHECK_THROWS_WITH(c.f(a, placeholder(float32, {-1})), DTypeError, "int64", "float32");
    }
  }
}

BOOST_AUTO_TEST_CASE(logical_not_and_where) {
  Graph g;
  auto scope = g.as_default();
  Tensor cond = placeholder(bool_, {-1, 1}, "cond");
  Tensor x = placeholder(float32, {-1, 3}, "x");
  Tensor nc = logical_not(cond);
  BOOST_TEST(type_of(nc) == "LogicalNot");
  BOOST_TEST(nc.dtype() == bool_);
  BOOST_TEST(nc.shape().str() == "[?,1]");
  Tensor w = where(cond, x, scalar(-1.0));
  BOOST_TEST(type_of(w) == "Select");
  BOOST_TEST(w.shape().str() == "[?,3]");
  BOOST_TEST(w.dtype() == float32);
  Tensor w2 = where(greater(x, scalar(0.0)), x, zeros({3}));  // a relu written with where
  BOOST_TEST(w2.shape().str() == "[?,3]");

  Session sess(g);
  Tensor cv = reshape(tensor({1, 0}, bool_), {2, 1}), xv = ramp({2, 3});
  auto out = sess.run({nc, w, w2}, {{cond, cv}, {x, xv}});
  check_same(out[0], logical_not(cv));
  check_same(out[1], where(cv, xv, scalar(-1.0)));
  check_same(out[2], relu(xv));

  TF_CHECK_THROWS_WITH(logical_not(x), DTypeError, "logical_not", "float32", "[?,3]");
  TF_CHECK_THROWS_WITH(where(x, x, x), DTypeError, "where", "bool", "float32", "[?,3]");
  TF_CHECK_THROWS_WITH(where(cond, x, placeholder(float32, {-1, 4})), ShapeError, "where", "[?,3]", "[?,4]");
  TF_CHECK_THROWS_WITH(where(placeholder(bool_, {2, 2}), x, x), ShapeError, "where", "[2,2]", "[?,3]");
  TF_CHECK_THROWS_WITH(where(cond, x, scalar(1.0, float64)), DTypeError, "where", "float32", "float64");
}

BOOST_AUTO_TEST_CASE(cast_and_stop_gradient) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 2}, "x");
  Tensor i = cast(x, int32);
  BOOST_TEST(type_of(i) == "Cast");
  BOOST_TEST(i.dtype() == int32);
  BOOST_TEST(i.shape().str() == "[?,2]");
  Tensor b = cast(x, bool_);
  BOOST_TEST(b.dtype() == bool_);
  BOOST_TEST(cast(x, float32).is_same(x));  // as tf.cast: the same tensor
  Tensor d = x.to(float64);
  BOOST_TEST(d.dtype() == float64);
  Tensor s = stop_gradient(x * 2.0);
  BOOST_TEST(type_of(s) == "StopGradient");
  BOOST_TEST(s.shape().str() == "[?,2]");
  BOOST_TEST(s.dtype() == float32);

  Session sess(g);
  Tensor xv = tensor({{1.75, -2.5}, {0, 3.25}});
  auto out = sess.run({i, b, d, s}, {{x, xv}});
  check_same(out[0], cast(xv, int32));
  check_same(out[1], cast(xv, bool_));
  check_same(out[2], cast(xv, float64));
  check_same(out[3], xv * 2.0);
  BOOST_TEST(!out[3].requires_grad());
}

// ---------------------------------------------------------------------------- reductions

BOOST_AUTO_TEST_CASE(reductions_static_shapes_and_runs) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3, 4}, "x");
  struct Case {
    const char* type;
    const char* shape;
    Unary f;
  };
  const std::vector<Case> cases = {
      {"Sum", "[]", [](const Tensor& t) { return reduce_sum(t); }},
      {"Sum", "[?,4]", [](const Tensor& t) { return reduce_sum(t, {1}); }},
      {"Sum", "[?,1,4]", [](const Tensor& t) { return reduce_sum(t, {1}, true); }},
      {"Mean", "[3]", [](const Tensor& t) { return reduce_mean(t, {0, 2}); }},
      {"Mean", "[1,3,1]", [](const Tensor& t) { return reduce_mean(t, {0, -1}, true); }},
      {"Max", "[?,3]", [](const Tensor& t) { return reduce_max(t, {-1}); }},
      {"Max", "[1,1,1]", [](const Tensor& t) { return reduce_max(t, {}, true); }},
      {"Min", "[?]", [](const Tensor& t) { return reduce_min(t, {1, 2}); }},
      {"ArgMax", "[?,4]", [](const Tensor& t) { return argmax(t, 1); }},
      {"ArgMin", "[?,3]", [](const Tensor& t) { return argmin(t); }},
  };
  std::vector<Tensor> built;
  for (const Case& c : cases) {
    Tensor y = c.f(x);
    BOOST_TEST_CONTEXT(c.type << " " << c.shape) {
      BOOST_TEST(y.shape().str() == c.shape);
      BOOST_TEST(type_of(y) == c.type);
      BOOST_TEST(y.dtype() == (std::string(c.type).starts_with("Arg") ? int64 : float32));
    }
    built.push_back(y);
  }
  Session sess(g);
  Tensor xv = reshape(tensor({3, -1, 4, 1, -5, 9, 2, -6, 5, 3, -5, 8, 9, 7, -9, 3, 2, 3, 8, -4, 6, 2, 6, 4}), {2, 3, 4});
  auto out = sess.run(built, {{x, xv}});
  for (std::size_t k = 0; k < cases.size(); ++k)
    BOOST_TEST_CONTEXT(cases[k].type << " " << cases[k].shape) { check_same(out[k], cases[k].f(xv)); }
}

BOOST_AUTO_TEST_CASE(reductions_of_integers_and_logsumexp) {
  Graph g;
  auto scope = g.as_default();
  Tensor n = placeholder(int32, {-1, 3}, "n");
  Tensor sum = reduce_sum(n, {0}), mean = reduce_mean(n, {1}), mx = reduce_max(n, {1});
  BOOST_TEST(sum.dtype() == int32);
  BOOST_TEST(mean.shape().str() == "[?]");
  BOOST_TEST(mx.dtype() == int32);
  // logsumexp is composed of hooked ops; it works with several unknown dims.
  Tensor x = placeholder(float64, {-1, -1, 4}, "x");
  Tensor lse = reduce_logsumexp(x, {2});
  BOOST_TEST(lse.shape().str() == "[?,?]");
  BOOST_TEST(lse.dtype() == float64);
  Tensor lse_keep = reduce_logsumexp(x, {0, 2}, true);
  BOOST_TEST(lse_keep.shape().str() == "[1,?,1]");
  Tensor lse_all = reduce_logsumexp(x);
  BOOST_TEST(lse_all.shape().str() == "[]");

  Session sess(g);
  Tensor nv = tensor({{1, 2, 4}, {-3, 7, 1}}, int32);
  auto ints = sess.run({sum, mean, mx}, {{n, nv}});
  check_same(ints[0], reduce_sum(nv, {0}));
  check_same(ints[1], reduce_mean(nv, {1}));
  check_same(ints[2], reduce_max(nv, {1}));
  Tensor xv = cast(ramp({2, 3, 4}), float64) / 3.0;
  auto out = sess.run({lse, lse_keep, lse_all}, {{x, xv}});
  check_same(out[0], reduce_logsumexp(xv, {2}));
  check_same(out[1], reduce_logsumexp(xv, {0, 2}, true));
  check_same(out[2], reduce_logsumexp(xv));
}

BOOST_AUTO_TEST_CASE(reduction_errors_at_build_time) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3}, "x");
  TF_CHECK_THROWS_WITH(reduce_sum(x, {2}), ValueError, "reduce_sum", "axis 2", "rank 2");
  TF_CHECK_THROWS_WITH(reduce_mean(x, {1, -1}), ValueError, "reduce_mean", "listed twice", "[?,3]");
  TF_CHECK_THROWS_WITH(argmax(x, 2), ValueError, "argmax", "axis 2");
  TF_CHECK_THROWS_WITH(argmin(placeholder(float32, {})), ValueError, "argmin", "scalar");
  TF_CHECK_THROWS_WITH(argmax(placeholder(float32, {-1, 0}), 1), ValueError, "argmax", "[?,0]", "empty");
  Tensor flags = placeholder(bool_, {-1}, "flags");
  TF_CHECK_THROWS_WITH(reduce_sum(flags), DTypeError, "reduce_sum", "bool", "[?]");
  TF_CHECK_THROWS_WITH(reduce_max(flags), DTypeError, "reduce_max", "bool");
  TF_CHECK_THROWS_WITH(argmax(flags), DTypeError, "argmax", "bool");
  TF_CHECK_THROWS_WITH(reduce_logsumexp(placeholder(int32, {-1, 2})), DTypeError, "reduce_logsumexp", "int32");
}

// ---------------------------------------------------------------------------- matmul

BOOST_AUTO_TEST_CASE(matmul_static_shapes_and_runs) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 4}, "x");
  Tensor w = ramp({4, 5}, -9.5) / 10.0;
  Tensor y = matmul(x, w);
  BOOST_TEST(y.shape().str() == "[?,5]");
  BOOST_TEST(type_of(y) == "MatMul");
  BOOST_TEST(y.dtype() == float32);
  Tensor xt = placeholder(float32, {4, -1}, "xt");
  Tensor ya = matmul(xt, w, true);                       // [4,?]ᵀ x [4,5]
  BOOST_TEST(ya.shape().str() == "[?,5]");
  Tensor wt = placeholder(float32, {5, 4}, "wt");
  Tensor yb = matmul(x, wt, false, true);                // [?,4] x [5,4]ᵀ
  BOOST_TEST(yb.shape().str() == "[?,5]");
  Tensor yab = matmul(xt, placeholder(float32, {-1, 4}, "v"), true, true);  // [4,?]ᵀ x [?,4]ᵀ
  BOOST_TEST(yab.shape().str() == "[?,?]");
  Tensor inner_unknown = matmul(placeholder(float32, {2, -1}, "l"), placeholder(float32, {-1, 3}, "r"));
  BOOST_TEST(inner_unknown.shape().str() == "[2,3]");
  // Batch dims: an unknown one takes the other operand's size.
  Tensor ba = placeholder(float64, {-1, 2, 3}, "ba"), bb = placeholder(float64, {4, 3, -1}, "bb");
  Tensor bmm = matmul(ba, bb);
  BOOST_TEST(bmm.shape().str() == "[4,2,?]");
  BOOST_TEST(bmm.dtype() == float64);
  Tensor both_unknown = matmul(ba, placeholder(float64, {-1, 3, 5}, "bc"));
  BOOST_TEST(both_unknown.shape().str() == "[?,2,5]");

  Session sess(g);
  Tensor xv = ramp({3, 4}), xtv = ramp({4, 2}, 0.5), wtv = ramp({5, 4}, -4.0), vv = ramp({3, 4}, 1.0);
  Tensor bav = cast(ramp({4, 2, 3}), float64), bbv = cast(ramp({4, 3, 2}, 0.5), float64);
  auto out = sess.run({y, ya, yb, yab, bmm}, {{x, xv}, {xt, xtv}, {wt, wtv}, {g.get_tensor_by_name("v:0"), vv},
                                             {ba, bav}, {bb, bbv}});
  check_same(out[0], matmul(xv, w));
  check_same(out[1], matmul(xtv, w, true));
  check_same(out[2], matmul(xv, wtv, false, true));
  check_same(out[3], matmul(xtv, vv, true, true));
  check_same(out[4], matmul(bav, bbv));
  // Unknown dims that disagree fail when the graph runs.
  TF_CHECK_THROWS_WITH(sess.run(bmm, {{ba, cast(ramp({2, 2, 3}), float64)}, {bb, bbv}}), ShapeError, "matmul",
                       "[2,2,3]", "[4,3,2]");
}

BOOST_AUTO_TEST_CASE(matmul_errors_at_build_time) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 4}, "x");
  TF_CHECK_THROWS_WITH(matmul(x, ones({5, 5})), ShapeError, "matmul", "[?,4]", "[5,5]", "4 != 5");
  TF_CHECK_THROWS_WITH(matmul(x, ones({4, 5}), false, true), ShapeError, "matmul", "[?,4]", "[4,5]ᵀ", "4 != 5");
  // With transpose_a the inner dim of [?,4] is the unknown one: checked when the graph runs.
  BOOST_TEST(matmul(x, ones({5, 4}), true).shape().str() == "[4,4]");
  TF_CHECK_THROWS_WITH(matmul(placeholder(float32, {2, 2, 3}), placeholder(float32, {3, 3, -1})), ShapeError,
                       "matmul", "batch dimensions", "[2,2,3]", "[3,3,?]");
  TF_CHECK_THROWS_WITH(matmul(x, placeholder(float32, {4})), ShapeError, "matmul", "[?,4]", "[4]", "rank");
  TF_CHECK_THROWS_WITH(matmul(placeholder(int32, {-1, 4}), placeholder(int32, {4, 2})), DTypeError, "matmul", "int32");
  TF_CHECK_THROWS_WITH(matmul(x, ones({4, 2}, float64)), DTypeError, "matmul", "float32", "float64");
}

// ---------------------------------------------------------------------------- in-place ops

BOOST_AUTO_TEST_CASE(in_place_ops_refuse_graph_tensors) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {2, 2}, "x");
  Tensor e = ones({2, 2});
  const std::size_t nodes = g.nodes().size();
  TF_CHECK_THROWS_WITH(add_(x, e), ValueError, "add_", "'x:0'", "graph tensor", "assign_add");
  TF_CHECK_THROWS_WITH(add_(e, x), ValueError, "add_", "'x:0'", "graph tensor");
  TF_CHECK_THROWS_WITH(axpy_(x, 2.0, e), ValueError, "axpy_", "graph tensor");
  TF_CHECK_THROWS_WITH(scale_(x, 2.0), ValueError, "scale_", "float32 [2,2]", "graph tensor");
  TF_CHECK_THROWS_WITH(fill_(x, 0.0), ValueError, "fill_", "graph tensor");
  TF_CHECK_THROWS_WITH(copy_(e, x), ValueError, "copy_", "graph tensor");
  TF_CHECK_THROWS_WITH(copy_(e, placeholder(float32, {2}, "row")), ValueError, "copy_", "'row:0'");
  BOOST_TEST(g.nodes().size() == nodes + 1);  // the placeholder "row", nothing else
  tft::check_close(e, {1, 1, 1, 1});          // the eager operand is untouched
}

BOOST_AUTO_TEST_SUITE_END()
