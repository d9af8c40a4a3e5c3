// The eager MLP of README.md: 784-128-32-10 with ReLUs, trained on Fashion-MNIST (or MNIST).
//
//   ./mnist_mlp --optimizer adam --steps 3000
//
// Its last line reads `final: test_accuracy=<accuracy> steps=3000 seconds=<seconds>`.
#include <chrono>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "flags.h"

#include "tapeflow/data/mnist.h"
#include "tapeflow/nn.h"
#include "tapeflow/optim.h"
#include "tapeflow/io/onnx.h"
#include "tapeflow/tapeflow.h"

namespace tf = tapeflow;

namespace {

std::unique_ptr<tf::optim::Optimizer> make_optimizer(const std::string& name, std::vector<tf::Tensor> params,
                                                     double lr) {
  if (name == "sgd") return std::make_unique<tf::optim::SGD>(params, tf::optim::SGDOptions{.lr = lr});
  if (name == "momentum") return std::make_unique<tf::optim::Momentum>(params, tf::optim::MomentumOptions{.lr = lr});
  if (name == "adam") return std::make_unique<tf::optim::Adam>(params, tf::optim::AdamOptions{.lr = lr});
  return std::make_unique<tf::optim::RMSProp>(params, tf::optim::RMSPropOptions{.lr = lr});
}

// Learning rates that train this network well in a few thousand steps of batch 100.
double default_learning_rate(const std::string& optimizer) {
  if (optimizer == "sgd") return 0.1;
  if (optimizer == "momentum") return 0.01;
  return 1e-3;  // adam, rmsprop
}

double accuracy(tf::nn::Module& net, const tf::data::DataSet& set) {
  tf::NoGradGuard no_grad;
  net.eval();
  tf::Tensor logits = net(set.images());
  tf::Tensor correct = tf::equal(tf::argmax(logits, 1), set.labels().to(tf::int64));
  net.train();
  return tf::reduce_mean(correct.to(tf::float64)).item();
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"Trains a 784-128-32-10 MLP on Fashion-MNIST with tapeflow's eager API"};
  std::string data_dir, optimizer = "adam", onnx_path;
  int steps = 3000, batch_size = 100, threads = 0;
  double learning_rate = 0;
  std::uint64_t seed = 1;
  app.add_option("--data_dir", data_dir, "directory of the MNIST IDX files (default: $TAPEFLOW_DATA_DIR, else "
                                         "/usr/share/datasets/fashion-mnist)");
  app.add_option("--steps", steps, "training steps")->check(flags::positive)->capture_default_str();
  app.add_option("--batch_size", batch_size, "examples per step")->check(flags::positive)->capture_default_str();
  app.add_option("--learning_rate", learning_rate,
                 "learning rate (default: 0.1 for sgd, 0.01 for momentum, 0.001 for adam and rmsprop)")
      ->check(flags::positive);
  app.add_option("--optimizer", optimizer, "sgd, momentum, adam or rmsprop")
      ->check(CLI::IsMember({"sgd", "momentum", "adam", "rmsprop"}))
      ->capture_default_str();
  app.add_option("--seed", seed, "seed of the initial weights and of the shuffling")->capture_default_str();
  app.add_option("--threads", threads, "threads (default: $TAPEFLOW_NUM_THREADS, else all cores)")
      ->check(flags::positive);
  app.add_option("--export_onnx", onnx_path, "write the trained network here as an ONNX model (input [batch,784])");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) tf::set_num_threads(threads);
  if (learning_rate == 0) learning_rate = default_learning_rate(optimizer);
  tf::manual_seed(seed);

  auto data = tf::data::mnist::read_data_sets(data_dir, {.seed = seed});
  tf::nn::Sequential net(tf::nn::Linear(784, 128), tf::nn::ReLU(),
                         tf::nn::Linear(128, 32),  tf::nn::ReLU(),
                         tf::nn::Linear(32, 10));
  auto opt = make_optimizer(optimizer, net.parameters(), learning_rate);
  fmt::print("mnist_mlp: {} train / {} test examples, optimizer {} (lr {}), {} threads\n",
             data.train.num_examples(), data.test.num_examples(), optimizer, learning_rate, tf::get_num_threads());

  const auto start = std::chrono::steady_clock::now();
  auto last = start;
  double loss_sum = 0;
  int loss_count = 0;
  for (int step = 1; step <= steps; ++step) {
    auto [images, labels] = data.train.next_batch(batch_size);
    auto loss = tf::reduce_mean(tf::nn::sparse_softmax_cross_entropy_with_logits(labels, net(images)));
    opt->zero_grad();
    loss.backward();
    opt->step();

    loss_sum += loss.item();
    ++loss_count;
    if (step % 500 == 0 || step == steps) {
      auto now = std::chrono::steady_clock::now();
      double secs = std::chrono::duration<double>(now - last).count();
      fmt::print("epoch {} step {}/{} loss {:.4f} ({:.0f} samples/s)\n", data.train.epochs_completed() + 1, step,
                 steps, loss_sum / loss_count, loss_count * batch_size / secs);
      last = now;
      loss_sum = 0;
      loss_count = 0;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("validation_accuracy={:.4f}\n", accuracy(net, data.validation));
  if (!onnx_path.empty()) {  // traced on two test images; the batch stays free
    tf::onnx::export_module(net, {tf::slice(data.test.images(), {0, 0}, {2, -1})}, onnx_path);
    fmt::print("ONNX model written to {}\n", onnx_path);
  }
  fmt::print("final: test_accuracy={:.4f} steps={} seconds={:.1f}\n", accuracy(net, data.test), steps, seconds);
  return 0;
} catch (const tf::Error& e) {
  fmt::print(stderr, "mnist_mlp: {}\n", e.what());
  return 1;
}
