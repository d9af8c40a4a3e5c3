// A character-level LSTM language model (char-rnn) on the fortune cookies of Debian's `fortunes`
// package: bytes in, an embedding of 256, two LSTM layers of 256 (TensorFlow 1.x's BasicLSTMCell,
// forget bias 1), a linear head to the next byte's logits.
//
//   ./char_lstm --steps 2000 --log_dir logs --checkpoint_dir checkpoints
//
// The same data, optimizer, schedule and loop as ../char_transformer (samples/common/char_model.h),
// with AdamW at 3e-3. Training windows start from zero states; the validation pass carries the
// states from a window to the next (each row of sequential_windows continues the previous
// window's). Its last line reads
// `final: val_loss=<nats per byte> steps=<steps> seconds=<seconds> tokens_per_s=<training tokens/s>`.
#include "char_model.h"
#include "model.h"

namespace tf = tapeflow;
namespace nn = tapeflow::nn;
using char_lstm::CharLSTM;

int main(int argc, char** argv) try {
  CLI::App app{"Trains a character-level LSTM language model on Debian's fortune cookies"};
  char_model::Config c;
  c.learning_rate = 3e-3;  // an LSTM this size trains faster at 3e-3 than at the transformer's 1e-3
  int embedding = 256, hidden = 256, layers = 2;
  char_model::add_flags(app, c);
  app.add_option("--embedding", embedding, "embedding width")->check(flags::positive)->capture_default_str();
  app.add_option("--hidden", hidden, "LSTM units per layer")->check(flags::positive)->capture_default_str();
  app.add_option("--layers", layers, "LSTM layers")->check(flags::positive)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  char_model::Run run("char_lstm", c);
  tf::manual_seed(c.seed);
  CharLSTM model(embedding, hidden, layers);
  run.train(model, [&](const tf::Tensor& inputs) { return model(inputs); });
  std::vector<nn::LSTMState> states;  // carried across the validation windows
  run.validation_loss(model, [&](const tf::Tensor& inputs) { return model.forward(inputs, states); });
  states.clear();
  run.print_sample(model, [&](const tf::Tensor& context) {
    // Feeds the whole context once, then one byte at a time: the states carry the rest.
    const std::int64_t t = context.dim(1);
    const tf::Tensor in = states.empty() ? context : tf::slice(context, {0, t - 1}, {1, 1});
    const tf::Tensor out = model.forward(in, states);
    return tf::reshape(tf::slice(out, {0, in.dim(1) - 1, 0}, {1, 1, 256}), {256});
  });
  run.finish();
  return 0;
} catch (const tf::Error& e) {
  fmt::print(stderr, "char_lstm: {}\n", e.what());
  return 1;
}
