// The LeNet of ../shared/seeds/001 as an nn::Module, shared by lenet_eager (one process) and
// ../lenet_distributed (the same network trained data-parallel on MPI):
//
//   conv 5x5x20 SAME + ReLU, max pool 2x2, LRN, conv 3x3x50 SAME + ReLU, max pool 2x2, LRN,
//   flatten, dropout, fc 1200 + ReLU, dropout, fc 1200 + ReLU, dropout, logits 10;
//   objective = cross-entropy + l1 * L1 + l2 * L2 of the weights (the biases are not penalised).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tapeflow/data/mnist.h"
#include "tapeflow/nn.h"
#include "tapeflow/tapeflow.h"

namespace lenet {

namespace tf = tapeflow;
namespace nn = tapeflow::nn;

// The seed's global definitions.
constexpr std::int64_t C1 = 20, C2 = 50, D1 = 1200, D2 = 1200, C = 10;

// Training defaults of both samples. The seed trains with LR = 0.01 for every optimizer, dropout
// keeping 0.5 and an L1 term of 1e-4 on every weight; on Fashion-MNIST, Adam at 0.01 stalls at
// chance level, and at 1e-3 with keep 0.5 it plateaus below 0.90 within the few minutes a sample
// should take. Keeping more units (0.8) and starting Adam higher, at 3e-3, decayed by 0.8 after
// each epoch, gets past 0.90 in 9 epochs (the README's samples table has the figures).
constexpr int kEpochs = 9;
constexpr double kAdamLearningRate = 3e-3, kDecayPerEpoch = 0.8, kKeepProb = 0.8, kL1 = 1e-4, kL2 = 1e-4;

class LeNet : public nn::Module {
 public:
  explicit LeNet(double keep_prob) {
    // {.relu = true}: the ReLU after each hidden layer runs inside the layer's products, on each
    // block of the output while it is in cache (tf.layers' activation=tf.nn.relu, fused as
    // TensorFlow's graph optimizer fuses it).
    conv1_ = register_module("conv_1", nn::Conv2d(1, C1, 5, {.relu = true}));
    pool1_ = register_module("pool_1", nn::MaxPool2d(2));
    lrn1_ = register_module("lrn_1", nn::LocalResponseNorm());
    conv2_ = register_module("conv_2", nn::Conv2d(C1, C2, 3, {.relu = true}));
    pool2_ = register_module("pool_2", nn::MaxPool2d(2));
    lrn2_ = register_module("lrn_2", nn::LocalResponseNorm());
    dropout1_ = register_module("dropout_1", nn::Dropout(keep_prob));
    dot1_ = register_module("dot_1", nn::Linear(7 * 7 * C2, D1, {.relu = true}));
    dropout2_ = register_module("dropout_2", nn::Dropout(keep_prob));
    dot2_ = register_module("dot_2", nn::Linear(D1, D2, {.relu = true}));
    dropout3_ = register_module("dropout_3", nn::Dropout(keep_prob));
    logits_ = register_module("logits_layer", nn::Linear(D2, C));
  }

  /// images [N,784] -> logits [N,10]
  tf::Tensor forward(const tf::Tensor& images) override {
    tf::Tensor x = tf::reshape(images, {-1, 28, 28, 1});  // the seed's unflatten_layer
    x = (*lrn1_)((*pool1_)((*conv1_)(x)));
    x = (*lrn2_)((*pool2_)((*conv2_)(x)));
    x = (*dropout1_)(nn::flatten(x));
    x = (*dropout2_)((*dot1_)(x));
    x = (*dropout3_)((*dot2_)(x));
    return (*logits_)(x);
  }

  /// The seed's regularizer_worthy_params: the weights, not the biases.
  std::vector<tf::Tensor> weights() const {
    return {conv1_->weight(), conv2_->weight(), dot1_->weight(), dot2_->weight(), logits_->weight()};
  }

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_;
  std::shared_ptr<nn::MaxPool2d> pool1_, pool2_;
  std::shared_ptr<nn::LocalResponseNorm> lrn1_, lrn2_;
  std::shared_ptr<nn::Dropout> dropout1_, dropout2_, dropout3_;
  std::shared_ptr<nn::Linear> dot1_, dot2_, logits_;
};

/// The Fashion-MNIST (or MNIST) splits of `data_dir`; with max_examples > 0, only the first
/// max_examples examples of each, for a quick run.
inline tf::data::Datasets read_data(const std::string& data_dir, std::uint64_t seed,
                                           std::int64_t max_examples) {
  auto data = tf::data::mnist::read_data_sets(data_dir, {.seed = seed});
  if (max_examples <= 0) return data;
  auto first = [&](const tf::data::DataSet& set) {
    const std::int64_t n = std::min(max_examples, set.num_examples());
    return tf::data::DataSet(tf::slice(set.images(), {0, 0}, {n, -1}), tf::slice(set.labels(), {0}, {n}), seed);
  };
  return {first(data.train), first(data.validation), first(data.test)};
}

/// The steps of an epoch of `examples` in batches of `batch_size`; a ValueError naming the flags
/// when not even one batch fits.
inline std::int64_t steps_per_epoch(std::int64_t examples, std::int64_t batch_size) {
  if (batch_size > examples)
    throw tf::ValueError(fmt::format("--batch_size {} is larger than the {} training examples (--max_examples limits "
                                     "them): lower --batch_size or raise --max_examples",
                                     batch_size, examples));
  return examples / batch_size;
}

/// How many of `images` [N,784] the network classifies as `labels` [N] (int64), in eval mode and
/// in chunks of 1000 examples, so that the activations of a whole test set never sit in memory.
inline std::int64_t count_correct(LeNet& net, const tf::Tensor& images, const tf::Tensor& labels) {
  tf::NoGradGuard no_grad;
  net.eval();
  constexpr std::int64_t kChunk = 1000;
  std::int64_t correct = 0;
  for (std::int64_t begin = 0; begin < images.dim(0); begin += kChunk) {
    const std::int64_t size = std::min(kChunk, images.dim(0) - begin);
    tf::Tensor logits = net(tf::slice(images, {begin, 0}, {size, -1}));
    tf::Tensor right = tf::equal(tf::argmax(logits, 1), tf::slice(labels, {begin}, {size}));
    correct += tf::reduce_sum(right.to(tf::int64)).item<std::int64_t>();
  }
  net.train();
  return correct;
}

}  // namespace lenet
