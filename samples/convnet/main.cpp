// The convolutional network of ../shared/seeds/002 (TensorFlow-Course's "Convolutional Neural
// Networks": net.py, train_classifier.py, train_evaluation.py) in tapeflow's graph mode, trained on
// Fashion-MNIST (or MNIST).
//
//   image [?,28,28,1] -> conv1 5x5x32 + batch norm + ReLU -> pool1 2x2 -> conv2 5x5x64 + batch norm
//   + ReLU -> pool2 2x2 -> fc3 7x7x1024 VALID + ReLU -> dropout3 -> fc4 1x1x10 -> squeeze -> [?,10];
//   loss = mean softmax cross-entropy against one-hot labels + the weights' l2 penalties (0.0005),
//   Adam with a learning rate decayed exponentially (staircase) by the global step.
//
//   ./convnet --num_epochs 1 --data_dir /usr/share/datasets/fashion-mnist
//   tensorboard --logdir train_logs/summaries
//
// As the seed does, it writes TensorBoard summaries in three collections: `train` (every step:
// loss, accuracy, global_step, learning_rate and the sparsity of each layer's output), `per_epoch_train`
// (after each epoch: three training images and a histogram of each layer's output) and `test`
// (after each epoch, on the test set: loss, accuracy, sparsity), to <train_dir>/summaries/train and
// <train_dir>/summaries/test; it saves the model to <checkpoint_dir>/model at the end (--fine_tuning
// starts from it), then restores it and evaluates it on the test set ("Final Test Accuracy is % X");
// --export_onnx convnet.onnx then writes the model for ONNX Runtime (README, "Deploy with ONNX").
//
// Defaults. The seed's run is one epoch of batches of 512 with Adam at 1e-3, decayed by 0.95 per
// epoch, and dropout keeping 0.5, written for MNIST; on Fashion-MNIST its one epoch (107 steps)
// falls well short of 0.90. One epoch of Fashion-MNIST needs more, smaller steps, a learning rate
// that comes down within the epoch, and all of fc3's units while it learns. The defaults: batch
// 16, Adam from 5e-4 multiplied by 0.85 every tenth of an epoch, --dropout_keep_prob 1.0 (the
// dropout layer stays in the graph; feed less to use it), batch norm's moving averages decaying
// by 0.99 per step (see net()). The settings tried and what each reached are in the README's
// samples table. The decay is staircase every --num_epochs_per_decay epochs (fractions allowed),
// as the seed's exponential_decay.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "flags.h"

#include "tapeflow/data/mnist.h"
#include "tapeflow/graph.h"
#include "tapeflow/graph/saver.h"
#include "tapeflow/io/onnx.h"
#include "tapeflow/io/progress.h"
#include "tapeflow/summary.h"
#include "tapeflow/tapeflow.h"

namespace fs = std::filesystem;

namespace tf = tapeflow;
namespace nn = tapeflow::nn;
namespace layers = tapeflow::layers;

namespace {

// ---------------------------------------------------------------------------- net.py

namespace net {

/// What tf.contrib.framework.arg_scope(...) returns: the layers it covers and their defaults.
struct ArgScope {
  std::vector<layers::Layer> ops;
  layers::LayerArgs args;
};

/// The model's output and the outputs of its layers, by alias ("Net/conv1", ..., "Net/fc4").
struct Net {
  tf::Tensor logits;
  std::vector<std::pair<std::string, tf::Tensor>> end_points;
};

/// Creates the Net model. images [batch,28,28,1] -> logits [batch,num_classes] (or
/// [batch,1,1,num_classes] without spatial_squeeze). is_training (a bool scalar) switches batch
/// norm between batch and moving statistics and turns dropout on; dropout_keep_prob is a float
/// scalar, the fraction of fc3's activations kept while training.
Net net_architecture(const tf::Tensor& images, std::int64_t num_classes, const tf::Tensor& is_training,
                     const tf::Tensor& dropout_keep_prob, double batch_norm_decay, bool spatial_squeeze = true,
                     const std::string& scope = "Net") {
  tf::variable_scope sc(scope);
  const std::string end_points_collection = sc.name() + "_end_points";

  // Collect outputs for conv2d and max_pool2d.
  layers::arg_scope collect({layers::Layer::Conv2d, layers::Layer::MaxPool2d},
                            {.outputs_collections = std::vector<std::string>{end_points_collection}});
  // Batch normalization for each convolutional layer, none for the fully-connected ones (fc3, fc4).
  // The moving averages decay by --batch_norm_decay per step (0.99), not contrib's default 0.999:
  // a one-epoch run is a few thousand steps at most (the seed's, 107), after which 0.999 would
  // still hold much of the initial statistics (mean 0, variance 1) that testing uses, and the test
  // accuracy would fall far below the training accuracy.
  const layers::Normalizer batch_norm = layers::batch_norm_fn({.decay = batch_norm_decay, .is_training = is_training});

  // Layer-1
  tf::Tensor net = layers::conv2d(images, 32, {5, 5}, "conv1", {.normalizer_fn = batch_norm});
  net = layers::max_pool2d(net, {2, 2}, 2, "pool1");

  // Layer-2
  net = layers::conv2d(net, 64, {5, 5}, "conv2", {.normalizer_fn = batch_norm});
  net = layers::max_pool2d(net, {2, 2}, 2, "pool2");

  // Layer-3
  net = layers::conv2d(net, 1024, {7, 7}, "fc3", {.padding = nn::Padding::Valid});
  net = layers::dropout(net, dropout_keep_prob, is_training, "dropout3");

  // Last layer which is the logits for classes
  tf::Tensor logits = layers::conv2d(net, num_classes, {1, 1}, "fc4", {.activation_fn = nullptr});

  // Return the collections as a dictionary
  Net out{logits, layers::convert_collection_to_dict(end_points_collection)};

  // Squeeze spatially to eliminate extra dimensions (the embedding layer).
  if (spatial_squeeze) {
    out.logits = tf::named("fc4/squeezed", tf::squeeze(logits, {1, 2}));
    for (auto& [alias, end_point] : out.end_points)
      if (alias == sc.name() + "/fc4") end_point = out.logits;
  }
  return out;
}

/// Defines the default network argument scope: every conv2d pads SAME, has variance-scaling
/// initial weights (factor 1, FAN_AVG, normal), an l2 penalty on its weights and a ReLU.
ArgScope net_arg_scope(double weight_decay = 0.0005) {
  return {{layers::Layer::Conv2d},
          {.activation_fn = [](const tf::Tensor& x) { return tf::relu(x); },
           .weights_initializer = tf::variance_scaling_initializer(1.0, "FAN_AVG", /*uniform=*/false),
           .weights_regularizer = nn::l2_regularizer(weight_decay),
           .padding = nn::Padding::Same}};
}

}  // namespace net

// ---------------------------------------------------------------------------- input.py

/// One split: images [N,28,28,1] in [0,1] and one-hot labels [N,num_classes].
struct DataObject {
  tf::Tensor images, labels;
  std::int64_t num_samples() const { return images.shape().dim(0); }
};

struct Data {
  DataObject train, validation, test;
};

/// The seed's input.provide_data: the images as they are, the class ids turned one-hot. With
/// max_examples > 0, each split keeps at most its first max_examples examples.
Data provide_data(const tf::data::Datasets& mnist, std::int64_t num_classes, std::int64_t max_examples) {
  auto object = [&](const tf::data::DataSet& set) {
    tf::Tensor images = set.images(), labels = set.labels();
    if (max_examples > 0 && max_examples < set.num_examples()) {
      images = tf::slice(images, {0, 0, 0, 0}, {max_examples, -1, -1, -1});
      labels = tf::slice(labels, {0}, {max_examples});
    }
    return DataObject{images, tf::one_hot(labels, num_classes)};
  };
  return {object(mnist.train), object(mnist.validation), object(mnist.test)};
}

// ---------------------------------------------------------------------------- train_evaluation.py

/// The graph tensors the training loop needs (the seed's tensors_dictionary).
struct Tensors {
  tf::Tensor cost, accuracy, train_op, global_step, image_place, label_place, dropout_param, is_training,
      summary_train_op, summary_test_op, summary_epoch_train_op;
};

/// The feed of one run: a batch, the probability of keeping a neuron, and the phase.
tf::FeedDict feed(const Tensors& tensors, const tf::Tensor& images, const tf::Tensor& labels, double dropout_keep_prob,
                  bool is_training) {
  return {{tensors.image_place, images},
          {tensors.label_place, labels},
          {tensors.dropout_param, tf::scalar(dropout_keep_prob)},
          {tensors.is_training, tf::scalar(is_training ? 1 : 0, tf::bool_)}};
}

/// The accuracy over a whole split and, with `summary_op`, that op's summary over the whole split.
struct Evaluation {
  double accuracy = 0;
  std::string summaries;  // a serialized Summary, for FileWriter::add_summary
};

/// Evaluates `set` with dropout and batch norm in test mode. The seed feeds the whole test set at
/// once and warns that this may run out of memory; here it would: conv1's output alone is
/// 10000x28x28x32 floats (1 GB), and batch norm and ReLU each make another. So it goes in batches of
/// `batch_size`. summary_op (the `test` collection: loss, accuracy and the sparsity of each layer's
/// output) is run on every batch too, and each of its scalars averaged over the batches weighted by
/// their sizes: all of them are means over the examples (every example has the same number of
/// activations, and the weights' penalty in the loss is the same for every batch), so that gives the
/// values of one run on the whole set, as the seed writes them, not those of one batch.
Evaluation evaluate(tf::Session& sess, const Tensors& tensors, const DataObject& set, std::int64_t batch_size,
                    const tf::Tensor& summary_op = {}) {
  const std::int64_t n = set.num_samples();
  std::vector<tf::Tensor> fetches{tensors.accuracy};
  if (summary_op.defined()) fetches.push_back(summary_op);
  double correct = 0;
  std::vector<std::string> tags;       // in the summary's order
  std::map<std::string, double> sums;  // tag -> sum over the batches of value x batch size
  for (std::int64_t begin = 0; begin < n; begin += batch_size) {
    const std::int64_t size = std::min(batch_size, n - begin);
    tf::Tensor images = tf::slice(set.images, {begin, 0, 0, 0}, {size, -1, -1, -1});
    tf::Tensor labels = tf::slice(set.labels, {begin, 0}, {size, -1});
    const auto values = sess.run(fetches, feed(tensors, images, labels, /*dropout_keep_prob=*/1.0, false));
    const auto weight = static_cast<double>(size);
    correct += values[0].item() * weight;
    if (!summary_op.defined()) continue;
    for (const tf::summary::Value& v : tf::summary::parse_summary(values[1])) {
      if (!v.simple_value)
        throw tf::ValueError(fmt::format("evaluate: summary '{}' is not a scalar; only scalars can be averaged over "
                                         "the test batches (put histograms and images in another collection)",
                                         v.tag));
      if (begin == 0) tags.push_back(v.tag);
      sums[v.tag] += static_cast<double>(*v.simple_value) * weight;
    }
  }
  Evaluation out{correct / static_cast<double>(n), ""};
  if (summary_op.defined()) {
    std::vector<tf::summary::Value> means;
    for (const std::string& tag : tags) {
      tf::summary::Value mean;
      mean.tag = tag;
      mean.simple_value = static_cast<float>(sums[tag] / static_cast<double>(n));
      means.push_back(mean);
    }
    out.summaries = tf::summary::serialize_summary(means);
  }
  return out;
}

/// The seed's train(): writes the `train` summaries every step, the `per_epoch_train` ones after
/// each epoch and the `test` ones after each epoch's test evaluation, then saves the model to
/// <checkpoint_dir>/model. With `finetuning` it first restores the model saved there. Returns the
/// last epoch's test accuracy.
double train(tf::Session& sess, tf::train::Saver& saver, const Tensors& tensors, const Data& data,
             const std::string& train_dir, bool finetuning, int num_epochs, const std::string& checkpoint_dir,
             std::int64_t batch_size, double dropout_keep_prob) {
  // The prefix for checkpoint files
  const std::string checkpoint_prefix = "model";

  // Defining the summary writers for train/test. The train writer also gets the graph, for
  // TensorBoard's Graphs tab (the seed shows that graph, though its writers are made without it).
  const std::string train_summary_dir = (fs::path(train_dir) / "summaries" / "train").string();
  tf::summary::FileWriter train_summary_writer(train_summary_dir, sess.graph());
  const std::string test_summary_dir = (fs::path(train_dir) / "summaries" / "test").string();
  tf::summary::FileWriter test_summary_writer(test_summary_dir);

  // If the fine-tuning flag is true the model is restored.
  if (finetuning) {
    const std::string path = (fs::path(checkpoint_dir) / checkpoint_prefix).string();
    try {
      saver.restore(sess, path);
    } catch (const tf::IOError& e) {
      throw tf::IOError(fmt::format("--fine_tuning: cannot restore the model '{}' from --checkpoint_dir '{}': {}. "
                                    "Train once without --fine_tuning to save one there, or point --checkpoint_dir "
                                    "at the directory that holds it.",
                                    path, checkpoint_dir, e.what()));
    }
    fmt::print("Model restored for fine-tuning...\n");
  }

  // Run the training and loop over the batches.
  double test_accuracy = 0;
  for (int epoch = 0; epoch < num_epochs; ++epoch) {
    const std::int64_t total_batch_training = data.train.num_samples() / batch_size;
    tf::io::ProgressBar progress_bar(
        {.total = total_batch_training, .label = fmt::format("Epoch {}", epoch + 1), .samples_per_step = batch_size});
    tf::FeedDict train_feed;
    std::int64_t training_step = 0;

    // Go through the batches.
    for (std::int64_t batch_num = 0; batch_num < total_batch_training; ++batch_num) {
      // Get the training batches.
      const std::int64_t start_idx = batch_num * batch_size;
      tf::Tensor train_batch_data = tf::slice(data.train.images, {start_idx, 0, 0, 0}, {batch_size, -1, -1, -1});
      tf::Tensor train_batch_label = tf::slice(data.train.labels, {start_idx, 0}, {batch_size, -1});
      train_feed = feed(tensors, train_batch_data, train_batch_label, dropout_keep_prob, /*is_training=*/true);

      // Run optimization op (backprop) and calculate the batch loss; the train op adds one to the
      // global step.
      auto values = sess.run({tensors.cost, tensors.train_op, tensors.summary_train_op, tensors.global_step},
                             train_feed);
      const double batch_loss = values[0].item();
      training_step = values[3].item<std::int64_t>();

      // Write the summaries.
      train_summary_writer.add_summary(values[2], training_step);

      // Plot the progress bar.
      progress_bar.update(batch_num + 1, batch_loss);
    }
    progress_bar.finish();

    // Summaries per epoch of training, on the epoch's last batch.
    train_summary_writer.add_summary(sess.run(tensors.summary_epoch_train_op, train_feed), training_step);

    // Evaluation on the test data (see evaluate() for why in batches).
    const Evaluation test = evaluate(sess, tensors, data.test, batch_size, tensors.summary_test_op);
    test_accuracy = test.accuracy;
    fmt::print("Epoch {}, Testing Accuracy= {:.5f}\n", epoch + 1, test_accuracy);
    std::fflush(stdout);

    // Write the summaries for the test phase at the current global step, for proper scaling between
    // the train and test summaries.
    const auto current_step = sess.run(tensors.global_step).item<std::int64_t>();
    test_summary_writer.add_summary(test.summaries, current_step);
  }

  // Saving the model checkpoint when the training is done.
  const std::string save_path = saver.save(sess, (fs::path(checkpoint_dir) / checkpoint_prefix).string());
  fmt::print("Model saved in file: {}\n", save_path);
  return test_accuracy;
}

/// The seed's evaluation(): restores the saved model and evaluates it on the test data. Returns
/// the test accuracy.
double evaluation(tf::Session& sess, tf::train::Saver& saver, const Tensors& tensors, const Data& data,
                  const std::string& checkpoint_dir, std::int64_t batch_size) {
  // The prefix for checkpoint files
  const std::string checkpoint_prefix = "model";

  // Restoring the saved weights.
  saver.restore(sess, (fs::path(checkpoint_dir) / checkpoint_prefix).string());
  fmt::print("Model restored...\n");

  // Evaluation of the model
  const double test_accuracy = evaluate(sess, tensors, data.test, batch_size).accuracy;
  fmt::print("Final Test Accuracy is % {:.2f}\n", 100 * test_accuracy);
  return test_accuracy;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"Trains the fully-convolutional network of the seed tutorial on Fashion-MNIST with tapeflow's graph "
               "mode"};
  std::string data_dir, train_dir = "train_logs", checkpoint_dir = "checkpoints", onnx_path;
  std::int64_t num_classes = 10, batch_size = 16, max_examples = 0;
  int num_epochs = 1, threads = 0, max_num_checkpoint = 10;
  bool fine_tuning = false;
  double initial_learning_rate = 0.0005, learning_rate_decay_factor = 0.85, num_epochs_per_decay = 0.1;
  std::uint64_t seed = 1;
  double dropout_keep_prob = 1.0, batch_norm_decay = 0.99;
  app.add_option("--data_dir", data_dir,
                 "Directory of the MNIST IDX files (default: $TAPEFLOW_DATA_DIR, else "
                 "/usr/share/datasets/fashion-mnist).");
  app.add_option("--train_dir", train_dir,
                 "Directory where event logs are written to (in summaries/train and summaries/test).")
      ->capture_default_str();
  app.add_option("--checkpoint_dir", checkpoint_dir, "Directory where checkpoints are written to.")
      ->capture_default_str();
  app.add_option("--max_num_checkpoint", max_num_checkpoint,
                 "Maximum number of checkpoints that tapeflow will keep (0: all).")
      ->check(flags::non_negative)
      ->capture_default_str();
  app.add_option("--num_classes", num_classes, "Number of classes (at least the data's).")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--batch_size", batch_size, "Number of examples per training step.")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--num_epochs", num_epochs, "Number of epochs for training.")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--initial_learning_rate", initial_learning_rate, "Initial learning rate.")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--learning_rate_decay_factor", learning_rate_decay_factor, "Learning rate decay factor.")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--num_epochs_per_decay", num_epochs_per_decay, "Number of epoch pass to decay learning rate.")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--dropout_keep_prob", dropout_keep_prob,
                 "Probability of keeping a neuron of fc3 while training (the seed feeds dropout_param 0.5; "
                 "see the defaults above).")
      ->check(CLI::Range(0.0, 1.0).description("in (0, 1]"))
      ->capture_default_str();
  app.add_option("--batch_norm_decay", batch_norm_decay,
                 "Decay of batch norm's moving mean and variance per step (what testing uses).")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--export_onnx", onnx_path,
                 "write the trained model here as an ONNX model (input image [batch,28,28,1], output the logits "
                 "[batch,num_classes]; batch norm and dropout in inference form), for ONNX Runtime and the like");
  app.add_flag("--fine_tuning", fine_tuning,
               "Fine tuning: start from the model saved in --checkpoint_dir instead of random initial weights.");
  app.add_option("--max_examples", max_examples,
                 "Use only the first N examples of each split (training and test), for quick runs "
                 "(default: all).")
      ->check(flags::positive);
  app.add_option("--seed", seed, "seed of the initial weights, of dropout and of the summary's images")
      ->capture_default_str();
  app.add_option("--threads", threads, "threads (default: $TAPEFLOW_NUM_THREADS, else all cores)")
      ->check(flags::positive);
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) tf::set_num_threads(threads);
  tf::manual_seed(seed);
  // Load and organize the data: images [N,28,28,1], labels one-hot.
  auto mnist = tf::data::mnist::read_data_sets(data_dir, {.reshape = false, .seed = seed});
  const std::int64_t data_classes = tf::reduce_max(mnist.train.labels()).item<std::int64_t>() + 1;
  if (num_classes < data_classes)
    throw tf::ValueError(fmt::format("--num_classes {} is too small: the training labels go up to {}; use at least {}",
                                     num_classes, data_classes - 1, data_classes));
  const Data data = provide_data(mnist, num_classes, max_examples);
  const tf::Shape& dims = data.train.images.shape();
  const std::int64_t num_train = dims.dim(0), height = dims.dim(1), width = dims.dim(2), num_channels = dims.dim(3);
  if (batch_size > num_train)
    throw tf::ValueError(fmt::format("--batch_size {} is larger than the training set ({} examples)", batch_size,
                                     num_train));
  // learning rate policy: decay every num_epochs_per_decay epochs
  const auto decay_steps =
      static_cast<std::int64_t>(static_cast<double>(num_train) / static_cast<double>(batch_size) * num_epochs_per_decay);
  if (decay_steps < 1)
    throw tf::ValueError(fmt::format("--num_epochs_per_decay {} is less than one step ({} examples in batches of {})",
                                     num_epochs_per_decay, num_train, batch_size));
  fmt::print("convnet: {} train / {} test examples, {} epochs of {} steps (batch {}), Adam (lr {} x {} every {} "
             "steps), {} threads\n",
             num_train, data.test.num_samples(), num_epochs, num_train / batch_size, batch_size, initial_learning_rate,
             learning_rate_decay_factor, decay_steps, tf::get_num_threads());

  tf::Graph graph;
  auto default_graph = graph.as_default();
  Tensors tensors;

  // global step
  tensors.global_step = tf::Variable(tf::scalar(0, tf::int32), "global_step", {.trainable = false});
  tf::Tensor learning_rate =
      tf::train::exponential_decay(initial_learning_rate, tensors.global_step, static_cast<double>(decay_steps),
                                   learning_rate_decay_factor, /*staircase=*/true, "exponential_decay_learning_rate");

  // Place holders
  tensors.image_place = tf::placeholder(tf::float32, {-1, height, width, num_channels}, "image");
  tensors.label_place = tf::placeholder(tf::float32, {-1, num_classes}, "gt");
  tensors.dropout_param = tf::placeholder(tf::float32, {});
  tensors.is_training = tf::placeholder(tf::bool_, {}, "is_training");

  // MODEL
  net::Net model;
  {
    const net::ArgScope sc = net::net_arg_scope(/*weight_decay=*/0.0005);
    layers::arg_scope arg_scope(sc.ops, sc.args);
    model = net::net_architecture(tensors.image_place, num_classes, tensors.is_training, tensors.dropout_param,
                                     batch_norm_decay);
  }

  // Define loss: the cross-entropy plus the weights' penalties.
  {
    tf::name_scope scope("loss");
    tf::Tensor cross_entropy =
        tf::reduce_mean(nn::softmax_cross_entropy_with_logits(tensors.label_place, model.logits));
    tensors.cost = cross_entropy + tf::add_n(tf::get_collection(tf::GraphKeys::REGULARIZATION_LOSSES));
  }

  // Accuracy
  {
    tf::name_scope scope("accuracy");
    // Evaluate the model
    tf::Tensor correct_pred = tf::equal(tf::argmax(model.logits, 1), tf::argmax(tensors.label_place, 1));
    // Accuracy calculation
    tensors.accuracy = tf::reduce_mean(tf::cast(correct_pred, tf::float32));
  }

  // Define optimizer by its default values
  tf::train::AdamOptimizer optimizer(learning_rate);

  // 'train_op' is an operation that is run for gradient update on parameters; each run adds one to
  // global_step. Batch norm's moving averages (UPDATE_OPS) are updated with it.
  {
    tf::name_scope scope("train");
    auto grads_and_vars = optimizer.compute_gradients(tensors.cost);
    tf::control_dependencies update_ops(tf::get_collection(tf::GraphKeys::UPDATE_OPS));
    tensors.train_op = optimizer.apply_gradients(grads_and_vars, tensors.global_step);
  }

  // Define summaries.
  // Image summaries: three random images of the training set (drawn, as the seed's
  // np.random.randint, by a generator of their own so that the initial weights and dropout do not
  // depend on them).
  std::mt19937_64 np_random(seed);
  std::uniform_int_distribution<std::int64_t> randint(0, data.train.num_samples() - 1);
  std::vector<std::int64_t> arr(3);
  for (auto& i : arr) i = randint(np_random);
  tf::summary::image("images", tf::gather(data.train.images, tf::from_vector(arr)), /*max_outputs=*/3,
                     {"per_epoch_train"});

  // Histogram and scalar summaries. sparsity: the fraction of zero activations in the output of
  // each layer; activations: the histogram of the output of each layer (histograms take time, so
  // they are written once per epoch).
  for (const auto& [end_point, x] : model.end_points) {
    tf::summary::scalar("sparsity/" + end_point, nn::zero_fraction(x), {"train", "test"});
    tf::summary::histogram("activations/" + end_point, x, {"per_epoch_train"});
  }

  // Summaries for loss, accuracy, global step and learning rate.
  tf::summary::scalar("loss", tensors.cost, {"train", "test"});
  tf::summary::scalar("accuracy", tensors.accuracy, {"train", "test"});
  tf::summary::scalar("global_step", tensors.global_step, {"train"});
  tf::summary::scalar("learning_rate", learning_rate, {"train"});

  // Merge all summaries together.
  tensors.summary_train_op = tf::summary::merge_all("train");
  tensors.summary_test_op = tf::summary::merge_all("test");
  tensors.summary_epoch_train_op = tf::summary::merge_all("per_epoch_train");

  // Run the session
  tf::Session sess(graph);

  // The saver: saves and restores every global variable (weights, batch norm's moving statistics,
  // Adam's slots, the global step); it keeps the last max_num_checkpoint checkpoints.
  tf::train::Saver saver({}, {.max_to_keep = max_num_checkpoint});

  // Initialize all variables
  sess.run(tf::global_variables_initializer());

  // Training / evaluation
  const auto start = std::chrono::steady_clock::now();
  train(sess, saver, tensors, data, train_dir, fine_tuning, num_epochs, checkpoint_dir, batch_size,
        dropout_keep_prob);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Test at the end of the experiment, on the model restored from its checkpoint.
  const double test_accuracy = evaluation(sess, saver, tensors, data, checkpoint_dir, batch_size);
  const auto steps = sess.run(tensors.global_step).item<std::int64_t>();
  if (!onnx_path.empty()) {
    // The graph from the image placeholder to the logits, its variables frozen; the phase and the
    // dropout probability are frozen at their test values.
    tf::onnx::export_graph(sess, {tensors.image_place}, {model.logits}, onnx_path,
                           {.output_names = {"logits"},
                            .frozen = {{tensors.is_training, tf::scalar(0, tf::bool_)},
                                       {tensors.dropout_param, tf::scalar(1.0)}}});
    fmt::print("ONNX model written to {}\n", onnx_path);
  }
  fmt::print("final: test_accuracy={:.4f} steps={} seconds={:.1f}\n", test_accuracy, steps, seconds);
  return 0;
} catch (const tf::Error& e) {
  fmt::print(stderr, "convnet: {}\n", e.what());
  return 1;
}
