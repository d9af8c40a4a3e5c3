// TensorFlow's "TensorFlow Mechanics 101" (../shared/seeds/003 and 004: mnist.py and
// fully_connected_feed.py) in tapeflow's graph mode, trained on Fashion-MNIST (or MNIST).
//
//   images [batch,784] -> hidden1 (ReLU) -> hidden2 (ReLU) -> softmax_linear -> logits [batch,10]
//   loss = mean sparse softmax cross-entropy, trained with GradientDescentOptimizer(0.01);
//   every 100 steps the loss (also as a summary in --log_dir, with the graph), every 1000 steps and
//   at the end a checkpoint in --log_dir and Precision @ 1 on the three splits.
//
//   ./fully_connected_feed --max_steps 2000 --data_dir /usr/share/datasets/fashion-mnist
//
// Its last line reads `final: test_accuracy=<accuracy> steps=2000 seconds=<seconds>`.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "flags.h"

#include "tapeflow/data/mnist.h"
#include "tapeflow/graph.h"
#include "tapeflow/graph/saver.h"
#include "tapeflow/summary.h"
#include "tapeflow/tapeflow.h"

namespace tf = tapeflow;
namespace nn = tapeflow::nn;

namespace {

// ---------------------------------------------------------------------------- mnist.py

namespace mnist {

// The MNIST dataset has 10 classes, representing the digits 0 through 9.
constexpr std::int64_t NUM_CLASSES = 10;
// The MNIST images are always 28x28 pixels.
constexpr std::int64_t IMAGE_SIZE = 28;
constexpr std::int64_t IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE;

// A variable of truncated normal values with stddev 1/sqrt(fan_in) (the seed's weights).
tf::Tensor weights_variable(std::int64_t fan_in, std::int64_t units) {
  return tf::Variable(tf::truncated_normal({fan_in, units}, 0.0, 1.0 / std::sqrt(static_cast<double>(fan_in))),
                      "weights");
}

/// Builds the model as far as needed for inference: images [batch,784] -> logits [batch,10].
tf::Tensor inference(const tf::Tensor& images, std::int64_t hidden1_units, std::int64_t hidden2_units) {
  tf::Tensor hidden1, hidden2, logits;
  {  // Hidden 1
    tf::name_scope scope("hidden1");
    tf::Tensor weights = weights_variable(IMAGE_PIXELS, hidden1_units);
    tf::Tensor biases = tf::Variable(tf::zeros({hidden1_units}), "biases");
    hidden1 = tf::relu(tf::matmul(images, weights) + biases);
  }
  {  // Hidden 2
    tf::name_scope scope("hidden2");
    tf::Tensor weights = weights_variable(hidden1_units, hidden2_units);
    tf::Tensor biases = tf::Variable(tf::zeros({hidden2_units}), "biases");
    hidden2 = tf::relu(tf::matmul(hidden1, weights) + biases);
  }
  {  // Linear
    tf::name_scope scope("softmax_linear");
    tf::Tensor weights = weights_variable(hidden2_units, NUM_CLASSES);
    tf::Tensor biases = tf::Variable(tf::zeros({NUM_CLASSES}), "biases");
    logits = tf::matmul(hidden2, weights) + biases;
  }
  return logits;
}

/// The loss from the logits [batch,10] and the labels [batch] (int32): a scalar.
tf::Tensor loss(const tf::Tensor& logits, const tf::Tensor& labels) {
  tf::Tensor labels64 = tf::named("ToInt64", tf::cast(labels, tf::int64));  // tf.to_int64
  tf::Tensor cross_entropy =
      tf::named("xentropy", nn::sparse_softmax_cross_entropy_with_logits(labels64, logits));
  return tf::named("xentropy_mean", tf::reduce_mean(cross_entropy));
}

/// The op that applies one step of gradient descent to the loss and increments the global step.
tf::Tensor training(const tf::Tensor& loss, double learning_rate) {
  // Add a scalar summary for the snapshot loss.
  tf::summary::scalar("loss", loss);
  tf::train::GradientDescentOptimizer optimizer(learning_rate);
  // A variable to track the global step (tf.Variable(0, name='global_step', trainable=False)).
  tf::Tensor global_step = tf::Variable(tf::scalar(0, tf::int32), "global_step", {.trainable = false});
  return optimizer.minimize(loss, global_step);
}

/// The number of examples whose label is the top prediction: an int32 scalar.
tf::Tensor evaluation(const tf::Tensor& logits, const tf::Tensor& labels) {
  tf::Tensor correct = nn::in_top_k(logits, labels, 1);
  return tf::reduce_sum(tf::cast(correct, tf::int32));
}

}  // namespace mnist

// ---------------------------------------------------------------------------- fully_connected_feed.py

struct Placeholders {
  tf::Tensor images;  // float32 [batch_size,784]
  tf::Tensor labels;  // int32 [batch_size]
};

Placeholders placeholder_inputs(std::int64_t batch_size) {
  return {tf::placeholder(tf::float32, {batch_size, mnist::IMAGE_PIXELS}),
          tf::placeholder(tf::int32, {batch_size})};
}

// The next batch of `data_set` for the placeholders (labels cast to the placeholder's int32).
tf::FeedDict fill_feed_dict(tf::data::DataSet& data_set, const Placeholders& pl, std::int64_t batch_size) {
  auto [images_feed, labels_feed] = data_set.next_batch(batch_size);
  return {{pl.images, images_feed}, {pl.labels, labels_feed.to(tf::int32)}};
}

// Runs one evaluation against a full epoch of data (whole batches); returns Precision @ 1.
double do_eval(tf::Session& sess, const tf::Tensor& eval_correct, const Placeholders& pl,
               tf::data::DataSet& data_set, std::int64_t batch_size) {
  std::int64_t true_count = 0;  // Counts the number of correct predictions.
  const std::int64_t steps_per_epoch = data_set.num_examples() / batch_size;
  const std::int64_t num_examples = steps_per_epoch * batch_size;
  for (std::int64_t step = 0; step < steps_per_epoch; ++step)
    true_count += sess.run(eval_correct, fill_feed_dict(data_set, pl, batch_size)).item<std::int64_t>();
  const double precision = static_cast<double>(true_count) / static_cast<double>(num_examples);
  fmt::print("  Num examples: {}  Num correct: {}  Precision @ 1: {:.4f}\n", num_examples, true_count, precision);
  return precision;
}

// TensorFlow's fake_data: every split holds 10000 images of all ones, labelled 0.
tf::data::Datasets fake_data_sets(std::uint64_t seed) {
  tf::data::DataSet fake(tf::ones({10000, mnist::IMAGE_PIXELS}), tf::zeros({10000}, tf::int64), seed);
  return {fake, fake, fake};
}

// TensorFlow's default: $TEST_TMPDIR (else /tmp) + "/tensorflow/mnist/logs/fully_connected_feed".
std::string default_log_dir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/tensorflow/mnist/logs/fully_connected_feed";
}

// The seed empties --log_dir before a run (tf.gfile.DeleteRecursively) so that TensorBoard shows
// one run; here only what an earlier run wrote goes (event files, model.ckpt-*, the checkpoint
// index), so that a --log_dir pointing at a directory with other files is safe.
void clear_log_dir(const std::string& log_dir) {
  namespace fs = std::filesystem;
  fs::create_directories(log_dir);
  for (const auto& entry : fs::directory_iterator(log_dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && (name.find("tfevents") != std::string::npos || name.starts_with("model.ckpt-") ||
                                    name == "checkpoint"))
      fs::remove(entry.path());
  }
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"Trains the two-hidden-layer network of TensorFlow's fully_connected_feed.py on Fashion-MNIST with "
               "tapeflow's graph mode"};
  std::string data_dir, log_dir = default_log_dir();
  double learning_rate = 0.01;
  int max_steps = 2000, threads = 0;
  std::int64_t hidden1 = 128, hidden2 = 32, batch_size = 100;
  bool fake_data = false;
  std::uint64_t seed = 1;
  app.add_option("--learning_rate", learning_rate, "Initial learning rate.")
      ->check(flags::non_negative)
      ->capture_default_str();
  app.add_option("--max_steps", max_steps, "Number of steps to run trainer.")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--hidden1", hidden1, "Number of units in hidden layer 1.")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--hidden2", hidden2, "Number of units in hidden layer 2.")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--batch_size", batch_size, "Batch size. Must divide evenly into the dataset sizes.")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--data_dir,--input_data_dir", data_dir,
                 "Directory of the MNIST IDX files (default: $TAPEFLOW_DATA_DIR, else "
                 "/usr/share/datasets/fashion-mnist).");
  app.add_option("--log_dir", log_dir, "Directory to put the log data (summaries and checkpoints).")
      ->capture_default_str();
  app.add_flag("--fake_data", fake_data, "If true, uses fake data for unit testing.");
  app.add_option("--seed", seed, "seed of the initial weights and of the shuffling")->capture_default_str();
  app.add_option("--threads", threads, "threads (default: $TAPEFLOW_NUM_THREADS, else all cores)")
      ->check(flags::positive);
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) tf::set_num_threads(threads);
  tf::manual_seed(seed);

  // Get the sets of images and labels for training, validation, and test.
  auto data_sets = fake_data ? fake_data_sets(seed) : tf::data::mnist::read_data_sets(data_dir, {.seed = seed});
  for (const auto* set : {&data_sets.train, &data_sets.validation, &data_sets.test})
    if (batch_size > set->num_examples())
      throw tf::ValueError(fmt::format("--batch_size {} is larger than a data split ({} examples): the evaluation "
                                       "runs whole batches; pick a batch size that divides the split sizes",
                                       batch_size, set->num_examples()));
  fmt::print("fully_connected_feed: {} train / {} validation / {} test examples, hidden {}-{}, "
             "GradientDescent (lr {}), batch {}, {} threads\n",
             data_sets.train.num_examples(), data_sets.validation.num_examples(), data_sets.test.num_examples(),
             hidden1, hidden2, learning_rate, batch_size, tf::get_num_threads());

  // Tell TensorFlow that the model will be built into the default Graph.
  tf::Graph graph;
  auto default_graph = graph.as_default();
  // Generate placeholders for the images and labels.
  Placeholders pl = placeholder_inputs(batch_size);
  // Build a Graph that computes predictions from the inference model.
  tf::Tensor logits = mnist::inference(pl.images, hidden1, hidden2);
  // Add to the Graph the Ops for loss calculation.
  tf::Tensor loss = mnist::loss(logits, pl.labels);
  // Add to the Graph the Ops that calculate and apply gradients.
  tf::Tensor train_op = mnist::training(loss, learning_rate);
  // Add the Op to compare the logits to the labels during evaluation.
  tf::Tensor eval_correct = mnist::evaluation(logits, pl.labels);
  // Build the summary Tensor based on the TF collection of Summaries.
  tf::Tensor summary = tf::summary::merge_all();
  // Add the variable initializer Op.
  tf::Tensor init = tf::global_variables_initializer();
  // Create a saver for writing training checkpoints.
  tf::train::Saver saver;
  // Create a session for running Ops on the Graph.
  tf::Session sess(graph);
  // Instantiate a SummaryWriter to output summaries and the Graph.
  clear_log_dir(log_dir);
  tf::summary::FileWriter summary_writer(log_dir, graph);
  // Run the Op to initialize the variables.
  sess.run(init);

  const auto start = std::chrono::steady_clock::now();
  double test_precision = 0;
  for (int step = 0; step < max_steps; ++step) {
    const auto step_start = std::chrono::steady_clock::now();
    // Fill a feed dictionary with the actual set of images and labels for this training step.
    tf::FeedDict feed_dict = fill_feed_dict(data_sets.train, pl, batch_size);
    // Run one step of the model. The train op has no value; the loss has.
    auto values = sess.run({train_op, loss}, feed_dict);
    const double loss_value = values[1].item();
    const double duration = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();

    // Write the summaries and print an overview fairly often.
    if (step % 100 == 0) {
      fmt::print("Step {}: loss = {:.2f} ({:.3f} sec)\n", step, loss_value, duration);
      std::fflush(stdout);
      // Update the events file.
      summary_writer.add_summary(sess.run(summary, feed_dict), step);
      summary_writer.flush();
    }
    // Save a checkpoint and evaluate the model periodically.
    if ((step + 1) % 1000 == 0 || step + 1 == max_steps) {
      saver.save(sess, log_dir + "/model.ckpt", step);
      // Evaluate against the training set.
      fmt::print("Training Data Eval:\n");
      do_eval(sess, eval_correct, pl, data_sets.train, batch_size);
      // Evaluate against the validation set.
      fmt::print("Validation Data Eval:\n");
      do_eval(sess, eval_correct, pl, data_sets.validation, batch_size);
      // Evaluate against the test set.
      fmt::print("Test Data Eval:\n");
      test_precision = do_eval(sess, eval_correct, pl, data_sets.test, batch_size);
      std::fflush(stdout);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary_writer.close();

  // Training might be resumed later from a checkpoint (saver.restore): the last one, restored
  // into a new session, gives the same precision.
  tf::Session restored(graph);
  const std::string checkpoint = tf::train::latest_checkpoint(log_dir);
  saver.restore(restored, checkpoint);
  fmt::print("Restored {}:\nTest Data Eval:\n", checkpoint);
  do_eval(restored, eval_correct, pl, data_sets.test, batch_size);
  fmt::print("final: test_accuracy={:.4f} steps={} seconds={:.1f}\n", test_precision, max_steps, seconds);
  return 0;
} catch (const tf::Error& e) {
  fmt::print(stderr, "fully_connected_feed: {}\n", e.what());
  return 1;
}
