#pragma once
/// Recurrent cells and layers with TensorFlow 1.x's semantics (tf.nn.rnn_cell.BasicLSTMCell,
/// GRUCell) in PyTorch's module shape, batch first: LSTMCell, GRUCell, LSTM and GRU over
/// [batch, time, features]. Each step is one fused op each way (its backward a kernel, or ops for
/// create_graph). Graph mode: tapeflow/graph/rnn.h builds the same steps from graph variables.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tapeflow/nn/module.h"
#include "tapeflow/ops/random.h"

namespace tapeflow::nn {

/// An LSTM's state: the output h and the cell c, each [batch, hidden] (TensorFlow's
/// LSTMStateTuple(c, h)).
struct LSTMState {
  Tensor h;
  Tensor c;
};

/// One step of BasicLSTMCell, fused (graph mode: an "LSTMStep" node with outputs h and c):
///   gates = x_proj + h · w_h                    x_proj [B, 4H] = x · W_x + b, w_h [H, 4H]
///   i, j, f, o = the four [B, H] blocks of gates, in that order (TensorFlow's)
///   c' = c * sigmoid(f + forget_bias) + sigmoid(i) * tanh(j)
///   h' = tanh(c') * sigmoid(o)
/// x_proj is the input's projection with the bias, taken for all time steps at once by LSTM.
/// Differentiable to any order in x_proj, h, c and w_h.
LSTMState lstm_step(const Tensor& x_proj, const LSTMState& state, const Tensor& w_h, double forget_bias = 1.0);

/// What lstm_sequence returns.
struct LSTMSequenceOutput {
  Tensor h;         // [T, B, H]: h after every step
  LSTMState state;  // the final state (its h is h's last step)
};

/// T steps of lstm_step as one fused op (graph mode: an "LSTMSequence" node with outputs h, the
/// final h, the final c), the way LSTM runs a layer: x_proj [T, B, 4H] time-major (every step's
/// x · W_x + b), from `state`, with w_h [H, 4H]. Its backward runs back through the steps with
/// one small product per step and takes w_h's gradient in one product over all T·B rows, where
/// T lstm_step ops would take T products and sum them. Differentiable to any order.
LSTMSequenceOutput lstm_sequence(const Tensor& x_proj, const LSTMState& state, const Tensor& w_h,
                                 double forget_bias = 1.0);

/// One step of TensorFlow's GRUCell, fused (graph mode: a "GRUStep" node):
///   r, u = sigmoid(gates_x + h · gates_h), the two [B, H] halves (reset, update)
///   c    = tanh(candidate_x + (r * h) · candidate_h)
///   h'   = u * h + (1 - u) * c
/// gates_x [B, 2H] and candidate_x [B, H] are the input's projections with their biases,
/// gates_h [H, 2H], candidate_h [H, H]. Note TensorFlow's candidate, which resets h before the
/// product; PyTorch's GRU resets the product instead. Differentiable to any order.
Tensor gru_step(const Tensor& gates_x, const Tensor& candidate_x, const Tensor& h, const Tensor& gates_h,
                const Tensor& candidate_h);

/// What gru_sequence returns.
struct GRUSequenceOutput {
  Tensor h;      // [T, B, H]: h after every step
  Tensor state;  // the final h
};

/// T steps of gru_step as one fused op (graph mode: a "GRUSequence" node with outputs h and the
/// final h), the way GRU runs a layer: gates_x [T, B, 2H] and candidate_x [T, B, H] time-major
/// (every step's projections with their biases), from h [B, H]; w_g and w_c packed once for all
/// steps, their gradients each one product over all T·B rows. Differentiable to any order.
GRUSequenceOutput gru_sequence(const Tensor& gates_x, const Tensor& candidate_x, const Tensor& h,
                               const Tensor& gates_h, const Tensor& candidate_h);

struct LSTMCellOptions {
  /// Added to the forget gate's pre-activation (BasicLSTMCell's default: forget little at first).
  double forget_bias = 1.0;
  /// The parameters' dtype: float32 or float64. Inputs must match.
  DType dtype = float32;
  /// The generator for the initial weights (nullptr: the default generator).
  Generator* generator = nullptr;
};

/// tf.nn.rnn_cell.BasicLSTMCell as a module: x [B, input_size], state -> state (lstm_step).
/// Parameters, TensorFlow's layout: `weight` [input_size + hidden_size, 4 * hidden_size] (its
/// "kernel": the input's rows, then the state's; glorot uniform) and `bias` [4 * hidden_size]
/// (zeros), gate blocks in the order i, j, f, o.
class LSTMCell : public Module {
 public:
  LSTMCell(std::int64_t input_size, std::int64_t hidden_size, LSTMCellOptions options = {});

  /// x [B, input_size] from the zero state -> h [B, hidden_size].
  Tensor forward(const Tensor& x) override;
  /// x [B, input_size], state -> the next state.
  LSTMState forward(const Tensor& x, const LSTMState& state);
  /// The zero state for a batch of `batch` (h and c zeros).
  LSTMState zero_state(std::int64_t batch) const;

  std::int64_t input_size() const { return input_; }
  std::int64_t hidden_size() const { return hidden_; }
  const LSTMCellOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

  std::string type_name() const override { return "LSTMCell"; }
  /// "3, 5" plus ", forget_bias=0.5" and ", dtype=float64" when not the defaults.
  std::string extra_repr() const override;

 private:
  friend class LSTM;
  /// x [..., input_size] -> x · W_x + b [..., 4H]; W_h [H, 4H].
  Tensor project(const Tensor& x) const;
  Tensor recurrent_weight() const;
  void check_input(const Tensor& x, const char* what, std::int64_t width) const;

  std::int64_t input_, hidden_;
  LSTMCellOptions options_;
  Tensor weight_;
  Tensor bias_;
};

struct GRUCellOptions {
  DType dtype = float32;
  Generator* generator = nullptr;
};

/// tf.nn.rnn_cell.GRUCell as a module: x [B, input_size], h -> h' (gru_step). Parameters,
/// TensorFlow's: `gates_weight` [input_size + hidden_size, 2 * hidden_size] (glorot uniform),
/// `gates_bias` [2 * hidden_size] (ones: TensorFlow starts the gates open), `candidate_weight`
/// [input_size + hidden_size, hidden_size] (glorot uniform), `candidate_bias` [hidden_size] (zeros).
class GRUCell : public Module {
 public:
  GRUCell(std::int64_t input_size, std::int64_t hidden_size, GRUCellOptions options = {});

  /// x [B, input_size] from the zero state -> h [B, hidden_size].
  Tensor forward(const Tensor& x) override;
  /// x [B, input_size], h [B, hidden_size] -> the next h.
  Tensor forward(const Tensor& x, const Tensor& h);

  std::int64_t input_size() const { return input_; }
  std::int64_t hidden_size() const { return hidden_; }
  const Tensor& gates_weight() const { return gates_weight_; }
  const Tensor& gates_bias() const { return gates_bias_; }
  const Tensor& candidate_weight() const { return candidate_weight_; }
  const Tensor& candidate_bias() const { return candidate_bias_; }

  std::string type_name() const override { return "GRUCell"; }
  std::string extra_repr() const override;

 private:
  friend class GRU;
  /// x [..., input_size] -> (x · Wg_x + bg [..., 2H], x · Wc_x + bc [..., H]).
  std::pair<Tensor, Tensor> project(const Tensor& x) const;
  void check_input(const Tensor& x, const char* what, std::int64_t width) const;

  std::int64_t input_, hidden_;
  GRUCellOptions options_;
  Tensor gates_weight_, gates_bias_, candidate_weight_, candidate_bias_;
};

struct LSTMOptions {
  /// Stacked layers: layer k > 0 reads layer k - 1's outputs.
  std::int64_t num_layers = 1;
  double forget_bias = 1.0;
  DType dtype = float32;
  Generator* generator = nullptr;
};

/// What LSTM::forward returns: the last layer's h at every step and each layer's final state.
struct LSTMOutput {
  Tensor output;                  // [B, T, hidden_size]
  std::vector<LSTMState> states;  // one per layer
};

/// A (stacked) LSTM over a sequence, batch first: x [B, T, input_size] -> [B, T, hidden_size].
/// Layer k is an LSTMCell (submodule "cell_<k>", TensorFlow's MultiRNNCell naming); each layer
/// projects the inputs of all T steps in one product, then runs them in one lstm_sequence.
class LSTM : public Module {
 public:
  LSTM(std::int64_t input_size, std::int64_t hidden_size, LSTMOptions options = {});

  /// x [B, T, input_size] from zero states -> the last layer's outputs [B, T, hidden_size].
  Tensor forward(const Tensor& x) override;
  /// From `initial` states (one per layer; empty: zeros); also returns the final states, to carry
  /// across windows of a long sequence (detach them first to truncate backpropagation).
  LSTMOutput forward(const Tensor& x, const std::vector<LSTMState>& initial);

  const std::vector<std::shared_ptr<LSTMCell>>& cells() const { return cells_; }
  std::string type_name() const override { return "LSTM"; }
  std::string extra_repr() const override;

 private:
  std::int64_t input_, hidden_;
  LSTMOptions options_;
  std::vector<std::shared_ptr<LSTMCell>> cells_;
};

struct GRUOptions {
  std::int64_t num_layers = 1;
  DType dtype = float32;
  Generator* generator = nullptr;
};

/// What GRU::forward returns: the last layer's h at every step and each layer's final h.
struct GRUOutput {
  Tensor output;               // [B, T, hidden_size]
  std::vector<Tensor> states;  // one per layer, [B, hidden_size]
};

/// A (stacked) GRU over a sequence, batch first, as LSTM: submodules "cell_<k>" (GRUCell), each
/// layer one gru_sequence.
class GRU : public Module {
 public:
  GRU(std::int64_t input_size, std::int64_t hidden_size, GRUOptions options = {});

  Tensor forward(const Tensor& x) override;
  GRUOutput forward(const Tensor& x, const std::vector<Tensor>& initial);

  const std::vector<std::shared_ptr<GRUCell>>& cells() const { return cells_; }
  std::string type_name() const override { return "GRU"; }
  std::string extra_repr() const override;

 private:
  std::int64_t input_, hidden_;
  GRUOptions options_;
  std::vector<std::shared_ptr<GRUCell>> cells_;
};

}  // namespace tapeflow::nn
