// The LeNet of ../lenet_eager trained data-parallel on MPI (tapeflow/distributed.h, Horovod's
// recipe). The same program runs as N processes:
//
//   mpirun -np 2 ./lenet_distributed
//
// and each of them
//   1. trains on its shard of the training set (DataSet::shard) with --batch_size / N examples
//      per step,
//   2. starts from rank 0's weights (distributed::broadcast),
//   3. averages the gradients over the processes before every update (DistributedOptimizer), so
//      that the N processes take the steps one process would take with --batch_size,
//   4. counts the right answers on its part of the test set; the counts are summed (allreduce).
// Only rank 0 prints, writes the TensorBoard log and saves the checkpoint, and the code says so
// where it does: io::save and summary::Writer write in every process that calls them.
//
// Started without mpirun it is a job of one process and trains as lenet_eager does.
// Its last line (rank 0's) reads `final: test_accuracy=<accuracy> steps=<steps> seconds=<seconds>`.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "flags.h"

#include "../lenet_eager/lenet.h"
#include "tapeflow/data/mnist.h"
#include "tapeflow/distributed.h"
#include "tapeflow/io/checkpoint.h"
#include "tapeflow/io/progress.h"
#include "tapeflow/summary/writer.h"
#include "tapeflow/tapeflow.h"

namespace tf = tapeflow;
namespace nn = tapeflow::nn;
namespace dist = tapeflow::distributed;
using lenet::LeNet;

namespace {

/// Test accuracy over the processes: each counts the examples [n * rank / N, n * (rank + 1) / N)
/// of `set`, and the counts are summed over the processes.
double accuracy(LeNet& net, const tf::data::DataSet& set) {
  const std::int64_t n = set.num_examples();
  const std::int64_t first = n * dist::rank() / dist::size(), last = n * (dist::rank() + 1) / dist::size();
  const std::int64_t mine = lenet::count_correct(net, tf::slice(set.images(), {first, 0}, {last - first, -1}),
                                                 tf::slice(set.labels(), {first}, {last - first}));
  const tf::Tensor all = dist::allreduce(tf::scalar(static_cast<double>(mine), tf::int64), dist::ReduceOp::sum);
  return static_cast<double>(all.item<std::int64_t>()) / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) try {
  dist::init(argc, argv);
  const bool root = dist::is_root();
  CLI::App app{"Trains lenet_eager's LeNet data-parallel over the processes of mpirun -np N"};
  std::string data_dir, log_dir, checkpoint_dir;
  int epochs = lenet::kEpochs, batch_size = 100, threads = 0;
  double learning_rate = lenet::kAdamLearningRate;
  std::uint64_t seed = 1;
  std::int64_t max_examples = 0;
  app.add_option("--data_dir", data_dir, "directory of the MNIST IDX files (default: $TAPEFLOW_DATA_DIR, else "
                                         "/usr/share/datasets/fashion-mnist)");
  app.add_option("--epochs", epochs, "passes over the training set")->check(flags::positive)->capture_default_str();
  app.add_option("--batch_size", batch_size, "examples per step over all the processes (a multiple of N)")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--learning_rate", learning_rate, "Adam's learning rate, multiplied by 0.8 after each epoch")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--seed", seed, "seed of the initial weights, dropout and shuffling")->capture_default_str();
  app.add_option("--max_examples", max_examples, "use at most this many examples of each split (0: all)")
      ->check(flags::non_negative);
  app.add_option("--log_dir", log_dir, "rank 0 writes TensorBoard logs here: cost every 50 steps, test accuracy");
  app.add_option("--checkpoint_dir", checkpoint_dir, "rank 0 saves the weights here (model.safetensors) after every "
                                                     "epoch");
  app.add_option("--threads", threads,
                 "threads per process (default: $TAPEFLOW_NUM_THREADS, else this machine's cores divided by the "
                 "processes on it)")
      ->check(flags::positive);
  CLI11_PARSE(app, argc, argv);
  if (batch_size % dist::size() != 0)
    throw tf::ValueError(fmt::format("--batch_size {} does not split into {} processes; use a multiple of {}",
                                     batch_size, dist::size(), dist::size()));
  // The processes on one machine share its cores: each taking all of them would oversubscribe
  // the cores, and OpenMP's barriers stall badly then.
  if (threads == 0 && !std::getenv("TAPEFLOW_NUM_THREADS"))
    threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / dist::local_size());
  if (threads > 0) tf::set_num_threads(threads);
  tf::manual_seed(seed);

  auto data = lenet::read_data(data_dir, seed, max_examples);
  const std::int64_t num_train = data.train.num_examples();
  tf::data::DataSet train = data.train.shard(dist::size(), dist::rank());  // this process's examples
  const std::int64_t local_batch = batch_size / dist::size();
  if (local_batch < 1)
    throw tf::ValueError(fmt::format("--batch_size {} is less than the {} processes: each needs at least one example "
                                     "per step",
                                     batch_size, dist::size()));
  const std::int64_t steps_per_epoch = lenet::steps_per_epoch(train.num_examples(), local_batch);

  LeNet net(lenet::kKeepProb);
  dist::broadcast(net.parameters());  // every process starts from rank 0's weights
  // step() first averages the gradients over the processes, then lets Adam update.
  dist::DistributedOptimizer opt(
      std::make_unique<tf::optim::Adam>(net.parameters(), tf::optim::AdamOptions{.lr = learning_rate}));
  const std::vector<tf::Tensor> weights = net.weights();
  if (root)
    fmt::print("lenet_distributed: {} train / {} test examples, {} epochs of {} steps, adam (lr {}), {} processes x {} "
               "threads x {} examples per step\n",
               num_train, data.test.num_examples(), epochs, steps_per_epoch, learning_rate, dist::size(),
               tf::get_num_threads(), local_batch);

  std::optional<tf::summary::Writer> log;
  if (root && !log_dir.empty()) log.emplace(log_dir);  // one event file, rank 0's
  const std::string checkpoint = checkpoint_dir.empty() ? "" : checkpoint_dir + "/model.safetensors";
  if (root && !checkpoint.empty()) std::filesystem::create_directories(checkpoint_dir);

  const auto start = std::chrono::steady_clock::now();
  std::int64_t step = 0;
  double test_accuracy = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    opt.set_lr(tf::optim::exponential_decay(learning_rate, epoch - 1, 1, lenet::kDecayPerEpoch));
    std::optional<tf::io::ProgressBar> bar;
    if (root)
      bar.emplace(tf::io::ProgressOptions{
          .total = steps_per_epoch, .label = fmt::format("epoch {}/{}", epoch, epochs), .samples_per_step = batch_size});
    for (std::int64_t i = 1; i <= steps_per_epoch; ++i) {
      auto [images, labels] = train.next_batch(local_batch);
      auto cost = tf::reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(labels, net(images)));
      auto objective = cost + nn::l1_loss(weights) * lenet::kL1 + nn::l2_loss(weights) * lenet::kL2;
      opt.zero_grad();
      objective.backward();
      opt.step();  // allreduce, then Adam
      ++step;
      if (bar) bar->update(i, objective.item());  // rank 0's own loss: a sample of the job's
      if (log && step % 50 == 0) log->scalar("cost", cost.item(), step);
    }
    if (bar) bar->finish();
    test_accuracy = accuracy(net, data.test);  // a collective: every rank calls it
    if (root) fmt::print("epoch {}: test_accuracy={:.4f}\n", epoch, test_accuracy);
    if (log) log->scalar("accuracy", test_accuracy, step);
    if (root && !checkpoint.empty()) tf::io::save(checkpoint, net.state_dict());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (!checkpoint.empty()) {  // rank 0 reads what it saved, and gives it to the others
    LeNet restored(lenet::kKeepProb);
    if (root) restored.load_state_dict(tf::io::load(checkpoint));
    dist::broadcast(restored.parameters());
    const double restored_accuracy = accuracy(restored, data.test);
    if (root) fmt::print("Model saved in {} and restored: test_accuracy={:.4f}\n", checkpoint, restored_accuracy);
  }
  if (root) fmt::print("final: test_accuracy={:.4f} steps={} seconds={:.1f}\n", test_accuracy, step, seconds);
  return 0;
} catch (const tf::Error& e) {
  fmt::print(stderr, "lenet_distributed: {}\n", e.what());
  return 1;
}
