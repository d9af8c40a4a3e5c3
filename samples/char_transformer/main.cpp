// A GPT-style character-level language model on the fortune cookies of Debian's `fortunes`
// package: bytes in, the next byte's distribution out, a stack of causal Transformer blocks in
// between (token and position embeddings, 4 pre-norm blocks of width 128 with 4 heads and a GELU
// MLP 4x as wide, a final layer norm, a linear head).
//
//   ./char_transformer --steps 2000 --log_dir logs --checkpoint_dir checkpoints
//
// Trains with AdamW (lr 1e-3, weight decay 0.01 on the matrices), 100 warm-up steps then a cosine
// decay, the gradients clipped to a global norm of 1; then measures the loss on the held-out 10%
// of the corpus and writes some text. Its last line reads
// `final: val_loss=<nats per byte> steps=<steps> seconds=<seconds> tokens_per_s=<training tokens/s>`.
#include <CLI/CLI.hpp>

#include "char_model.h"
#include "model.h"

namespace tf = tapeflow;
using char_transformer::CharTransformer;

int main(int argc, char** argv) try {
  CLI::App app{"Trains a GPT-style byte-level language model on Debian's fortune cookies"};
  char_model::Config c;
  int width = 128, layers = 4, heads = 4;
  double dropout = 0.0;
  char_model::add_flags(app, c);
  app.add_option("--width", width, "the model's width (embeddings, attention)")->check(flags::positive)->capture_default_str();
  app.add_option("--layers", layers, "Transformer blocks")->check(flags::positive)->capture_default_str();
  app.add_option("--heads", heads, "attention heads (must divide --width)")->check(flags::positive)->capture_default_str();
  // No dropout by default: 2000 steps see each byte of the corpus about 3 times, too few to overfit.
  app.add_option("--dropout", dropout, "drop probability in the blocks")->check(CLI::Range(0.0, 0.99))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  char_model::Run run("char_transformer", c);
  tf::manual_seed(c.seed);
  CharTransformer model(c.context, width, layers, heads, dropout);
  const char_model::Logits logits = [&](const tf::Tensor& inputs) { return model(inputs); };
  run.train(model, logits);
  run.validation_loss(model, logits);
  run.print_sample(model, [&](const tf::Tensor& context) {
    // The last `context` bytes at most; the logits of the last position.
    const std::int64_t t = context.dim(1), keep = std::min(t, model.context());
    const tf::Tensor out = model(tf::slice(context, {0, t - keep}, {1, keep}));
    return tf::reshape(tf::slice(out, {0, keep - 1, 0}, {1, 1, 256}), {256});
  });
  run.finish();
  return 0;
} catch (const tf::Error& e) {
  fmt::print(stderr, "char_transformer: {}\n", e.what());
  return 1;
}
