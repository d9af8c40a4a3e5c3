// LSTM and GRU (TensorFlow 1.x's cells): the fused steps' gradients, the layers against PyTorch
// (tests/data/recurrent_reference.{py,txt}), the modules' errors, and graph mode's static_rnn.
#include <array>
#include <functional>
#include <utility>

#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/nn.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(recurrent)

BOOST_AUTO_TEST_CASE(fused_steps_first_and_second_derivatives) {
  for (std::int64_t batch : {1, 3}) {
    tft::check_grad(
        [](std::span<const Tensor> in) {
          nn::LSTMState s = nn::lstm_step(in[0], {in[1], in[2]}, in[3], 1.0);
          return s.h * 2.0 + s.c;
        },
        {tft::rand64({batch, 8}), tft::rand64({batch, 2}), tft::rand64({batch, 2}), tft::rand64({2, 8})});
    tft::check_grad(
        [](std::span<const Tensor> in) { return nn::gru_step(in[0], in[1], in[2], in[3], in[4]); },
        {tft::rand64({batch, 6}), tft::rand64({batch, 3}), tft::rand64({batch, 3}), tft::rand64({3, 6}),
         tft::rand64({3, 3})});
  }
  // Only h used: c's gradient arrives undefined and counts as zeros.
  tft::check_grad([](std::span<const Tensor> in) { return nn::lstm_step(in[0], {in[1], in[2]}, in[3]).h; },
                  {tft::rand64({2, 4}), tft::rand64({2, 1}), tft::rand64({2, 1}), tft::rand64({1, 4})});
  TF_CHECK_THROWS_WITH(nn::lstm_step(zeros({2, 8}), {zeros({2, 2}), zeros({2, 3})}, zeros({2, 8})), ShapeError,
                       "lstm_step: c must be [batch, 2] for 2 units, got [2,3]");
  TF_CHECK_THROWS_WITH(nn::gru_step(zeros({2, 6}), zeros({2, 3}), zeros({2, 3}), zeros({3, 6}), zeros({3, 4})),
                       ShapeError, "gru_step: candidate_h must be [3, 3], got [3,4]");
}

/// Step t of a time-major [T, B, W] tensor, as [B, W].
Tensor step_at(const Tensor& x, std::int64_t t) {
  return reshape(slice(x, {t, 0, 0}, {1, x.dim(1), x.dim(2)}), {x.dim(1), x.dim(2)});
}

/// A layer run both ways from the same inputs: fused (one lstm_sequence or gru_sequence) or step
/// by step; returns h at every step [T, B, H] and the final state (LSTM: c, GRU: h).
using LayerRun = std::function<std::pair<Tensor, Tensor>(const std::vector<Tensor>& in, bool fused)>;

/// The values and every input's gradient of the fused layer against the steps (which multiply
/// by the recurrent weights with gemm, where the fused ops pack them once: kernels.h's PackedRhs).
void check_fused_equals_steps(const LayerRun& run, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> got[2];
  for (bool fused : {true, false}) {
    std::vector<Tensor> in;
    for (const Tensor& x : inputs) in.push_back(x.clone().requires_grad_());
    auto [hs, last] = run(in, fused);
    (reduce_sum(hs * tft::wave(hs.shape(), 0.23, 0.3, 1.0)) + reduce_sum(last)).backward();
    got[fused].push_back(hs);
    for (const Tensor& t : in) got[fused].push_back(t.grad());
  }
  for (std::size_t i = 0; i < got[0].size(); ++i) tft::check_close(got[1][i], got[0][i].to_vector<double>(), 1e-13);
}

BOOST_AUTO_TEST_CASE(fused_sequences_equal_the_steps_and_their_derivatives) {
  for (std::int64_t time : {1, 3})
    for (std::int64_t batch : {1, 2}) {
      const Tensor mix = tft::rand64({time, batch, 2});
      tft::check_grad(
          [mix](std::span<const Tensor> in) {
            nn::LSTMSequenceOutput r = nn::lstm_sequence(in[0], {in[1], in[2]}, in[3], 0.5);
            return reduce_sum(r.h * mix) + reduce_sum(r.state.h) * 0.3 + reduce_sum(square(r.state.c));
          },
          {tft::rand64({time, batch, 8}), tft::rand64({batch, 2}), tft::rand64({batch, 2}), tft::rand64({2, 8})});
      tft::check_grad(
          [mix](std::span<const Tensor> in) {
            nn::GRUSequenceOutput r = nn::gru_sequence(in[0], in[1], in[2], in[3], in[4]);
            return reduce_sum(r.h * mix) + reduce_sum(square(r.state));
          },
          {tft::rand64({time, batch, 4}), tft::rand64({time, batch, 2}), tft::rand64({batch, 2}), tft::rand64({2, 4}),
           tft::rand64({2, 2})});
    }
  // Only the outputs h used: the final state's gradients arrive undefined and count as zeros.
  tft::check_grad([](std::span<const Tensor> in) { return nn::lstm_sequence(in[0], {in[1], in[2]}, in[3]).h; },
                  {tft::rand64({4, 2, 4}), tft::rand64({2, 1}), tft::rand64({2, 1}), tft::rand64({1, 4})});
  tft::check_grad([](std::span<const Tensor> in) { return nn::gru_sequence(in[0], in[1], in[2], in[3], in[4]).h; },
                  {tft::rand64({4, 2, 2}), tft::rand64({4, 2, 1}), tft::rand64({2, 1}), tft::rand64({1, 2}),
                   tft::rand64({1, 1})});
  // 20 and 300 units split the weights' columns between threads at widths that are not multiples
  // of a cache line, 300 in several depth blocks.
  for (auto [T, B, H] : {std::array<std::int64_t, 3>{5, 3, 2}, {3, 2, 20}, {2, 3, 300}}) {
    const double w_scale = 3.0 / static_cast<double>(H);
    check_fused_equals_steps(
        [](const std::vector<Tensor>& in, bool fused) -> std::pair<Tensor, Tensor> {
          if (fused) {
            nn::LSTMSequenceOutput r = nn::lstm_sequence(in[0], {in[1], in[2]}, in[3]);
            const std::int64_t last = r.h.dim(0) - 1;
            BOOST_TEST(r.state.h.to_vector<double>() == step_at(r.h, last).to_vector<double>(),
                       boost::test_tools::per_element());
            return {r.h, r.state.c};
          }
          nn::LSTMState s{in[1], in[2]};
          std::vector<Tensor> hs;
          for (std::int64_t t = 0; t < in[0].dim(0); ++t) hs.push_back((s = nn::lstm_step(step_at(in[0], t), s, in[3])).h);
          return {stack(hs, 0), s.c};
        },
        {tft::wave({T, B, 4 * H}, 0.37, 0.1, 1.5), tft::wave({B, H}, 0.2, 0.4, 1.0), tft::wave({B, H}, 0.3, 0.7, 1.0),
         tft::wave({H, 4 * H}, 0.11, 0.5, w_scale)});
    check_fused_equals_steps(
        [](const std::vector<Tensor>& in, bool fused) -> std::pair<Tensor, Tensor> {
          if (fused) {
            nn::GRUSequenceOutput r = nn::gru_sequence(in[0], in[1], in[2], in[3], in[4]);
            return {r.h, r.state};
          }
          Tensor h = in[2];
          std::vector<Tensor> hs;
          for (std::int64_t t = 0; t < in[0].dim(0); ++t)
            hs.push_back(h = nn::gru_step(step_at(in[0], t), step_at(in[1], t), h, in[3], in[4]));
          return {stack(hs, 0), h};
        },
        {tft::wave({T, B, 2 * H}, 0.37, 0.1, 1.5), tft::wave({T, B, H}, 0.29, 0.6, 1.5), tft::wave({B, H}, 0.2, 0.4, 1.0),
         tft::wave({H, 2 * H}, 0.11, 0.5, w_scale), tft::wave({H, H}, 0.13, 0.2, w_scale)});
  }
  TF_CHECK_THROWS_WITH(nn::lstm_sequence(zeros({4, 2, 6}), {zeros({2, 2}), zeros({2, 2})}, zeros({2, 8})), ShapeError,
                       "lstm_sequence: x_proj must be [time, batch, 8] for 2 units and h [2,2], got [4,2,6]");
  TF_CHECK_THROWS_WITH(nn::lstm_sequence(zeros({0, 2, 8}), {zeros({2, 2}), zeros({2, 2})}, zeros({2, 8})), ValueError,
                       "lstm_sequence: x_proj [0,2,8] has no time steps");
  TF_CHECK_THROWS_WITH(nn::lstm_sequence(zeros({4, 2, 8}), {zeros({2, 2}), zeros({3, 2})}, zeros({2, 8})), ShapeError,
                       "lstm_sequence: c must be [batch, 2] for 2 units, got [3,2]");
  TF_CHECK_THROWS_WITH(nn::gru_sequence(zeros({4, 2, 4}), zeros({3, 2, 2}), zeros({2, 2}), zeros({2, 4}), zeros({2, 2})),
                       ShapeError,
                       "gru_sequence: gates_x must be [time, batch, 2 * units] and candidate_x [time, batch, units], "
                       "with h [2,2]; got gates_x [4,2,4], candidate_x [3,2,2]");
  TF_CHECK_THROWS_WITH(nn::gru_sequence(zeros({4, 2, 4}), zeros({4, 2, 2}), zeros({2, 2}), zeros({2, 4}), zeros({2, 3})),
                       ShapeError, "gru_sequence: candidate_h must be [2, 2], got [2,3]");
}

BOOST_AUTO_TEST_CASE(fused_sequences_in_graph_mode) {
  const Tensor xv = tft::wave({3, 2, 8}, 0.37, 0.1, 1.5), hv = tft::wave({2, 2}, 0.2, 0.4, 1.0),
               cv = tft::wave({2, 2}, 0.3, 0.7, 1.0), wv = tft::wave({2, 8}, 0.11, 0.5, 1.0);
  for (bool lstm : {true, false}) {
    // LSTM: x_proj [T, 2, 8], h, c, w_h [2, 8]; GRU: gates_x [T, 2, 4], candidate_x [T, 2, 2], h,
    // gates_h [2, 4], candidate_h [2, 2]: slices of the same values.
    std::vector<Tensor> values;
    if (lstm) values = {xv, hv, cv, wv};
    else
      values = {slice(xv, {0, 0, 0}, {3, 2, 4}), slice(xv, {0, 0, 4}, {3, 2, 2}), hv, slice(wv, {0, 0}, {2, 4}),
                slice(wv, {0, 4}, {2, 2})};
    auto run = [lstm](const std::vector<Tensor>& in) {
      if (lstm) {
        nn::LSTMSequenceOutput r = nn::lstm_sequence(in[0], {in[1], in[2]}, in[3]);
        return std::pair{r.h, r.state.c};
      }
      nn::GRUSequenceOutput r = nn::gru_sequence(in[0], in[1], in[2], in[3], in[4]);
      return std::pair{r.h, r.state};
    };
    Graph g;
    auto scope = g.as_default();
    std::vector<Tensor> feeds;
    FeedDict feed;
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::vector<std::int64_t> dims = values[i].shape().vec();
      if (values[i].rank() == 3) dims[0] = -1;  // time unknown until run
      feeds.push_back(placeholder(float64, Shape(dims), fmt::format("in{}", i)));
      feed.push_back({feeds.back(), values[i]});
    }
    auto [hs, last] = run(feeds);
    BOOST_TEST(hs.shape().str() == "[?,2,2]");
    BOOST_TEST(hs.name() == (lstm ? "LSTMSequence:0" : "GRUSequence:0"));
    BOOST_TEST(last.name() == (lstm ? "LSTMSequence:2" : "GRUSequence:1"));
    std::vector<Tensor> grads = gradients({reduce_sum(hs) + reduce_sum(last)}, {feeds[0], feeds[lstm ? 3 : 4]});
    Session sess(g);
    std::vector<Tensor> got = sess.run({hs, grads[0], grads[1]}, feed);
    std::vector<Tensor> in;
    for (const Tensor& v : values) in.push_back(v.clone().requires_grad_());
    auto [ehs, elast] = run(in);
    (reduce_sum(ehs) + reduce_sum(elast)).backward();
    tft::check_close(got[0], ehs.to_vector<double>(), 0);
    tft::check_close(got[1], in[0].grad().to_vector<double>(), 0);
    tft::check_close(got[2], in[lstm ? 3 : 4].grad().to_vector<double>(), 0);
  }
}

BOOST_AUTO_TEST_CASE(lstm_matches_pytorch) {
  const auto ref = tft::read_reference("recurrent_reference.txt");
  const std::int64_t B = 2, T = 4, F = 3, H = 4;
  nn::LSTM lstm(F, H, {.num_layers = 2, .forget_bias = 0.0, .dtype = float64});
  tft::fill_parameters(lstm, 0.1, 0.07, 0.5, 0.6);
  Tensor x = tft::wave({B, T, F}, 0.31, 0.2, 1.0).requires_grad_();
  const Tensor h0 = tft::wave({2, B, H}, 0.4, 0.1, 0.5), c0 = tft::wave({2, B, H}, 0.23, 0.9, 0.5);
  std::vector<nn::LSTMState> initial;
  for (std::int64_t k = 0; k < 2; ++k)
    initial.push_back({reshape(slice(h0, {k, 0, 0}, {1, B, H}), {B, H}), reshape(slice(c0, {k, 0, 0}, {1, B, H}), {B, H})});
  nn::LSTMOutput out = lstm.forward(x, initial);
  tft::check_close(out.output, ref.at("lstm/y"), 1e-12);
  tft::check_close(stack({out.states[0].h, out.states[1].h}, 0), ref.at("lstm/hn"), 1e-12);
  tft::check_close(stack({out.states[0].c, out.states[1].c}, 0), ref.at("lstm/cn"), 1e-12);
  // sum(y * w) + 0.5 sum(h_n), h_n: both layers' final h
  (reduce_sum(out.output * tft::wave({B, T, H}, 0.17, 0.6, 1.0)) +
   (reduce_sum(out.states[0].h) + reduce_sum(out.states[1].h)) * 0.5)
      .backward();
  const Tensor& w0 = lstm.cells()[0]->weight();
  BOOST_TEST(w0.shape().str() == "[7,16]");
  tft::check_close(x.grad(), ref.at("lstm/dx"), 1e-12);
  tft::check_close(slice(w0.grad(), {F, 0}, {H, 4 * H}), ref.at("lstm/dweight_h0"), 1e-12);
}

BOOST_AUTO_TEST_CASE(gru_matches_tensorflows_cell) {
  const auto ref = tft::read_reference("recurrent_reference.txt");
  const std::int64_t B = 2, T = 4, F = 3, H = 4;
  nn::GRU gru(F, H, {.dtype = float64});
  tft::fill_parameters(gru, 0.12, 0.05, 0.4, 0.7);
  Tensor x = tft::wave({B, T, F}, 0.31, 0.2, 1.0).requires_grad_();
  nn::GRUOutput out = gru.forward(x, {tft::wave({B, H}, 0.5, 0.3, 0.5)});
  tft::check_close(out.output, ref.at("gru/y"), 1e-12);
  tft::check_close(out.states[0], slice(out.output, {0, T - 1, 0}, {B, 1, H}).to_vector<double>(), 0);
  reduce_sum(out.output * tft::wave({B, T, H}, 0.17, 0.6, 1.0)).backward();
  tft::check_close(x.grad(), ref.at("gru/dx"), 1e-12);
  tft::check_close(gru.cells()[0]->gates_weight().grad(), ref.at("gru/dgates_weight"), 1e-12);
  tft::check_close(gru.cells()[0]->candidate_weight().grad(), ref.at("gru/dcandidate_weight"), 1e-12);
}

BOOST_AUTO_TEST_CASE(modules_shapes_defaults_and_errors) {
  nn::LSTM lstm(3, 5, {.num_layers = 2});
  BOOST_TEST(lstm.str() == "LSTM(3, 5, num_layers=2,\n  (cell_0): LSTMCell(3, 5)\n  (cell_1): LSTMCell(5, 5)\n)");
  BOOST_TEST(lstm(zeros({4, 6, 3})).shape().str() == "[4,6,5]");
  BOOST_TEST(lstm.named_parameters()[0].first == "cell_0/weight");
  nn::LSTMCell cell(3, 5);
  tft::check_close(cell.bias(), std::vector<double>(20, 0.0));
  BOOST_TEST(cell(zeros({2, 3})).shape().str() == "[2,5]");
  nn::GRUCell gcell(3, 5);
  tft::check_close(gcell.gates_bias(), std::vector<double>(10, 1.0));  // TensorFlow starts the gates open
  BOOST_TEST(gcell(zeros({2, 3})).shape().str() == "[2,5]");
  TF_CHECK_THROWS_WITH(lstm(zeros({4, 3})), ShapeError, "LSTM(3, 5, num_layers=2): expected an input [batch, time, 3], got [4,3]");
  TF_CHECK_THROWS_WITH(lstm.forward(zeros({4, 6, 3}), {cell.zero_state(4)}), ValueError,
                       "LSTM(3, 5, num_layers=2): 1 initial states for 2 layers; give one per layer, or none for zeros");
  TF_CHECK_THROWS_WITH(cell.forward(zeros({2, 3}), {zeros({2, 4}), zeros({2, 5})}), ShapeError,
                       "LSTMCell(3, 5): expected a state h [..., 5], got [2,4]");
  TF_CHECK_THROWS_WITH(nn::GRU(3, 5, {.num_layers = 0}), ValueError, "GRU(3, 5, num_layers=0): num_layers must be positive");
  TF_CHECK_THROWS_WITH(lstm(zeros({4, 6, 3}, float64)), DTypeError, "the input is float64 [4,6,3] but the parameters are float32");
}

BOOST_AUTO_TEST_CASE(static_rnn_in_graph_mode_equals_the_eager_cells) {
  const std::int64_t B = 2, T = 3, F = 3, H = 4;
  const Tensor xv = tft::wave({B, T, F}, 0.31, 0.2, 1.0);
  for (bool use_lstm : {true, false}) {
    Graph g;
    auto scope = g.as_default();
    Tensor x = placeholder(float64, {-1, T, F}, "x");
    rnn_cell::BasicLSTMCell lstm_cell(H);
    rnn_cell::GRUCell gru_cell(H);
    rnn_cell::RNNCell& cell = use_lstm ? static_cast<rnn_cell::RNNCell&>(lstm_cell) : gru_cell;
    RnnOutput r = static_rnn(cell, x);
    BOOST_TEST(r.outputs.size() == 3u);
    BOOST_TEST(r.outputs[0].shape().str() == "[?,4]");
    std::vector<std::string> names;
    for (const Tensor& v : trainable_variables()) names.push_back(v.name());
    if (use_lstm)
      BOOST_TEST(names == (std::vector<std::string>{"rnn/basic_lstm_cell/kernel:0", "rnn/basic_lstm_cell/bias:0"}),
                 boost::test_tools::per_element());
    else
      BOOST_TEST(names == (std::vector<std::string>{"rnn/gru_cell/gates/kernel:0", "rnn/gru_cell/gates/bias:0",
                                                    "rnn/gru_cell/candidate/kernel:0", "rnn/gru_cell/candidate/bias:0"}),
                 boost::test_tools::per_element());
    Tensor loss = reduce_sum(stack(r.outputs, 1) * tft::wave({B, T, H}, 0.17, 0.6, 1.0));
    std::vector<Tensor> grads = gradients({loss}, {x});
    Session sess(g);
    sess.run(global_variables_initializer());
    // The eager module with the graph's initial values.
    std::vector<Tensor> values;
    for (const Tensor& v : trainable_variables()) values.push_back(sess.run(v));
    Tensor xe = xv.clone().requires_grad_();
    Tensor ye;
    if (use_lstm) {
      nn::LSTM m(F, H, {.dtype = float64});
      m.load_state_dict({{"cell_0/weight", values[0]}, {"cell_0/bias", values[1]}});
      ye = m(xe);
    } else {
      nn::GRU m(F, H, {.dtype = float64});
      m.load_state_dict({{"cell_0/gates_weight", values[0]}, {"cell_0/gates_bias", values[1]},
                         {"cell_0/candidate_weight", values[2]}, {"cell_0/candidate_bias", values[3]}});
      ye = m(xe);
    }
    reduce_sum(ye * tft::wave({B, T, H}, 0.17, 0.6, 1.0)).backward();
    auto out = sess.run({stack(r.outputs, 1), grads[0]}, {{x, xv}});
    tft::check_close(out[0], ye.to_vector<double>(), 1e-12);
    tft::check_close(out[1], xe.grad().to_vector<double>(), 1e-12);
  }
  Graph g;
  auto scope = g.as_default();
  rnn_cell::BasicLSTMCell cell(4);
  TF_CHECK_THROWS_WITH(static_rnn(cell, placeholder(float32, {-1, -1, 3}, "x")), ShapeError,
                       "static_rnn: inputs must be [batch, time, features] with the time and features known",
                       "got [?,?,3]", "placeholder(float32, {-1, 20, 3})");
}

BOOST_AUTO_TEST_SUITE_END()
