// The functional ops of today's models: gelu, silu, layer_norm, scaled_dot_product_attention,
// embedding_lookup, xw_plus_b on [..., in]. Values against PyTorch 1.13 (Debian's python3-torch):
// the script is tests/data/sequence_ops_reference.py; its output is pasted below.
#include <cmath>
#include <limits>

#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/nn.h"

using namespace tapeflow;

namespace {

Tensor requiring(Tensor t) { return t.requires_grad_(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(sequence_ops)

BOOST_AUTO_TEST_CASE(gelu_and_silu_values_and_gradients) {
  const Tensor x = tensor({-3, -1, -0.5, 0, 0.5, 1, 3}, float64);
  tft::check_close(nn::gelu(x), {-0.00404969409489, -0.158655253931, -0.154268769363, 0, 0.345731230637,
                                 0.841344746069, 2.99595030591}, 1e-10);
  tft::check_close(nn::gelu(x, true), {-0.00363739208177, -0.158808009392, -0.154285990175, 0, 0.345714009825,
                                       0.841191990608, 2.99636260792}, 1e-10);
  tft::check_close(nn::silu(x), {-0.142277619533, -0.26894142137, -0.188770334399, 0, 0.311229665601,
                                 0.73105857863, 2.85772238047}, 1e-10);
  tft::check_close(tft::grad_of_sum([](const Tensor& t) { return nn::gelu(t); }, x),
                   {-0.0119456472042, -0.0833154705877, 0.132504875344, 0.5, 0.867495124656, 1.08331547059,
                    1.0119456472}, 1e-10);
  tft::check_close(tft::grad_of_sum([](const Tensor& t) { return nn::gelu(t, true); }, x),
                   {-0.011584166631, -0.0829640838458, 0.132630096465, 0.5, 0.867369903535, 1.08296408385,
                    1.01158416663}, 1e-10);
  tft::check_close(tft::grad_of_sum([](const Tensor& t) { return nn::silu(t); }, x),
                   {-0.0881041060152, 0.0723294881285, 0.260038812697, 0.5, 0.739961187303, 0.927670511871,
                    1.08810410602}, 1e-10);
  // float32 agrees with float64.
  tft::check_close(nn::gelu(cast(x, float32)), nn::gelu(x).to_vector<double>(), 1e-6);
  for (const Shape& s : {Shape{5}, Shape{2, 3}, Shape{2, 1, 4}}) {
    for (bool approximate : {false, true})
      tft::check_grad([&](std::span<const Tensor> in) { return nn::gelu(in[0] * 2.0, approximate); },
                      {tft::rand64(s)});
    tft::check_grad([](std::span<const Tensor> in) { return nn::silu(in[0] * 3.0); }, {tft::rand64(s)});
  }
  // Third derivatives too: GeluGrad's gradient is written in ops.
  Tensor t = tensor({0.3, -1.2}, float64).requires_grad_();
  Tensor d1 = autograd::grad({reduce_sum(nn::gelu(t))}, {t}, {.create_graph = true})[0];
  Tensor d2 = autograd::grad({reduce_sum(d1)}, {t}, {.create_graph = true})[0];
  Tensor d3 = autograd::grad({reduce_sum(d2)}, {t})[0];
  // gelu''' = phi(x) (x^3 - 4x)... of phi (2 - x^2): d/dx = phi (x^3 - 4x)
  const double kInvSqrt2Pi = 0.3989422804014327;
  auto third = [&](double v) { return kInvSqrt2Pi * std::exp(-v * v / 2) * (v * v * v - 4 * v); };
  tft::check_close(d3, {third(0.3), third(-1.2)}, 1e-9);
}

BOOST_AUTO_TEST_CASE(layer_norm_values_gradients_and_errors) {
  const Tensor x = tft::wave({2, 3, 4}, 0.37, 0.1, 2.0);
  const Tensor gamma = tensor({1.0, 0.5, -1.0, 2.0}, float64), beta = tensor({0.1, 0.2, 0.3, 0.4}, float64);
  tft::check_close(nn::layer_norm(x, gamma, beta),
                   {-1.3525230573, 0.0330805341607, -0.290622440274, 2.79147909741, 1.1328232201, 0.553872059275,
                    0.493018033684, -2.69509860993, 1.51625545371, 0.389171507729, 0.850380822795, -2.08843529275,
                    -0.745212947852, -0.208085725943, 0.25638731463, 3.63554342874, -1.28404387769, -0.00746464421247,
                    -0.21605850213, 2.96582932797, 0.491444005323, 0.698199884482, 0.0218241786726, -2.93203919123},
                   1e-9);
  Tensor xs = requiring(x.clone()), gs = requiring(gamma.clone()), bs = requiring(beta.clone());
  reduce_sum(nn::layer_norm(xs, gs, bs) * tft::wave({2, 3, 4}, 0.11, 0.3)).backward();
  tft::check_close(xs.grad(), {0.358818959942, -0.0681821973446, -1.39804583666, 1.10740907407, 1.35013680374,
                               0.369736969759, -3.18775409495, 1.46788032145, 0.680795555673, -0.114827309884,
                               -2.3419581859, 1.77598994011, 2.39404407044, 0.774091129787, -4.94302913747,
                               1.77489393724, 0.522927704732, -0.0873024922501, -1.62533706883, 1.18971185635,
                               1.94561104265, 0.738404633992, -3.07053726543, 0.386521588787},
                   1e-9);
  tft::check_close(gs.grad(), {-0.254978789193, 0.118757685468, 0.140479397018, -0.0269031818639}, 1e-9);
  tft::check_close(bs.grad(), {4.37438336909, 4.43077048239, 4.43359931014, 4.38283565803}, 1e-9);
  // Over the last two axes, without scale and shift.
  tft::check_close(nn::layer_norm(x, Tensor(), Tensor(), 1e-5, 1),
                   {-0.342077245293, 0.246748206803, 0.733343459937, 1.05185012932, 1.15915983143, 1.04074870151,
                    0.712643130485, 0.219250668193, -0.372650330206, -0.982948841312, -1.52904382469,
                    -1.93702388618, -1.42767185372, -1.42158963089, -1.24152319375, -0.911843689836,
                    -0.477171693407, 0.00366197995889, 0.465578748265, 0.84606034387, 1.09361036773, 1.17472408542,
                    1.07842313578, 0.817741400573},
                   1e-9);
  // First and second derivatives in every operand, over several shapes.
  tft::check_grad([](std::span<const Tensor> in) { return nn::layer_norm(in[0], in[1], in[2]); },
                  {tft::rand64({3, 5}), tft::rand64({5}), tft::rand64({5})});
  tft::check_grad([](std::span<const Tensor> in) { return nn::layer_norm(in[0], in[1], Tensor(), 1e-5, 1); },
                  {tft::rand64({2, 3, 4}), tft::rand64({3, 4})});
  tft::check_grad([](std::span<const Tensor> in) { return nn::layer_norm(in[0], Tensor(), Tensor()) * in[0]; },
                  {tft::rand64({4, 1, 6})});
  TF_CHECK_THROWS_WITH(nn::layer_norm(x, tensor({1.0, 2.0}, float64), Tensor()), ShapeError,
                       "layer_norm: gamma has shape [2] but x [2,3,4] is normalised over its axes from 2 on, [4]: "
                       "gamma must have that shape");
  TF_CHECK_THROWS_WITH(nn::layer_norm(x, Tensor(), Tensor(), 1e-5, 3), ShapeError,
                       "layer_norm: begin_norm_axis 3 is out of range for x [2,3,4] of rank 3");
  TF_CHECK_THROWS_WITH(nn::layer_norm(x, Tensor(), Tensor(), -1.0), ValueError, "layer_norm: epsilon must be >= 0");
}

BOOST_AUTO_TEST_CASE(attention_values_against_pytorch) {
  Tensor q = requiring(tft::wave({1, 2, 3, 4}, 0.5, 0.2)), k = requiring(tft::wave({1, 2, 4, 4}, 0.3, 0.7)),
         v = requiring(tft::wave({1, 2, 4, 5}, 0.23, 1.1));
  Tensor o = nn::scaled_dot_product_attention(q, k, v);
  BOOST_TEST(o.shape().str() == "[1,2,3,5]");
  tft::check_close(o, {0.689415275136, 0.661223969216, 0.59820784166, 0.50368577609, 0.382635985983,
                       0.264662268527, 0.172746204755, 0.071732080341, -0.0330599726108, -0.136110849043,
                       -0.666630724407, -0.730516269953, -0.755927561709, -0.741526257836, -0.688070834829,
                       0.501387950936, 0.559030549824, 0.587230569354, 0.584502793176, 0.55099088565, 0.542004216181,
                       0.536875721797, 0.503471481036, 0.443550802059, 0.360269539849, -0.0544488897851,
                       -0.0259964190427, 0.00382521056038, 0.0334453769956, 0.0613040687375},
                   1e-10);
  reduce_sum(o * tft::wave({1, 2, 3, 5}, 0.17, 0.5)).backward();
  tft::check_close(q.grad(), {0.227468854694, 0.381753472651, 0.501937189854, 0.577284352782, 0.917050738581,
                              1.13947838135, 1.26011981396, 1.26819849655, 0.314333482328, 0.318827203555,
                              0.294841040237, 0.244517604905, -0.0479031963451, -0.0832630133332, -0.111185193318,
                              -0.129175531122, -0.319866506058, -0.423922703436, -0.490111148264, -0.512519423893,
                              -0.263743023193, -0.29030646127, -0.290937687767, -0.265580317102},
                   1e-10);
  tft::check_close(k.grad(), {0.436811244001, 0.404266537637, 0.27274328357, 0.0744429614311, 0.130349158458,
                              -0.0391598931952, -0.199081237245, -0.310260551217, -0.429869580806, -0.34844057921,
                              -0.181701171533, 0.0295250199848, -0.137290821653, -0.0166660652313, 0.108039125209,
                              0.206292569801, 0.00558129553984, -0.0545123814204, -0.101259526223, -0.123214807457,
                              -0.0819019661441, -0.0320397975897, 0.0256668308417, 0.0770893239209, -0.146502726087,
                              -0.0474484235056, 0.0632229079713, 0.158415066601, 0.222823396691, 0.134000602516,
                              0.0123697874102, -0.112289583065},
                   1e-10);
  tft::check_close(v.grad(), {0.532965146226, 0.612124281672, 0.673635588716, 0.715725667702, 0.73718104203,
                              0.52606306216, 0.576780246999, 0.610868588432, 0.627345303685, 0.625735361377,
                              0.484427071944, 0.473856737901, 0.449624893201, 0.412430153224, 0.363344859662,
                              0.72019001992, 0.654212602701, 0.569373931165, 0.468119943762, 0.353369840151,
                              -0.54584322596, -0.573018352416, -0.583673092641, -0.577500265509, -0.554677836502,
                              -0.22897814065, -0.325901847475, -0.413429652108, -0.489038087138, -0.550547326135,
                              -0.316755314798, -0.418395004823, -0.507972171811, -0.582904264279, -0.641030955069,
                              -0.504017624518, -0.540204740874, -0.560817502716, -0.565261634513, -0.553409009873},
                   1e-10);
  tft::check_close(nn::scaled_dot_product_attention(q, k, v, Tensor(), true),
                   {0.891207360061, 0.971148377921, 0.99994172023, 0.976070921983, 0.900793191523, 0.826168886954,
                    0.766046370131, 0.665578328271, 0.530056132831, 0.366617359738, 0.00704463019141,
                    -0.168373917021, -0.334924679788, -0.483835894115, -0.607264821806, -0.550685542598,
                    -0.345888253492, -0.122873995107, 0.106611693781, 0.330482442205, 0.221105609975,
                    0.407019101172, 0.571496031897, 0.705873861102, 0.803075283439, -0.238030561445, -0.06587009903,
                    0.109759557723, 0.279608484801, 0.434731213095},
                   1e-10);
  const Tensor mask = reshape(tensor({1.0, 0.0, 1.0, 1.0}, bool_), {1, 4});
  tft::check_close(nn::scaled_dot_product_attention(q, k, v, mask, false, 0.7),
                   {0.779259863408, 0.840114882778, 0.856723395202, 0.828210676667, 0.75607841251, 0.0434377732945,
                    -0.0146045881296, -0.0718777666438, -0.125365343729, -0.17225027793, -0.82412232039,
                    -0.872557251751, -0.875037027107, -0.831431043607, -0.744035906742, 0.57676551237,
                    0.549365830612, 0.493032583293, 0.410732685377, 0.306800642871, 0.639004015824, 0.560156417592,
                    0.451806943688, 0.319662058607, 0.170681464759, -0.176638868138, -0.146913982659,
                    -0.109451547604, -0.0662246049091, -0.0195097970405},
                   1e-10);
}

BOOST_AUTO_TEST_CASE(attention_blocks_agree_with_the_unfused_softmax) {
  // Long enough for several query blocks (64) and key blocks (256): the online softmax of the
  // fused op against softmax(q kᵀ / sqrt(d) + mask) v written in ops, with a floating mask, causal.
  Generator gen(5);
  const Tensor q = random_normal({2, 1, 130, 8}, 0, 1, float64, &gen);
  const Tensor k = random_normal({2, 1, 300, 8}, 0, 1, float64, &gen);
  const Tensor v = random_normal({2, 1, 300, 3}, 0, 1, float64, &gen);
  const Tensor bias = random_normal({130, 300}, 0, 1, float64, &gen);
  Tensor s = matmul(q, k, false, true) / std::sqrt(8.0) + bias;
  tft::check_close(nn::scaled_dot_product_attention(q, k, v, bias), matmul(nn::softmax(s, -1), v).to_vector<double>(),
                   1e-12);
  std::vector<double> band(130 * 300);
  for (int i = 0; i < 130; ++i)
    for (int j = 0; j < 300; ++j) band[static_cast<std::size_t>(i * 300 + j)] = j <= i ? 0.0 : -1e300;
  Tensor causal = nn::softmax(s + from_vector(band, {130, 300}), -1);
  tft::check_close(nn::scaled_dot_product_attention(q, k, v, bias, true), matmul(causal, v).to_vector<double>(),
                   1e-12);
}

BOOST_AUTO_TEST_CASE(attention_gradients_first_and_second_order) {
  auto sdpa = [](bool causal) {
    return [causal](std::span<const Tensor> in) {
      return nn::scaled_dot_product_attention(in[0], in[1], in[2], in.size() > 3 ? in[3] : Tensor(), causal);
    };
  };
  for (bool causal : {false, true}) {
    tft::check_grad(sdpa(causal), {tft::rand64({2, 3, 4}), tft::rand64({2, 3, 4}), tft::rand64({2, 3, 2})});
    tft::check_grad(sdpa(causal),
                    {tft::rand64({1, 2, 4, 3}), tft::rand64({1, 2, 5, 3}), tft::rand64({1, 2, 5, 2}),
                     tft::rand64({4, 5})});  // a learned additive bias, broadcast over batch and heads
  }
  // A bool padding mask [B, 1, 1, T_k] (not differentiable).
  const Tensor pad = reshape(tensor({1.0, 1.0, 0.0, 1.0, 0.0, 1.0}, bool_), {2, 1, 1, 3});
  tft::check_grad([&](std::span<const Tensor> in) { return nn::scaled_dot_product_attention(in[0], in[1], in[2], pad); },
                  {tft::rand64({2, 2, 3, 4}), tft::rand64({2, 2, 3, 4}), tft::rand64({2, 2, 3, 4})});
}

BOOST_AUTO_TEST_CASE(attention_edge_cases_and_errors) {
  // A query with nothing to attend to gets zeros and no gradient (the unfused softmax: NaN).
  Tensor q = tft::rand64({1, 2, 3}), k = tft::rand64({1, 2, 3}), v = tft::rand64({1, 2, 3});
  const Tensor none = reshape(tensor({0.0, 0.0, 1.0, 1.0}, bool_), {2, 2});  // row 0 blocks every key
  Tensor o = nn::scaled_dot_product_attention(q, k, v, none);
  tft::check_close(slice(o, {0, 0, 0}, {1, 1, 3}), {0, 0, 0});
  reduce_sum(o).backward();
  tft::check_close(slice(q.grad(), {0, 0, 0}, {1, 1, 3}), {0, 0, 0});
  TF_CHECK_THROWS_WITH(nn::scaled_dot_product_attention(tft::rand64({2, 3, 4}), tft::rand64({2, 5, 3}),
                                                        tft::rand64({2, 5, 4})),
                       ShapeError,
                       "scaled_dot_product_attention: query and key must have the same last dimension D (the scores "
                       "are query · keyᵀ); got query [2,3,4], key [2,5,3], value [2,5,4]");
  TF_CHECK_THROWS_WITH(nn::scaled_dot_product_attention(tft::rand64({2, 3, 4}), tft::rand64({2, 5, 4}),
                                                        tft::rand64({2, 5, 4}), zeros({3, 3}, float64)),
                       ShapeError, "the mask must broadcast to the scores' shape [2,3,5]", "mask [3,3]");
  TF_CHECK_THROWS_WITH(nn::scaled_dot_product_attention(tft::rand64({3, 4}), tft::rand64({5, 4}),
                                                        tft::rand64({5, 4}), zeros({3, 5}, int32)),
                       DTypeError, "the mask is int32 [3,5]; it must be bool (true: attend) or float64");
  TF_CHECK_THROWS_WITH(nn::scaled_dot_product_attention(tft::rand64({3, 4}), tft::rand64({5, 4}),
                                                        tft::rand64({6, 4})),
                       ShapeError, "key and value must have the same number of positions T_k");
}

BOOST_AUTO_TEST_CASE(embedding_lookup_and_rows_of_linear) {
  const Tensor table = tensor({{0.0, 1.0}, {2.0, 3.0}, {4.0, 5.0}}, float64);
  const Tensor ids = reshape(tensor({2.0, 0.0, 2.0, 1.0}, int64), {2, 2});
  tft::check_close(nn::embedding_lookup(table, ids), {4, 5, 0, 1, 4, 5, 2, 3});
  // The gradient accumulates rows: id 2 twice.
  Tensor t = requiring(table.clone());
  reduce_sum(nn::embedding_lookup(t, ids)).backward();
  tft::check_close(t.grad(), {1, 1, 1, 1, 2, 2});
  tft::check_grad([&](std::span<const Tensor> in) { return nn::embedding_lookup(in[0], ids); }, {tft::rand64({3, 2})});
  TF_CHECK_THROWS_WITH(nn::embedding_lookup(table, tensor({3.0}, int32)), ValueError,
                       "embedding_lookup: gather: index 3 (at position 0) is out of range [0, 3)");
  // xw_plus_b on [batch, time, in] equals it on the rows.
  const Tensor x = tft::rand64({2, 3, 4}), w = tft::rand64({4, 5}), b = tft::rand64({5});
  Tensor y = nn::xw_plus_b(x, w, b);
  BOOST_TEST(y.shape().str() == "[2,3,5]");
  tft::check_same(reshape(y, {6, 5}), nn::xw_plus_b(reshape(x, {6, 4}), w, b));
  tft::check_grad([](std::span<const Tensor> in) { return nn::xw_plus_b(in[0], in[1], in[2]); },
                  {tft::rand64({2, 3, 4}), tft::rand64({4, 2}), tft::rand64({2})});
}

BOOST_AUTO_TEST_CASE(graph_mode) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {-1, 3, 4}, "x");
  Tensor gamma = Variable(tensor({1.0, 0.5, -1.0, 2.0}, float64), "gamma");
  Tensor h = nn::layer_norm(nn::gelu(x), gamma, Tensor());
  BOOST_TEST(tft::type_of(h) == "LayerNorm");
  Tensor a = nn::scaled_dot_product_attention(h, h, nn::silu(h), Tensor(), true);
  BOOST_TEST(tft::type_of(a) == "ScaledDotProductAttention");
  BOOST_TEST(a.shape().str() == "[?,3,4]");
  Tensor y = nn::xw_plus_b(a, Variable(reshape(tensor({1.0, 2.0, 3.0, 4.0}, float64), {4, 1}), "w"),
                           Variable(tensor({0.5}, float64), "b"));
  BOOST_TEST(y.shape().str() == "[?,3,1]");
  Tensor loss = reduce_sum(y);
  std::vector<Tensor> grads = gradients({loss}, {x, gamma});
  Session sess(g);
  sess.run(global_variables_initializer());
  const Tensor xv = tft::wave({2, 3, 4});
  auto out = sess.run({y, grads[0], grads[1]}, {{x, xv}});
  // The same program eagerly.
  Tensor xe = requiring(xv.clone()), ge = requiring(tensor({1.0, 0.5, -1.0, 2.0}, float64));
  Tensor he = nn::layer_norm(nn::gelu(xe), ge, Tensor());
  Tensor ye = nn::xw_plus_b(nn::scaled_dot_product_attention(he, he, nn::silu(he), Tensor(), true),
                            reshape(tensor({1.0, 2.0, 3.0, 4.0}, float64), {4, 1}), tensor({0.5}, float64));
  reduce_sum(ye).backward();
  tft::check_same(out[0], ye);
  tft::check_same(out[1], xe.grad());
  tft::check_same(out[2], ge.grad());
}

BOOST_AUTO_TEST_SUITE_END()
