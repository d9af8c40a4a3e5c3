// ONNX export (tapeflow/io/onnx.h): every exported model passes onnx::checker (export_* runs it
// before writing), and runs in ONNX Runtime with tapeflow's outputs to 1e-4 in float32, at a batch
// size other than the one it was exported with; what cannot be exported is an error naming it.
#include <filesystem>
#include <functional>
#include <memory>

#include <boost/test/unit_test.hpp>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "../samples/char_lstm/model.h"
#include "../samples/char_transformer/model.h"
#include "../samples/lenet_eager/lenet.h"
#include "helpers.h"
#include "onnx/ort.h"
#include "tapeflow/graph.h"
#include "tapeflow/io/onnx.h"
#include "tapeflow/nn.h"
#include "tapeflow/tapeflow.h"

namespace tf = tapeflow;
namespace nn = tapeflow::nn;
namespace fs = std::filesystem;

namespace {

/// A module whose forward is a function (the ops under test) over registered parameters.
class Fn : public nn::Module {
 public:
  using F = std::function<tf::Tensor(Fn&, const tf::Tensor&)>;
  explicit Fn(F f, const nn::NamedTensors& parameters = {}) : f_(std::move(f)) {
    for (const auto& [name, t] : parameters) register_parameter(name, t);
  }
  /// A parameter by name.
  tf::Tensor param(const std::string& name) const {
    for (const auto& [n, t] : named_parameters())
      if (n == name) return t;
    throw tf::ValueError("no parameter " + name);
  }
  tf::Tensor forward(const tf::Tensor& x) override { return f_(*this, x); }

 private:
  F f_;
};

std::string temp_model(const std::string& name) {
  return (fs::temp_directory_path() / fmt::format("tapeflow_onnx_{}_{}.onnx", ::getpid(), name)).string();
}

/// The file as ONNX's messages, checked again here by libonnx's checker (as a runtime would).
::onnx::ModelProto read_model(const std::string& path) {
  ::onnx::ModelProto m;
  std::ifstream in(path, std::ios::binary);
  BOOST_REQUIRE(m.ParseFromIstream(&in));
  BOOST_CHECK_NO_THROW(::onnx::checker::check_model(m));
  return m;
}

double max_abs_diff(const tf::Tensor& a, const tf::Tensor& b) {
  BOOST_REQUIRE_EQUAL(a.shape().str(), b.shape().str());
  return tf::reduce_max(tf::abs(tf::cast(a, tf::float64) - tf::cast(b, tf::float64))).item<double>();
}

/// Exports `m` on `example`, runs the file in ONNX Runtime on `input` and compares with m's
/// forward in eval mode; returns the model's path.
std::string check_in_runtime(nn::Module& m, const tf::Tensor& example, const tf::Tensor& input, const std::string& name,
                             double atol = 1e-4) {
  const std::string path = temp_model(name);
  tf::onnx::export_module(m, {example}, path);
  read_model(path);
  tf::Tensor expected;
  {
    tf::NoGradGuard no_grad;
    m.eval();
    expected = m(input);
    m.train();
  }
  const std::vector<tf::Tensor> got = tft::ort::run(path, {{"input", input}});
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  const double diff = max_abs_diff(got[0], expected);
  BOOST_TEST_MESSAGE(name << ": max |ORT - tapeflow| = " << diff);
  BOOST_CHECK_MESSAGE(diff <= atol, name << ": ONNX Runtime differs from tapeflow by " << diff);
  return path;
}

tf::Tensor images(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c) {
  return tf::random_uniform({n, h, w, c}, -1, 1);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(onnx)

// ---------------------------------------------------------------------------- the file

BOOST_AUTO_TEST_CASE(a_module_exports_with_its_parameters_as_named_initializers) {
  lenet::LeNet net(0.5);
  const std::string path = temp_model("lenet_names");
  tf::onnx::export_module(net, {tf::random_uniform({3, 784})}, path);
  const ::onnx::ModelProto m = read_model(path);
  BOOST_TEST(m.opset_import(0).version() == 17);
  BOOST_TEST(m.producer_name() == "tapeflow");
  BOOST_REQUIRE_EQUAL(m.graph().input_size(), 1);
  BOOST_TEST(m.graph().input(0).name() == "input");
  BOOST_TEST(m.graph().input(0).type().tensor_type().shape().dim(0).dim_param() == "batch");
  BOOST_TEST(m.graph().input(0).type().tensor_type().shape().dim(1).dim_value() == 784);
  BOOST_TEST(m.graph().output(0).name() == "output");
  std::map<std::string, std::vector<std::int64_t>> init;
  for (const auto& t : m.graph().initializer()) init[t.name()] = {t.dims().begin(), t.dims().end()};
  for (const auto& [name, p] : net.named_parameters()) {
    BOOST_REQUIRE_MESSAGE(init.count(name), "no initializer " << name);
    BOOST_TEST(init[name] == p.shape().vec());
  }
  // The trace left the module as it was: training mode, no gradients recorded on its parameters.
  BOOST_TEST(net.is_training());
  fs::remove(path);
}

BOOST_AUTO_TEST_CASE(what_cannot_be_exported_is_an_error_naming_it) {
  Fn cumsum([](Fn&, const tf::Tensor& x) { return tf::cumsum(tf::relu(x), 1); });
  const std::string path = temp_model("errors");
  TF_CHECK_THROWS_WITH(tf::onnx::export_module(cumsum, {tf::ones({2, 3})}, path), tf::ValueError,
                       "onnx export: op cumsum (Cumsum): tapeflow has no ONNX form for Cumsum ops");
  BOOST_TEST(!fs::exists(path));  // nothing written

  nn::Sequential net(Fn([](Fn&, const tf::Tensor& x) { return tf::relu(x); }),
                     Fn([](Fn&, const tf::Tensor& x) { return tf::cumsum(x, 1); }));
  TF_CHECK_THROWS_WITH(tf::onnx::export_module(net, {tf::ones({2, 3})}, path), tf::ValueError,
                       "op cumsum (Cumsum) in module '1'");
  TF_CHECK_THROWS_WITH(tf::onnx::export_module(cumsum, {tf::ones({2, 3}), tf::ones({2, 3})}, path), tf::ValueError,
                       "onnx::export_module: nn::Module's forward takes one input, got 2 example inputs");
  Fn relu([](Fn&, const tf::Tensor& x) { return tf::relu(x); });
  TF_CHECK_THROWS_WITH(tf::onnx::export_module(relu, {tf::ones({2, 3})}, path, {.opset = 11}), tf::ValueError,
                       "onnx::export_module: opset 11 is not supported: tapeflow writes opsets 13 to 17");
  TF_CHECK_THROWS_WITH(tf::onnx::export_module(relu, {tf::ones({2, 3})}, path, {.output_names = {"a", "b"}}),
                       tf::ValueError, "2 output names given for 1 outputs");
  // Batch norm with the batch's statistics (training mode) has no inference form.
  Fn bn([](Fn&, const tf::Tensor& x) {
    return nn::fused_batch_norm(x, tf::ones({3}), tf::zeros({3}), tf::zeros({3}), tf::ones({3}), 1e-3, true).y;
  });
  TF_CHECK_THROWS_WITH(tf::onnx::export_module(bn, {tf::ones({2, 3})}, path), tf::ValueError,
                       "op fused_batch_norm (FusedBatchNorm): is_training is true: batch norm would use the batch's "
                       "statistics; freeze is_training at false");
  BOOST_TEST(!fs::exists(path));
}

// ---------------------------------------------------------------------------- ops in ONNX Runtime

BOOST_AUTO_TEST_CASE(convolutions_and_pools_keep_nhwc_and_same_padding, *boost::unit_test::precondition(tft::ort::available)) {
  // SAME on odd sizes with stride 2 pads one more at the bottom and right, as TensorFlow.
  struct Net : nn::Module {
    std::shared_ptr<nn::Conv2d> a, b, c;
    Net() {
      a = register_module("a", nn::Conv2d(3, 4, 3, {.strides = {2, 2}}));
      b = register_module("b", nn::Conv2d(4, 5, {2, 3}, {.padding = nn::Padding::Valid, .bias = false}));
      c = register_module("c", nn::Conv2d(5, 6, 1, {.relu = true}));  // _FusedConv2D with Relu
    }
    tf::Tensor forward(const tf::Tensor& x) override {
      tf::Tensor y = tf::relu((*a)(x));
      y = nn::max_pool(y, {3, 3}, {2, 2}, nn::Padding::Same);
      y = (*b)(y);
      y = nn::avg_pool(tf::pad(y, {{0, 0}, {1, 1}, {1, 1}, {0, 0}}), {2, 2}, {1, 1}, nn::Padding::Same);
      y = nn::local_response_normalization((*c)(y), 2, 1.5, 0.3, 0.75);
      return nn::flatten(y);
    }
  } net;
  check_in_runtime(net, images(2, 11, 9, 3), images(5, 11, 9, 3), "conv_pool");
}

BOOST_AUTO_TEST_CASE(dense_layers_activations_and_shape_ops, *boost::unit_test::precondition(tft::ort::available)) {
  Fn net([](Fn& m, const tf::Tensor& x) {  // x [N, 6]
    tf::Tensor w = m.param("w"), b = m.param("b"), v = m.param("v");
    tf::Tensor h = nn::xw_plus_b(x, w, b);  // _FusedMatMul: Gemm
    tf::Tensor parts = tf::concat({nn::gelu(h), nn::gelu(h, true), nn::silu(h), tf::elu(h), tf::leaky_relu(h),
                                   tf::relu6(h * 4.0), tf::softplus(h), tf::tanh(h), tf::sigmoid(h)},
                                  1);                          // [N, 72]
    tf::Tensor z = tf::matmul(h, v, false, true);              // [N, 4]
    z = z + tf::square(z) * 0.1 - tf::rsqrt(tf::abs(z) + 1.0) + tf::log1p(tf::abs(z)) + tf::expm1(z * 0.1);
    z = tf::where(tf::greater(z, tf::zeros({4})), z, z * 0.5) / 3.0;
    tf::Tensor r = tf::transpose(tf::reshape(parts, {-1, 8, 9}), {0, 2, 1});  // [N, 9, 8]
    r = tf::reduce_mean(tf::slice(r, {0, 1, 0}, {-1, 4, -1}), {1}) +
        tf::reduce_sum(tf::squeeze(tf::expand_dims(z, 1), {1}), {-1}, true);  // [N, 8]
    tf::Tensor s = nn::log_softmax(r) + tf::reduce_sum(nn::softmax(tf::tile(z, {1, 2}), 1), {1}, true) +
                   nn::relu_layer(x, w, b);  // _FusedMatMul with Relu
    tf::Tensor bz = tf::matmul(tf::stack({z, z * 2.0}, 1), tf::reshape(v, {1, 4, 8}));  // BatchMatMulV2 [N, 2, 8]
    return tf::concat({s, nn::flatten(bz), tf::cast(tf::expand_dims(tf::argmax(r, 1), 1), tf::float32)}, 1);
  }, {{"w", tf::random_normal({6, 8}, 0, 0.5)}, {"b", tf::random_normal({8})}, {"v", tf::random_normal({4, 8}, 0, 0.5)}});
  check_in_runtime(net, tf::random_normal({3, 6}), tf::random_normal({7, 6}), "dense");
}

BOOST_AUTO_TEST_CASE(normalization_attention_and_embeddings, *boost::unit_test::precondition(tft::ort::available)) {
  // The masks are constants of the model (a tensor the forward uses without an op becomes one).
  const tf::Tensor mask = tf::logical_or(tf::greater(tf::random_uniform({5, 5}), tf::scalar(0.3)),
                                         tf::cast(tf::linalg::band_part(tf::ones({5, 5}), 0, 0), tf::bool_));
  const tf::Tensor bias = tf::random_normal({5, 5});
  Fn net([mask, bias](Fn& m, const tf::Tensor& ids) {  // ids [N, 5] int64 -> [N, 5, 8]
    tf::Tensor x = tf::gather(m.param("table"), ids);
    x = nn::layer_norm(x, m.param("gamma"), m.param("beta"));
    tf::Tensor q = tf::reshape(x, {-1, 5, 2, 4});  // [N, T, heads, D]
    q = tf::transpose(q, {0, 2, 1, 3});
    tf::Tensor a = nn::scaled_dot_product_attention(q, q * 0.5, q, tf::Tensor(), true);
    tf::Tensor b = nn::scaled_dot_product_attention(q, q, q * 2.0, mask, false, 0.3);
    tf::Tensor c = nn::scaled_dot_product_attention(q, q, q, tf::linalg::band_part(bias, 1, 2));
    return tf::reshape(tf::transpose(a + b + c, {0, 2, 1, 3}), {-1, 5, 8});
  }, {{"table", tf::random_normal({11, 8})}, {"gamma", tf::random_normal({8})}, {"beta", tf::random_normal({8})}});
  check_in_runtime(net, tf::cast(tf::random_uniform({2, 5}, 0, 11), tf::int64),
                   tf::cast(tf::random_uniform({4, 5}, 0, 11), tf::int64), "attention");
}

BOOST_AUTO_TEST_CASE(recurrent_layers_run_as_a_scan_over_time, *boost::unit_test::precondition(tft::ort::available)) {
  struct Net : nn::Module {
    std::shared_ptr<nn::LSTM> lstm;
    std::shared_ptr<nn::GRU> gru;
    std::shared_ptr<nn::LSTMCell> lstm_cell;
    std::shared_ptr<nn::GRUCell> gru_cell;
    Net() {
      lstm = register_module("lstm", nn::LSTM(3, 6, {.num_layers = 2, .forget_bias = 0.5}));
      gru = register_module("gru", nn::GRU(6, 5));
      lstm_cell = register_module("lstm_cell", nn::LSTMCell(5, 4));
      gru_cell = register_module("gru_cell", nn::GRUCell(4, 3));
    }
    tf::Tensor forward(const tf::Tensor& x) override {  // [B, T, 3] -> [B, 3]
      tf::Tensor h = (*gru)((*lstm)(x));                  // [B, T, 5]
      tf::Tensor last = tf::squeeze(tf::slice(h, {0, h.dim(1) - 1, 0}, {-1, 1, -1}), {1});
      return (*gru_cell)((*lstm_cell)(last));
    }
  } net;
  check_in_runtime(net, tf::random_normal({2, 7, 3}), tf::random_normal({4, 7, 3}), "recurrent");
}

BOOST_AUTO_TEST_CASE(the_samples_networks_run_in_onnx_runtime, *boost::unit_test::precondition(tft::ort::available)) {
  nn::Sequential mlp(nn::Linear(784, 128), nn::ReLU(), nn::Linear(128, 32), nn::ReLU(), nn::Linear(32, 10));  // mnist_mlp's
  check_in_runtime(mlp, tf::random_uniform({2, 784}), tf::random_uniform({5, 784}), "mnist_mlp");
  lenet::LeNet lenet(0.5);
  check_in_runtime(lenet, tf::random_uniform({2, 784}), tf::random_uniform({5, 784}), "lenet");
  char_transformer::CharTransformer transformer(16, 32, 2, 4, 0.1);
  check_in_runtime(transformer, tf::cast(tf::random_uniform({5, 16}, 0, 256), tf::int64),
                   tf::cast(tf::random_uniform({3, 16}, 0, 256), tf::int64), "char_transformer");
  char_lstm::CharLSTM lstm(16, 32, 2);
  check_in_runtime(lstm, tf::cast(tf::random_uniform({5, 12}, 0, 256), tf::int64),
                   tf::cast(tf::random_uniform({3, 12}, 0, 256), tf::int64), "char_lstm");
}

// ---------------------------------------------------------------------------- graph mode

BOOST_AUTO_TEST_CASE(a_graph_exports_between_placeholders_and_fetches, *boost::unit_test::precondition(tft::ort::available)) {
  tf::Graph g;
  auto scope = g.as_default();
  tf::Tensor x = tf::placeholder(tf::float32, {-1, 8, 8, 2}, "images");
  tf::Tensor is_training = tf::placeholder(tf::bool_, {}, "is_training");
  tf::Tensor keep_prob = tf::placeholder(tf::float32, {}, "keep_prob");
  tf::Tensor net = tf::layers::conv2d(x, 4, {3, 3}, "conv1",
                                      {.normalizer_fn = tf::layers::batch_norm_fn({.decay = 0.5, .is_training = is_training}),
                                       .padding = nn::Padding::Same});
  net = tf::layers::max_pool2d(net, {2, 2}, 2, "pool1");
  net = tf::layers::dropout(net, keep_prob, is_training, "dropout");
  net = tf::layers::flatten(net);
  net = tf::layers::fully_connected(net, 3, "logits", {.activation_fn = nullptr});
  tf::Session sess;
  sess.run(tf::global_variables_initializer());
  // A few training steps move batch norm's moving averages away from 0 and 1.
  tf::Tensor update = tf::group(g.get_collection(tf::GraphKeys::UPDATE_OPS));
  for (int i = 0; i < 3; ++i)
    sess.run({update}, {{x, images(4, 8, 8, 2) + 0.5}, {is_training, tf::scalar(1, tf::bool_)}, {keep_prob, tf::scalar(0.5)}});

  const std::string path = temp_model("graph");
  const tf::FeedDict frozen{{is_training, tf::scalar(0, tf::bool_)}, {keep_prob, tf::scalar(1.0)}};
  TF_CHECK_THROWS_WITH(tf::onnx::export_graph(sess, {x}, {net}, path), tf::ValueError,
                       "onnx::export_graph: the outputs need placeholder 'is_training' [], which is neither an input "
                       "nor frozen");
  TF_CHECK_THROWS_WITH(tf::onnx::export_graph(sess, {net}, {net}, path), tf::ValueError, "not a placeholder");
  tf::onnx::export_graph(sess, {x}, {net}, path, {.output_names = {"logits"}, .frozen = frozen});
  const ::onnx::ModelProto m = read_model(path);
  BOOST_TEST(m.graph().input(0).name() == "images");
  BOOST_TEST(m.graph().output(0).name() == "logits");
  bool weights = false;
  for (const auto& t : m.graph().initializer()) weights |= t.name() == "conv1/weights";
  BOOST_TEST(weights);

  const tf::Tensor batch = images(6, 8, 8, 2);
  tf::FeedDict feeds(frozen);
  feeds.push_back({x, batch});
  const tf::Tensor expected = sess.run(net, feeds);
  const std::vector<tf::Tensor> got = tft::ort::run(path, {{"images", batch}});
  const double diff = max_abs_diff(got[0], expected);
  BOOST_TEST_MESSAGE("graph: max |ORT - tapeflow| = " << diff);
  BOOST_CHECK_LE(diff, 1e-4);

  // A node with no ONNX form is named; nothing is written.
  fs::remove(path);
  tf::Tensor summed = tf::cumsum(net, 1);
  TF_CHECK_THROWS_WITH(tf::onnx::export_graph(sess, {x}, {summed}, path, {.frozen = frozen}), tf::ValueError,
                       "onnx export: node 'Cumsum' (Cumsum): tapeflow has no ONNX form for Cumsum ops");
  BOOST_TEST(!fs::exists(path));
  // With dynamic_batch = false, the batch is the placeholder's: unknown stays free, known is fixed.
  tf::onnx::export_graph(sess, {x}, {net}, path, {.dynamic_batch = false, .frozen = frozen});
  BOOST_TEST(read_model(path).graph().input(0).type().tensor_type().shape().dim(1).dim_value() == 8);
  fs::remove(path);
}

BOOST_AUTO_TEST_SUITE_END()
