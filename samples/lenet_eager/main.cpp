// The LeNet of ../shared/seeds/001 in tapeflow's eager API, trained on Fashion-MNIST: the main
// sample. The network, class LeNet in lenet.h (shared with ../lenet_distributed), is two
// convolutions with max pooling and LRN, then three fully connected layers with dropout; the
// objective adds L1 and L2 penalties of the weights to the cross-entropy, as the seed's.
//
//   ./lenet_eager --epochs 9 --log_dir logs --checkpoint_dir checkpoints
//
// Its last line reads `final: test_accuracy=<accuracy> steps=<steps> seconds=<seconds>`.
// --log_dir writes TensorBoard logs; --checkpoint_dir saves the weights after every epoch (and
// checks at the end that they restore to the same accuracy); --fine_tuning starts from them;
// --export_onnx lenet.onnx writes the trained network for ONNX Runtime (README, "Deploy with ONNX").
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "flags.h"

#include "lenet.h"
#include "tapeflow/data/mnist.h"
#include "tapeflow/io/checkpoint.h"
#include "tapeflow/io/onnx.h"
#include "tapeflow/io/progress.h"
#include "tapeflow/summary/writer.h"
#include "tapeflow/tapeflow.h"

namespace tf = tapeflow;
namespace nn = tapeflow::nn;
using lenet::LeNet;

namespace {

constexpr double MOMENTUM = 0.7;  // the seed's

std::unique_ptr<tf::optim::Optimizer> make_optimizer(const std::string& name, std::vector<tf::Tensor> params,
                                                     double lr) {
  if (name == "adam") return std::make_unique<tf::optim::Adam>(params, tf::optim::AdamOptions{.lr = lr});
  if (name == "rmsprop") return std::make_unique<tf::optim::RMSProp>(params, tf::optim::RMSPropOptions{.lr = lr});
  if (name == "momentum")
    return std::make_unique<tf::optim::Momentum>(params, tf::optim::MomentumOptions{.lr = lr, .momentum = MOMENTUM});
  return std::make_unique<tf::optim::SGD>(params, tf::optim::SGDOptions{.lr = lr});
}

// Adam: 3e-3 (why: lenet.h). The seed's 0.01 is also too large for RMSProp, which keeps its usual
// 1e-3; plain SGD and momentum keep the seed's 0.01.
double default_learning_rate(const std::string& optimizer) {
  if (optimizer == "adam") return lenet::kAdamLearningRate;
  return optimizer == "rmsprop" ? 1e-3 : 0.01;
}

double accuracy(LeNet& net, const tf::data::DataSet& set) {
  return static_cast<double>(lenet::count_correct(net, set.images(), set.labels())) /
         static_cast<double>(set.num_examples());
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"Trains the LeNet of the seed tutorial on Fashion-MNIST with tapeflow's eager API"};
  std::string data_dir, optimizer = "adam";
  int epochs = lenet::kEpochs, batch_size = 100, threads = 0;
  double learning_rate = 0, decay = lenet::kDecayPerEpoch, keep_prob = lenet::kKeepProb, l1_coeff = lenet::kL1,
         l2_coeff = lenet::kL2;
  std::uint64_t seed = 1;
  std::string log_dir, checkpoint_dir, onnx_path;
  bool fine_tuning = false;
  std::int64_t max_examples = 0;
  app.add_option("--data_dir", data_dir, "directory of the MNIST IDX files (default: $TAPEFLOW_DATA_DIR, else "
                                         "/usr/share/datasets/fashion-mnist)");
  app.add_option("--epochs", epochs, "passes over the training set")->check(flags::positive)->capture_default_str();
  app.add_option("--batch_size", batch_size, "examples per step")->check(flags::positive)->capture_default_str();
  app.add_option("--learning_rate", learning_rate,
                 "learning rate (default: 0.003 for adam, 0.001 for rmsprop, 0.01 for momentum and sgd)")
      ->check(flags::positive);
  app.add_option("--learning_rate_decay_factor", decay, "the learning rate is multiplied by this after each epoch")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--optimizer", optimizer, "adam, rmsprop, momentum (0.7) or sgd")
      ->check(CLI::IsMember({"adam", "rmsprop", "momentum", "sgd"}))
      ->capture_default_str();
  app.add_option("--dropout", keep_prob, "probability to keep a unit in the dropout layers (the seed's "
                                         "DROPOUT_PROBABILITY is 0.5; see lenet.h)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--l1", l1_coeff, "coefficient of the L1 norm of the weights (the seed's L1_COEFF)")
      ->check(flags::non_negative)
      ->capture_default_str();
  app.add_option("--l2", l2_coeff, "coefficient of the L2 loss of the weights (the seed's WEIGHT_DECAY_COEFF)")
      ->check(flags::non_negative)
      ->capture_default_str();
  app.add_option("--seed", seed, "seed of the initial weights, dropout and shuffling")->capture_default_str();
  app.add_option("--max_examples", max_examples, "use at most this many examples of each split (0: all)")
      ->check(flags::non_negative);
  app.add_option("--log_dir", log_dir, "write TensorBoard logs here: cost, obj and learning_rate every 50 steps, the "
                                       "test accuracy, weight histograms and the first layer's filters every epoch");
  app.add_option("--checkpoint_dir", checkpoint_dir,
                 "save the weights (a state dict, model.safetensors) here after every epoch");
  app.add_flag("--fine_tuning", fine_tuning, "start from the weights saved in --checkpoint_dir");
  app.add_option("--export_onnx", onnx_path, "write the trained network here as an ONNX model (input [batch,784], "
                                             "output the logits [batch,10]), for ONNX Runtime and the like");
  app.add_option("--threads", threads, "threads (default: $TAPEFLOW_NUM_THREADS, else all cores)")
      ->check(flags::positive);
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) tf::set_num_threads(threads);
  if (learning_rate == 0) learning_rate = default_learning_rate(optimizer);
  tf::manual_seed(seed);

  auto data = lenet::read_data(data_dir, seed, max_examples);
  LeNet net(keep_prob);
  auto opt = make_optimizer(optimizer, net.parameters(), learning_rate);
  const std::vector<tf::Tensor> weights = net.weights();
  const std::int64_t steps_per_epoch = lenet::steps_per_epoch(data.train.num_examples(), batch_size);
  fmt::print("lenet_eager: {} train / {} test examples, {} epochs of {} steps, optimizer {} (lr {}), keep_prob {}, "
             "{} threads\n",
             data.train.num_examples(), data.test.num_examples(), epochs, steps_per_epoch, optimizer, learning_rate,
             keep_prob, tf::get_num_threads());

  // Optional: TensorBoard logs and a checkpoint of the weights after each epoch.
  std::optional<tf::summary::Writer> log;
  if (!log_dir.empty()) log.emplace(log_dir);
  const std::string checkpoint = checkpoint_dir.empty() ? "" : checkpoint_dir + "/model.safetensors";
  if (!checkpoint.empty() && !fine_tuning) std::filesystem::create_directories(checkpoint_dir);
  if (fine_tuning) {
    if (checkpoint.empty()) throw tf::ValueError("--fine_tuning needs --checkpoint_dir, the directory of the model");
    if (!std::filesystem::exists(checkpoint))
      throw tf::IOError(fmt::format("--fine_tuning: there is no checkpoint '{}'; train with --checkpoint_dir {} first",
                                    checkpoint, checkpoint_dir));
    net.load_state_dict(tf::io::load(checkpoint));
    fmt::print("Model restored for fine-tuning from {}\n", checkpoint);
  }

  const auto start = std::chrono::steady_clock::now();
  std::int64_t step = 0;
  double test_accuracy = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const double lr = tf::optim::exponential_decay(learning_rate, epoch - 1, 1, decay);
    opt->set_lr(lr);
    tf::io::ProgressBar bar({.total = steps_per_epoch,
                             .label = fmt::format("epoch {}/{}", epoch, epochs),
                             .samples_per_step = batch_size});
    for (std::int64_t i = 1; i <= steps_per_epoch; ++i) {
      auto [images, labels] = data.train.next_batch(batch_size);
      auto cost = tf::reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(labels, net(images)));
      auto objective = cost + nn::l1_loss(weights) * l1_coeff + nn::l2_loss(weights) * l2_coeff;
      opt->zero_grad();
      objective.backward();
      opt->step();
      ++step;

      bar.update(i, objective.item());
      if (log && step % 50 == 0) {  // the seed's names: cost, obj
        log->scalar("cost", cost.item(), step);
        log->scalar("obj", objective.item(), step);
        log->scalar("learning_rate", lr, step);
        if (step == 50) log->image("images", tf::reshape(images, {-1, 28, 28, 1}), step);
      }
    }
    bar.finish();
    test_accuracy = accuracy(net, data.test);
    fmt::print("epoch {}: test_accuracy={:.4f}\n", epoch, test_accuracy);
    if (log) {
      log->scalar("accuracy", test_accuracy, step);
      for (const auto& [name, param] : net.named_parameters()) log->histogram(name, param, step);
      // The first layer's filters [5,5,1,20] as 20 images [20,5,5,1].
      log->image("filters", tf::transpose(weights[0], {3, 0, 1, 2}), step, static_cast<int>(lenet::C1));
      log->flush();
    }
    if (!checkpoint.empty())
      tf::io::save(checkpoint, net.state_dict(),
                   {{"epoch", std::to_string(epoch)}, {"step", std::to_string(step)},
                    {"test_accuracy", fmt::format("{:.4f}", test_accuracy)}});
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (!checkpoint.empty()) {  // what was saved gives the same accuracy in a new network
    LeNet restored(keep_prob);
    restored.load_state_dict(tf::io::load(checkpoint));
    fmt::print("Model saved in {} and restored: test_accuracy={:.4f}\n", checkpoint, accuracy(restored, data.test));
  }
  if (!onnx_path.empty()) {
    // Traced on two test images; the batch dimension stays free. (The exporter recognises the
    // batch by its size, so not 1, a size other dimensions have.)
    tf::onnx::export_module(net, {tf::slice(data.test.images(), {0, 0}, {2, -1})}, onnx_path);
    fmt::print("ONNX model written to {}\n", onnx_path);
  }
  fmt::print("final: test_accuracy={:.4f} steps={} seconds={:.1f}\n", test_accuracy, step, seconds);
  return 0;
} catch (const tf::Error& e) {
  fmt::print(stderr, "lenet_eager: {}\n", e.what());
  return 1;
}
