#include "tapeflow/data/mnist.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <vector>

#include <fmt/format.h>

#include "data/random.h"
#include "tapeflow/data/idx.h"

namespace tapeflow::data {

namespace {

/// Bytes in one example (one row along the first dimension) of t.
std::size_t row_bytes(const Tensor& t) {
  std::size_t n = dtype_size(t.dtype());
  for (int i = 1; i < t.rank(); ++i) n *= static_cast<std::size_t>(t.dim(i));
  return n;
}

/// An uninitialised tensor like t with `rows` examples.
Tensor empty_rows(const Tensor& t, std::int64_t rows) {
  Shape s = t.shape();
  s[0] = rows;
  return Tensor::empty(s, t.dtype());
}

/// Copies examples [begin, end) of src to dst starting at example `at`.
void copy_rows(const Tensor& src, std::int64_t begin, std::int64_t end, Tensor& dst, std::int64_t at) {
  const std::size_t rb = row_bytes(src);
  if (end > begin)
    std::memcpy(static_cast<char*>(dst.raw_data()) + static_cast<std::size_t>(at) * rb,
                static_cast<const char*>(src.raw_data()) + static_cast<std::size_t>(begin) * rb,
                static_cast<std::size_t>(end - begin) * rb);
}

Tensor take_rows(const Tensor& src, std::int64_t begin, std::int64_t end) {
  Tensor dst = empty_rows(src, end - begin);
  copy_rows(src, begin, end, dst, 0);
  return dst;
}

/// The examples of src in the order `perm`, in a new tensor.
Tensor gather_rows(const Tensor& src, const std::vector<std::int64_t>& perm) {
  Tensor dst = empty_rows(src, static_cast<std::int64_t>(perm.size()));
  const std::size_t rb = row_bytes(src);
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  for (std::size_t i = 0; i < perm.size(); ++i) std::memcpy(d + i * rb, s + static_cast<std::size_t>(perm[i]) * rb, rb);
  return dst;
}

}  // namespace

// ---------------------------------------------------------------------------- DataSet

DataSet::DataSet(Tensor images, Tensor labels, std::uint64_t seed) : generator_(seed) {
  if (!images.defined() || !labels.defined())
    throw ValueError(fmt::format("DataSet: got an undefined {} tensor", images.defined() ? "labels" : "images"));
  if (images.rank() == 0 || labels.rank() == 0 || images.dim(0) != labels.dim(0))
    throw ShapeError(fmt::format("DataSet: images {} and labels {} must have the same number of examples along "
                                 "their first dimension",
                                 images.shape().str(), labels.shape().str()));
  num_examples_ = images.dim(0);
  images_ = std::move(images);
  labels_ = std::move(labels);
}

void DataSet::shuffle_examples() {
  // Fisher-Yates over the example indices (numpy.random.shuffle of an arange in TensorFlow); a
  // shard permutes the whole data set's order with the same draws, then takes its part.
  const std::size_t n = num_shards_ == 1 ? static_cast<std::size_t>(num_examples_) : order_.size();
  std::vector<std::int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), std::int64_t{0});
  for (std::size_t i = perm.size(); i > 1; --i)
    std::swap(perm[i - 1], perm[detail::uniform_below(generator_.engine(), i)]);
  if (num_shards_ == 1) {
    images_ = gather_rows(images_, perm);
    labels_ = gather_rows(labels_, perm);
    return;
  }
  std::vector<std::int64_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = order_[static_cast<std::size_t>(perm[i])];
  order_ = std::move(order);
  select_shard();
}

void DataSet::select_shard() {
  std::vector<std::int64_t> mine(static_cast<std::size_t>(num_examples_));
  for (std::size_t k = 0; k < mine.size(); ++k)
    mine[k] = order_[k * static_cast<std::size_t>(num_shards_) + static_cast<std::size_t>(shard_index_)];
  images_ = gather_rows(all_images_, mine);
  labels_ = gather_rows(all_labels_, mine);
}

DataSet DataSet::shard(int num_shards, int index) const {
  if (num_shards < 1 || num_shards > num_examples_)
    throw ValueError(fmt::format("DataSet::shard: num_shards must be between 1 and the number of examples {}, got {}",
                                 num_examples_, num_shards));
  if (index < 0 || index >= num_shards)
    throw ValueError(fmt::format("DataSet::shard: index {} is out of range for {} shards (0 to {})", index,
                                 num_shards, num_shards - 1));
  if (num_shards_ != 1)
    throw ValueError(fmt::format("DataSet::shard: this data set is shard {} of {} already; shard the whole data set",
                                 shard_index_, num_shards_));
  if (epochs_completed_ != 0 || index_in_epoch_ != 0)
    throw ValueError(fmt::format("DataSet::shard: this data set has served batches already (epoch {}, example {}); "
                                 "shard it before taking batches, so that all shards start from the same order",
                                 epochs_completed_, index_in_epoch_));
  DataSet s = *this;
  s.all_images_ = images_;
  s.all_labels_ = labels_;
  s.order_.resize(static_cast<std::size_t>(num_examples_));
  std::iota(s.order_.begin(), s.order_.end(), std::int64_t{0});
  s.num_shards_ = num_shards;
  s.shard_index_ = index;
  s.num_examples_ = num_examples_ / num_shards;
  s.select_shard();
  return s;
}

Batch DataSet::next_batch(std::int64_t batch_size, bool shuffle) {
  if (num_examples_ == 0)
    throw ValueError(fmt::format("DataSet::next_batch: the data set has no examples (images {}, labels {})",
                                 images_.shape().str(), labels_.shape().str()));
  if (batch_size < 1 || batch_size > num_examples_)
    throw ValueError(fmt::format("DataSet::next_batch: batch_size must be between 1 and the number of examples "
                                 "{}, got {}",
                                 num_examples_, batch_size));
  const std::int64_t start = index_in_epoch_;
  // Shuffle for the first epoch.
  if (epochs_completed_ == 0 && start == 0 && shuffle) shuffle_examples();

  if (start + batch_size <= num_examples_) {
    index_in_epoch_ += batch_size;
    return {take_rows(images_, start, index_in_epoch_), take_rows(labels_, start, index_in_epoch_)};
  }

  // The batch crosses the end of the epoch: the rest of this epoch, then (after a reshuffle) the
  // start of the next one.
  ++epochs_completed_;
  const std::int64_t rest = num_examples_ - start;
  Batch batch{empty_rows(images_, batch_size), empty_rows(labels_, batch_size)};
  copy_rows(images_, start, num_examples_, batch.images, 0);
  copy_rows(labels_, start, num_examples_, batch.labels, 0);
  if (shuffle) shuffle_examples();
  index_in_epoch_ = batch_size - rest;
  copy_rows(images_, 0, index_in_epoch_, batch.images, rest);
  copy_rows(labels_, 0, index_in_epoch_, batch.labels, rest);
  return batch;
}

// ---------------------------------------------------------------------------- read_data_sets

namespace mnist {

namespace {

constexpr const char* kDefaultDir = "/usr/share/datasets/fashion-mnist";
constexpr const char* kHowToGet =
    "install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or pass a "
    "directory of MNIST IDX files / set TAPEFLOW_DATA_DIR";
constexpr std::int64_t kNumClasses = 10;

/// `dir/name` or `dir/name.gz`, whichever exists (the unzipped one first); IOError otherwise.
std::string find_file(const std::filesystem::path& dir, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw IOError(fmt::format("mnist::read_data_sets: the data directory {} does not exist (looking for {}(.gz)); {}",
                              dir.string(), name, kHowToGet));
  for (const std::string& candidate : {name, name + ".gz"}) {
    fs::path p = dir / candidate;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  throw IOError(fmt::format("mnist::read_data_sets: neither {} nor {}.gz is in the directory {}; {}", name, name,
                            dir.string(), kHowToGet));
}

/// read_idx with the role of the file ("train images") put in front of its messages.
Tensor read_part(const std::string& path, const char* what) {
  try {
    return read_idx(path);
  } catch (const IOError& e) {
    throw IOError(fmt::format("mnist::read_data_sets: reading the {}: {}", what, e.what()));
  }
}

void check_images(const Tensor& t, const std::string& path) {
  if (t.dtype() != uint8 || t.rank() != 3)
    throw IOError(fmt::format("mnist::read_data_sets: {}: expected MNIST images (IDX uint8 with 3 dimensions "
                              "[N,rows,cols], magic number 00 00 08 03), found {} {}",
                              path, dtype_name(t.dtype()), t.shape().str()));
}

void check_labels(const Tensor& t, const std::string& path) {
  if (t.dtype() != uint8 || t.rank() != 1)
    throw IOError(fmt::format("mnist::read_data_sets: {}: expected MNIST labels (IDX uint8 with 1 dimension [N], "
                              "magic number 00 00 08 01), found {} {}",
                              path, dtype_name(t.dtype()), t.shape().str()));
}

void check_counts(const Tensor& images, const std::string& images_path, const Tensor& labels,
                  const std::string& labels_path) {
  if (images.dim(0) != labels.dim(0))
    throw IOError(fmt::format("mnist::read_data_sets: {} has {} images but {} has {} labels; the two files must "
                              "hold the same examples",
                              images_path, images.dim(0), labels_path, labels.dim(0)));
}

/// Images [begin, end) of uint8 [N,rows,cols] as float32 pixel / 255 (TensorFlow multiplies by
/// the float32 of 1/255): [n, rows*cols] with reshape, else [n, rows, cols, 1].
Tensor convert_images(const Tensor& raw, std::int64_t begin, std::int64_t end, bool reshape) {
  const std::int64_t n = end - begin, rows = raw.dim(1), cols = raw.dim(2);
  Tensor out = reshape ? Tensor::empty({n, rows * cols}, float32) : Tensor::empty({n, rows, cols, 1}, float32);
  const std::uint8_t* src = raw.data<std::uint8_t>() + begin * rows * cols;
  float* dst = out.data<float>();
  const float scale = 1.0f / 255.0f;
  const std::int64_t count = n * rows * cols;
  for (std::int64_t i = 0; i < count; ++i) dst[i] = static_cast<float>(src[i]) * scale;
  return out;
}

/// Labels [begin, end) of uint8 [N] as int64 [n], or float32 one-hot [n,10].
Tensor convert_labels(const Tensor& raw, std::int64_t begin, std::int64_t end, bool one_hot,
                      const std::string& path) {
  const std::int64_t n = end - begin;
  const std::uint8_t* src = raw.data<std::uint8_t>() + begin;
  if (!one_hot) {
    Tensor out = Tensor::empty({n}, int64);
    std::int64_t* dst = out.data<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) dst[i] = src[i];
    return out;
  }
  Tensor out = zeros({n, kNumClasses}, float32);
  float* dst = out.data<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    if (src[i] >= kNumClasses)
      throw IOError(fmt::format("mnist::read_data_sets: {}: label {} of example {} is not a class 0-{}; one_hot "
                                "needs labels in [0, {})",
                                path, src[i], begin + i, kNumClasses - 1, kNumClasses));
    dst[i * kNumClasses + src[i]] = 1.0f;
  }
  return out;
}

}  // namespace

std::string default_data_dir() {
  const char* env = std::getenv("TAPEFLOW_DATA_DIR");
  return env && *env ? std::string(env) : std::string(kDefaultDir);
}

Datasets read_data_sets(const std::string& dir, const Options& options) {
  const std::filesystem::path root = dir.empty() ? default_data_dir() : dir;
  const std::string train_images_path = find_file(root, "train-images-idx3-ubyte");
  const std::string train_labels_path = find_file(root, "train-labels-idx1-ubyte");
  const std::string test_images_path = find_file(root, "t10k-images-idx3-ubyte");
  const std::string test_labels_path = find_file(root, "t10k-labels-idx1-ubyte");

  Tensor train_images = read_part(train_images_path, "train images");
  check_images(train_images, train_images_path);
  Tensor train_labels = read_part(train_labels_path, "train labels");
  check_labels(train_labels, train_labels_path);
  check_counts(train_images, train_images_path, train_labels, train_labels_path);

  const std::int64_t num_train = train_images.dim(0);
  const std::int64_t v = options.validation_size;
  if (v < 0 || v > num_train)
    throw ValueError(fmt::format("mnist::read_data_sets: validation_size should be between 0 and {} (the number of "
                                 "training examples in {}), got {}",
                                 num_train, train_images_path, v));

  Tensor test_images = read_part(test_images_path, "test images");
  check_images(test_images, test_images_path);
  Tensor test_labels = read_part(test_labels_path, "test labels");
  check_labels(test_labels, test_labels_path);
  check_counts(test_images, test_images_path, test_labels, test_labels_path);

  const bool oh = options.one_hot, rs = options.reshape;
  return Datasets{
      DataSet(convert_images(train_images, v, num_train, rs),
              convert_labels(train_labels, v, num_train, oh, train_labels_path), options.seed),
      DataSet(convert_images(train_images, 0, v, rs), convert_labels(train_labels, 0, v, oh, train_labels_path),
              options.seed),
      DataSet(convert_images(test_images, 0, test_images.dim(0), rs),
              convert_labels(test_labels, 0, test_labels.dim(0), oh, test_labels_path), options.seed),
  };
}

}  // namespace mnist

}  // namespace tapeflow::data
