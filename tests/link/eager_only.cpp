// Links only the eager layers (core, autograd, ops, nn, optim, data, io: no lib/graph, summary or
// distributed) and trains a small network with them: the layers of ../shared/DESIGN.md hold when
// linked. Any eager source that needed graph mode would fail to link here.
#include <cstdio>
#include <filesystem>

#include "tapeflow/data/mnist.h"
#include "tapeflow/io/checkpoint.h"
#include "tapeflow/tapeflow.h"

namespace tf = tapeflow;

int main() {
  tf::manual_seed(7);
  const tf::Tensor x = tf::random_normal({64, 8});
  const tf::Tensor y = tf::cast(tf::greater(tf::reduce_sum(x, {1}), tf::scalar(0.0f)), tf::int64);
  tf::data::DataSet train(x, y);
  tf::nn::Sequential net(tf::nn::Linear(8, 16), tf::nn::ReLU(), tf::nn::Linear(16, 2));
  tf::optim::Adam opt(net.parameters(), {.lr = 1e-2});
  double first = 0, last = 0;
  for (int step = 0; step < 200; ++step) {
    auto [images, labels] = train.next_batch(16);
    tf::Tensor loss = tf::reduce_mean(tf::nn::sparse_softmax_cross_entropy_with_logits(labels, net(images)));
    opt.zero_grad();
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item();
  }
  const auto path = std::filesystem::temp_directory_path() / "tapeflow_eager_only.safetensors";
  tf::io::save(path.string(), net.state_dict());
  net.load_state_dict(tf::io::load(path.string()));
  std::filesystem::remove(path);
  std::printf("eager layers linked alone: loss %.4f -> %.4f\n", first, last);
  return last < first ? 0 : 1;
}
