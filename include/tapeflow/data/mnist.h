#pragma once
/// MNIST-format data sets in memory, with TensorFlow 1.x's `DataSet.next_batch` and
/// `read_data_sets` (tensorflow/contrib/learn/python/learn/datasets/mnist.py).
///
/// ```
/// auto data = tapeflow::data::mnist::read_data_sets();           // Fashion-MNIST by default
/// auto [images, labels] = data.train.next_batch(100);            // float32 [100,784], int64 [100]
/// ```
#include <cstdint>
#include <string>
#include <vector>

#include "tapeflow/generator.h"
#include "tapeflow/tensor.h"

namespace tapeflow::data {

/// The shuffling seed used when none is given (the Mersenne Twister's own default), so that runs
/// are reproducible unless a seed is chosen.
inline constexpr std::uint64_t kDefaultShuffleSeed = 5489u;

/// One batch; rows of `images` and `labels` belong together.
/// `auto [images, labels] = data.train.next_batch(100);`
struct Batch {
  Tensor images;  // [batch_size, ...] (the data set's image shape)
  Tensor labels;  // [batch_size, ...] (the data set's label shape)
};

/// Examples held in memory, served in batches exactly as TensorFlow 1.x's mnist `DataSet`:
/// - the first call to next_batch (with shuffle) shuffles the examples;
/// - a batch that runs past the end of the epoch takes the rest of the current epoch, reshuffles
///   (with shuffle), and fills up from the start of the next epoch; `epochs_completed()` counts up
///   at that moment (so it is still 0 right after a batch that ends exactly on the last example);
/// - shuffling reorders the stored examples, so `images()`/`labels()` show the current order
///   (into new tensors: a tensor obtained earlier keeps its contents).
/// Shuffles draw from the data set's own Generator, seeded at construction; the permutations are
/// the same on every platform for a given seed. Copying a DataSet copies the generator's state and
/// shares the (never modified in place) tensors, so a copy goes on independently.
class DataSet {
 public:
  /// An empty data set (no examples).
  DataSet() = default;
  /// `images` [N, ...] and `labels` [N, ...] of any dtypes, with the same N (else ShapeError).
  DataSet(Tensor images, Tensor labels, std::uint64_t seed = kDefaultShuffleSeed);

  /// The next `batch_size` examples (1 <= batch_size <= num_examples(), else ValueError):
  /// images [batch_size, ...], labels [batch_size, ...].
  Batch next_batch(std::int64_t batch_size, bool shuffle = true);

  /// Shard `index` of `num_shards` of this data set, for data-parallel training (PyTorch's
  /// DistributedSampler): `auto train = data.train.shard(distributed::size(), distributed::rank());`
  ///
  /// Every shard holds the whole data set (sharing its tensors) and a copy of its shuffling
  /// generator, so all shards shuffle identically; each epoch, shard i serves the examples at
  /// positions i, i + num_shards, i + 2 num_shards, ... of that epoch's order. So the shards of
  /// an epoch are disjoint and together cover it, each has num_examples() / num_shards examples
  /// per epoch (all shards start a new epoch at the same call), and when num_shards divides
  /// num_examples(), batch k of size b of all the shards together is exactly batch k of size
  /// num_shards * b of this data set: N processes see the examples one process would.
  /// Remainder: otherwise the last num_examples() % num_shards examples of each epoch's order are
  /// left out of that epoch (other ones every epoch when shuffling; the same ones without).
  ///
  /// ValueError unless 1 <= num_shards <= num_examples() and 0 <= index < num_shards, when this
  /// data set is a shard already, or when it has served a batch already (shard a fresh one).
  DataSet shard(int num_shards, int index) const;
  /// 1 and 0 for a data set that is not a shard.
  int num_shards() const { return num_shards_; }
  int shard_index() const { return shard_index_; }

  /// All examples in their current order (of a shard: its examples of the current epoch):
  /// [num_examples, ...].
  const Tensor& images() const { return images_; }
  const Tensor& labels() const { return labels_; }
  /// The examples per epoch (of a shard: the whole data set's / num_shards).
  std::int64_t num_examples() const { return num_examples_; }
  std::int64_t epochs_completed() const { return epochs_completed_; }

 private:
  void shuffle_examples();
  void select_shard();  // images_/labels_ = this shard's examples of order_

  Tensor images_ = Tensor::empty({0});
  Tensor labels_ = Tensor::empty({0}, int64);
  std::int64_t num_examples_ = 0;
  std::int64_t epochs_completed_ = 0;
  std::int64_t index_in_epoch_ = 0;
  Generator generator_{kDefaultShuffleSeed};
  // A shard: the whole data set in its original order, the current epoch's order of it (indices
  // into all_*), and this shard's place.
  Tensor all_images_, all_labels_;
  std::vector<std::int64_t> order_;
  int num_shards_ = 1;
  int shard_index_ = 0;
};

/// The three splits (TensorFlow's `base.Datasets`).
struct Datasets {
  DataSet train;
  DataSet validation;
  DataSet test;
};

namespace mnist {

/// The directory read when none is given: the environment variable TAPEFLOW_DATA_DIR when set and
/// not empty, else /usr/share/datasets/fashion-mnist (Debian package `dataset-fashion-mnist`,
/// Fashion-MNIST: a drop-in replacement for MNIST).
std::string default_data_dir();

struct Options {
  /// Labels as float32 one-hot rows [N,10] instead of int64 class ids [N].
  bool one_hot = false;
  /// Images as flat rows [N, rows*cols] (784 for MNIST); false gives [N, rows, cols, 1] (NHWC).
  bool reshape = true;
  /// The first `validation_size` training examples form the validation set (must be in
  /// [0, number of training examples], else ValueError).
  std::int64_t validation_size = 5000;
  /// Seed of each split's shuffling generator (all three start from it, as TensorFlow seeds its
  /// random state with the same seed for each DataSet).
  std::uint64_t seed = kDefaultShuffleSeed;
};

/// Reads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
/// t10k-labels-idx1-ubyte (each plain or with `.gz`) from `dir` (default_data_dir() when empty).
/// Images become float32 in [0,1] (pixel / 255): [N,rows*cols], or [N,rows,cols,1] without
/// reshape; labels int64 [N], or float32 [N,10] with one_hot. For MNIST: train 55000,
/// validation 5000, test 10000 examples.
///
/// Throws IOError naming the file and directory when a file is missing (with how to get the
/// data), unreadable, truncated or corrupt, not MNIST images/labels (uint8 IDX of 3/1
/// dimensions), when images and labels counts differ, or when one_hot meets a label outside 0-9;
/// ValueError for a validation_size out of range.
Datasets read_data_sets(const std::string& dir = "", const Options& options = {});

}  // namespace mnist

}  // namespace tapeflow::data
