#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "helpers.h"
#include "tapeflow/data/mnist.h"

using namespace tapeflow;
namespace fs = std::filesystem;
namespace mnist = tapeflow::data::mnist;

namespace {

const char* const kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct TempDir : tft::TempDir {
  TempDir() : tft::TempDir("mnist_data") {}
};

using Bytes = std::vector<unsigned char>;

Bytes idx_file(unsigned char type, const std::vector<std::uint32_t>& dims, const Bytes& payload) {
  Bytes b{0, 0, type, static_cast<unsigned char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int i = 3; i >= 0; --i) b.push_back(static_cast<unsigned char>((d >> (8 * i)) & 0xff));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

void write_file(const std::string& path, const Bytes& b, bool gz) {
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    BOOST_REQUIRE(f != nullptr);
    BOOST_REQUIRE_EQUAL(gzwrite(f, b.data(), static_cast<unsigned>(b.size())), static_cast<int>(b.size()));
    BOOST_REQUIRE_EQUAL(gzclose(f), Z_OK);
  } else {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    BOOST_REQUIRE(f.good());
  }
}

// The tiny data set: 10 train and 4 test images of 3x2 pixels. Pixel p of train image i is
// 10*i + p, of test image i 200 + 10*i + p (the last test pixel is 255). Train label i is 3*i mod 10
// (all different), test label i is 9 - i. So every row names its example.
constexpr int kTrain = 10, kTest = 4, kRows = 3, kCols = 2, kPixels = kRows * kCols;

int train_pixel(int i, int p) { return 10 * i + p; }
int test_pixel(int i, int p) { return i == kTest - 1 && p == kPixels - 1 ? 255 : 200 + 10 * i + p; }
std::int64_t train_label(int i) { return (3 * i) % 10; }
std::int64_t test_label(int i) { return 9 - i; }

Bytes train_images_payload() {
  Bytes b;
  for (int i = 0; i < kTrain; ++i)
    for (int p = 0; p < kPixels; ++p) b.push_back(static_cast<unsigned char>(train_pixel(i, p)));
  return b;
}

/// Writes the four files: train ones gzip-compressed, test ones plain (both names are accepted).
void write_tiny_mnist(const TempDir& dir) {
  Bytes test_images, train_labels, test_labels;
  for (int i = 0; i < kTest; ++i)
    for (int p = 0; p < kPixels; ++p) test_images.push_back(static_cast<unsigned char>(test_pixel(i, p)));
  for (int i = 0; i < kTrain; ++i) train_labels.push_back(static_cast<unsigned char>(train_label(i)));
  for (int i = 0; i < kTest; ++i) test_labels.push_back(static_cast<unsigned char>(test_label(i)));
  write_file(dir.file("train-images-idx3-ubyte.gz"), idx_file(0x08, {kTrain, kRows, kCols}, train_images_payload()),
             true);
  write_file(dir.file("train-labels-idx1-ubyte.gz"), idx_file(0x08, {kTrain}, train_labels), true);
  write_file(dir.file("t10k-images-idx3-ubyte"), idx_file(0x08, {kTest, kRows, kCols}, test_images), false);
  write_file(dir.file("t10k-labels-idx1-ubyte"), idx_file(0x08, {kTest}, test_labels), false);
}

/// The train example ids of a batch of images (flat rows), checking that each row is exactly the
/// image of that example and that its label belongs to it.
std::vector<int> train_ids(const data::Batch& batch) {
  std::vector<float> px = batch.images.to_vector<float>();
  std::vector<std::int64_t> lab = batch.labels.to_vector<std::int64_t>();
  std::vector<int> ids;
  for (std::size_t r = 0; r < lab.size(); ++r) {
    int id = static_cast<int>(std::lround(px[r * kPixels] * 255.0f)) / 10;
    for (int p = 0; p < kPixels; ++p)
      BOOST_CHECK_EQUAL(px[r * kPixels + p], static_cast<float>(train_pixel(id, p)) * (1.0f / 255.0f));
    BOOST_CHECK_EQUAL(lab[r], train_label(id));
    ids.push_back(id);
  }
  return ids;
}

std::vector<int> sorted(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<int> range(int begin, int end) {
  std::vector<int> v;
  for (int i = begin; i < end; ++i) v.push_back(i);
  return v;
}

/// Sets an environment variable for a scope, restoring the old value (or its absence) after.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(std::string n, const char* value) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
    if (value)
      ::setenv(name.c_str(), value, 1);
    else
      ::unsetenv(name.c_str());
  }
  ~ScopedEnv() {
    if (old)
      ::setenv(name.c_str(), old->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

struct FashionMnistPresent {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result present(fs::is_directory(kFashionMnistDir));
    present.message() << "skipped: " << kFashionMnistDir
                      << " is absent (apt-get install dataset-fashion-mnist to run this test)";
    return present;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(mnist_data)

BOOST_AUTO_TEST_CASE(read_data_sets_splits_and_scales) {
  TempDir dir;
  write_tiny_mnist(dir);
  data::Datasets d = mnist::read_data_sets(dir.path.string(), {.validation_size = 2});
  BOOST_TEST(d.train.num_examples() == 8);
  BOOST_TEST(d.validation.num_examples() == 2);
  BOOST_TEST(d.test.num_examples() == 4);
  BOOST_TEST(d.train.images().shape() == Shape({8, 6}));
  BOOST_TEST(d.train.images().dtype() == float32);
  BOOST_TEST(d.train.labels().shape() == Shape({8}));
  BOOST_TEST(d.train.labels().dtype() == int64);
  BOOST_TEST(d.train.epochs_completed() == 0);

  // Validation is the first two training examples, train the other eight, in file order.
  auto expect_rows = [](const data::DataSet& ds, const std::vector<int>& ids, bool test) {
    std::vector<double> px, lab;
    for (int i : ids) {
      for (int p = 0; p < kPixels; ++p)
        px.push_back(static_cast<float>(test ? test_pixel(i, p) : train_pixel(i, p)) * (1.0f / 255.0f));
      lab.push_back(static_cast<double>(test ? test_label(i) : train_label(i)));
    }
    tft::check_close(ds.images(), px, 0.0, 0.0);
    tft::check_close(ds.labels(), lab, 0.0, 0.0);
  };
  expect_rows(d.validation, {0, 1}, false);
  expect_rows(d.train, range(2, 10), false);
  expect_rows(d.test, range(0, 4), true);
  BOOST_TEST(d.test.images().to_vector<float>().back() == 1.0f);  // pixel 255
  BOOST_TEST(d.train.images().to_vector<float>().front() == 20.0f / 255.0f);
}

BOOST_AUTO_TEST_CASE(one_hot_and_unflattened_images) {
  TempDir dir;
  write_tiny_mnist(dir);
  data::Datasets d =
      mnist::read_data_sets(dir.path.string(), {.one_hot = true, .reshape = false, .validation_size = 0});
  BOOST_TEST(d.train.images().shape() == Shape({10, 3, 2, 1}));
  BOOST_TEST(d.validation.images().shape() == Shape({0, 3, 2, 1}));
  BOOST_TEST(d.validation.labels().shape() == Shape({0, 10}));
  BOOST_TEST(d.test.images().shape() == Shape({4, 3, 2, 1}));
  BOOST_TEST(d.train.labels().shape() == Shape({10, 10}));
  BOOST_TEST(d.train.labels().dtype() == float32);
  std::vector<double> one_hot(100, 0.0);
  for (int i = 0; i < kTrain; ++i) one_hot[static_cast<std::size_t>(i * 10 + train_label(i))] = 1.0;
  tft::check_close(d.train.labels(), one_hot, 0.0, 0.0);
  std::vector<double> test_pixels;
  for (int i = 0; i < kTest; ++i)
    for (int p = 0; p < kPixels; ++p) test_pixels.push_back(static_cast<float>(test_pixel(i, p)) * (1.0f / 255.0f));
  tft::check_close(d.test.images(), test_pixels, 0.0, 0.0);
  data::Batch b = d.train.next_batch(4);
  BOOST_TEST(b.images.shape() == Shape({4, 3, 2, 1}));
  BOOST_TEST(b.labels.shape() == Shape({4, 10}));
  TF_CHECK_THROWS_WITH(d.validation.next_batch(1), ValueError,
                       "DataSet::next_batch: the data set has no examples (images [0,3,2,1], labels [0,10])");
}

BOOST_AUTO_TEST_CASE(batches_cover_every_example_once_per_epoch) {
  TempDir dir;
  write_tiny_mnist(dir);
  data::Datasets d = mnist::read_data_sets(dir.path.string(), {.validation_size = 2});
  auto [images, labels] = d.train.next_batch(4);
  BOOST_TEST(images.shape() == Shape({4, 6}));
  BOOST_TEST(labels.shape() == Shape({4}));
  std::vector<int> first = train_ids({images, labels});
  std::vector<int> second = train_ids(d.train.next_batch(4));
  std::vector<int> epoch = first;
  epoch.insert(epoch.end(), second.begin(), second.end());
  BOOST_TEST(sorted(epoch) == range(2, 10), boost::test_tools::per_element());
  BOOST_TEST(epoch != range(2, 10), "the first epoch is shuffled");
  // The epoch ended exactly: like TensorFlow, it is counted at the next call.
  BOOST_TEST(d.train.epochs_completed() == 0);
  std::vector<int> third = train_ids(d.train.next_batch(4));
  BOOST_TEST(d.train.epochs_completed() == 1);
  std::vector<int> fourth = train_ids(d.train.next_batch(4));
  std::vector<int> epoch2 = third;
  epoch2.insert(epoch2.end(), fourth.begin(), fourth.end());
  BOOST_TEST(sorted(epoch2) == range(2, 10), boost::test_tools::per_element());
  BOOST_TEST(epoch2 != epoch, "each epoch is reshuffled");
}

BOOST_AUTO_TEST_CASE(batch_crossing_the_epoch_end) {
  TempDir dir;
  write_tiny_mnist(dir);
  data::Datasets d = mnist::read_data_sets(dir.path.string(), {.validation_size = 2});
  // Batches of 3 over 8 examples: the third batch is the last 2 of epoch 1 and the first of epoch
  // 2, and so on; the stream of examples is epoch after epoch, each a permutation of all 8.
  const std::int64_t expected_epochs[] = {0, 0, 1, 1, 1, 2, 2, 2, 3};
  std::vector<int> stream;
  for (std::int64_t e : expected_epochs) {
    std::vector<int> ids = train_ids(d.train.next_batch(3));
    BOOST_TEST(ids.size() == 3u);
    stream.insert(stream.end(), ids.begin(), ids.end());
    BOOST_TEST(d.train.epochs_completed() == e);
  }
  std::vector<std::vector<int>> epochs;
  for (std::size_t at = 0; at + 8 <= stream.size(); at += 8) {
    epochs.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(at), stream.begin() + static_cast<std::ptrdiff_t>(at + 8));
    BOOST_TEST(sorted(epochs.back()) == range(2, 10), boost::test_tools::per_element());
  }
  BOOST_TEST(epochs.size() == 3u);
  BOOST_TEST(epochs[0] != epochs[1]);
  BOOST_TEST(epochs[1] != epochs[2]);
  // images()/labels() hold the current (third) epoch's order, whose first three examples were the
  // last batch.
  std::vector<int> current = train_ids({d.train.images(), d.train.labels()});
  BOOST_TEST(std::vector<int>(current.begin(), current.begin() + 3) ==
                 std::vector<int>(stream.end() - 3, stream.end()),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(without_shuffle_batches_come_in_order) {
  TempDir dir;
  write_tiny_mnist(dir);
  data::Datasets d = mnist::read_data_sets(dir.path.string(), {.validation_size = 2});
  BOOST_TEST(train_ids(d.train.next_batch(3, false)) == std::vector<int>({2, 3, 4}), boost::test_tools::per_element());
  BOOST_TEST(train_ids(d.train.next_batch(3, false)) == std::vector<int>({5, 6, 7}), boost::test_tools::per_element());
  BOOST_TEST(d.train.epochs_completed() == 0);
  BOOST_TEST(train_ids(d.train.next_batch(3, false)) == std::vector<int>({8, 9, 2}), boost::test_tools::per_element());
  BOOST_TEST(d.train.epochs_completed() == 1);
  BOOST_TEST(train_ids(d.train.next_batch(3, false)) == std::vector<int>({3, 4, 5}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(shuffling_is_reproducible_with_a_seed) {
  TempDir dir;
  write_tiny_mnist(dir);
  auto run = [&](std::uint64_t seed) {
    data::Datasets d = mnist::read_data_sets(dir.path.string(), {.validation_size = 2, .seed = seed});
    std::vector<int> stream;
    for (int i = 0; i < 6; ++i) {
      std::vector<int> ids = train_ids(d.train.next_batch(3));
      stream.insert(stream.end(), ids.begin(), ids.end());
    }
    return stream;
  };
  std::vector<int> a = run(7);
  BOOST_TEST(a == run(7), boost::test_tools::per_element());
  BOOST_TEST(a != run(8));

  // A copy carries the generator's state and goes on exactly as the original.
  data::Datasets d = mnist::read_data_sets(dir.path.string(), {.validation_size = 2, .seed = 7});
  d.train.next_batch(3);
  data::DataSet copy = d.train;
  for (int i = 0; i < 4; ++i)
    BOOST_TEST(train_ids(copy.next_batch(3)) == train_ids(d.train.next_batch(3)), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(shuffling_leaves_earlier_tensors_alone) {
  TempDir dir;
  write_tiny_mnist(dir);
  data::Datasets d = mnist::read_data_sets(dir.path.string(), {.validation_size = 2});
  Tensor before_images = d.train.images(), before_labels = d.train.labels();
  data::Batch b = d.train.next_batch(1);
  BOOST_TEST(train_ids({before_images, before_labels}) == range(2, 10), boost::test_tools::per_element());
  std::vector<int> now = train_ids({d.train.images(), d.train.labels()});
  BOOST_TEST(sorted(now) == range(2, 10), boost::test_tools::per_element());
  BOOST_TEST(train_ids(b).front() == now.front());
}

BOOST_AUTO_TEST_CASE(dataset_from_tensors) {
  // Any dtypes and ranks: int32 "images" [5,2], int64 labels [5,1].
  Tensor images = from_vector(std::vector<std::int32_t>{0, 1, 10, 11, 20, 21, 30, 31, 40, 41}, {5, 2});
  Tensor labels = from_vector(std::vector<std::int64_t>{0, 1, 2, 3, 4}, {5, 1});
  data::DataSet ds(images, labels, 3);
  BOOST_TEST(ds.num_examples() == 5);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 5; ++i) {
    auto [x, y] = ds.next_batch(1);
    BOOST_TEST(x.shape() == Shape({1, 2}));
    BOOST_TEST(y.shape() == Shape({1, 1}));
    std::int64_t k = y.to_vector<std::int64_t>()[0];
    BOOST_TEST(x.to_vector<std::int32_t>() == std::vector<std::int32_t>({static_cast<std::int32_t>(10 * k),
                                                                          static_cast<std::int32_t>(10 * k + 1)}),
               boost::test_tools::per_element());
    seen.insert(k);
  }
  BOOST_TEST(seen.size() == 5u);

  TF_CHECK_THROWS_WITH(data::DataSet(zeros({3, 2}), zeros({4}, int64)), ShapeError,
                       "DataSet: images [3,2] and labels [4] must have the same number of examples");
  TF_CHECK_THROWS_WITH(data::DataSet(scalar(1), zeros({1})), ShapeError, "images [] and labels [1]");
  TF_CHECK_THROWS_WITH(data::DataSet(Tensor(), zeros({1})), ValueError, "DataSet: got an undefined images tensor");
  TF_CHECK_THROWS_WITH(ds.next_batch(0), ValueError,
                       "DataSet::next_batch: batch_size must be between 1 and the number of examples 5, got 0");
  TF_CHECK_THROWS_WITH(ds.next_batch(6), ValueError, "between 1 and the number of examples 5, got 6");
  TF_CHECK_THROWS_WITH(data::DataSet().next_batch(1), ValueError, "the data set has no examples");
}

BOOST_AUTO_TEST_CASE(validation_size_out_of_range) {
  TempDir dir;
  write_tiny_mnist(dir);
  const std::string images = dir.file("train-images-idx3-ubyte.gz");
  TF_CHECK_THROWS_WITH(mnist::read_data_sets(dir.path.string()), ValueError,
                       "mnist::read_data_sets: validation_size should be between 0 and 10 (the number of training "
                       "examples in " + images + "), got 5000");
  TF_CHECK_THROWS_WITH(mnist::read_data_sets(dir.path.string(), {.validation_size = -1}), ValueError,
                       "validation_size should be between 0 and 10", "got -1");
  data::Datasets all = mnist::read_data_sets(dir.path.string(), {.validation_size = 10});
  BOOST_TEST(all.train.num_examples() == 0);
  BOOST_TEST(all.validation.num_examples() == 10);
}

BOOST_AUTO_TEST_CASE(missing_files_say_how_to_get_them) {
  TempDir dir;
  const std::string absent = dir.file("absent");
  TF_CHECK_THROWS_WITH(mnist::read_data_sets(absent), IOError,
                       "mnist::read_data_sets: the data directory " + absent +
                           " does not exist (looking for train-images-idx3-ubyte(.gz))",
                       "install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), "
                       "or pass a directory of MNIST IDX files / set TAPEFLOW_DATA_DIR");
  write_tiny_mnist(dir);
  fs::remove(dir.file("t10k-labels-idx1-ubyte"));
  TF_CHECK_THROWS_WITH(mnist::read_data_sets(dir.path.string(), {.validation_size = 2}), IOError,
                       "neither t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte.gz is in the directory " +
                           dir.path.string(),
                       "apt-get install dataset-fashion-mnist", "set TAPEFLOW_DATA_DIR");
}

BOOST_AUTO_TEST_CASE(bad_files_are_io_errors) {
  TempDir dir;
  write_tiny_mnist(dir);
  const std::string dirs = dir.path.string();
  const mnist::Options opt{.validation_size = 2};

  // Test labels for 3 examples next to 4 test images.
  const std::string test_labels = dir.file("t10k-labels-idx1-ubyte");
  write_file(test_labels, idx_file(0x08, {3}, {9, 8, 7}), false);
  TF_CHECK_THROWS_WITH(mnist::read_data_sets(dirs, opt), IOError,
                       dir.file("t10k-images-idx3-ubyte") + " has 4 images but " + test_labels + " has 3 labels");
  // Labels stored as int32.
  write_file(test_labels, idx_file(0x0C, {1}, {0, 0, 0, 9}), false);
  TF_CHECK_THROWS_WITH(mnist::read_data_sets(dirs, opt), IOError,
                       test_labels + ": expected MNIST labels (IDX uint8 with 1 dimension [N], magic number 00 00 08 "
                                     "01), found int32 [1]");
  write_tiny_mnist(dir);

  // A labels file where the images should be.
  const std::string train_images = dir.file("train-images-idx3-ubyte.gz");
  write_file(train_images, idx_file(0x08, {kTrain}, Bytes(kTrain, 1)), true);
  TF_CHECK_THROWS_WITH(mnist::read_data_sets(dirs, opt), IOError,
                       train_images + ": expected MNIST images (IDX uint8 with 3 dimensions [N,rows,cols], magic "
                                      "number 00 00 08 03), found uint8 [10]");
  // Half the pixels.
  Bytes half = train_images_payload();
  half.resize(half.size() / 2);
  write_file(train_images, idx_file(0x08, {kTrain, kRows, kCols}, half), true);
  TF_CHECK_THROWS_WITH(mnist::read_data_sets(dirs, opt), IOError,
                       "mnist::read_data_sets: reading the train images: read_idx: " + train_images +
                           ": truncated: expected 60 bytes of data ([10,3,2] uint8), got 30");
  write_tiny_mnist(dir);

  // A label that is no class 0-9 is fine as an id but not for one_hot.
  const std::string train_labels = dir.file("train-labels-idx1-ubyte.gz");
  write_file(train_labels, idx_file(0x08, {kTrain}, {0, 1, 2, 3, 12, 5, 6, 7, 8, 9}), true);
  data::Datasets ids = mnist::read_data_sets(dirs, opt);
  BOOST_TEST(ids.train.labels().to_vector<std::int64_t>()[2] == 12);
  TF_CHECK_THROWS_WITH(mnist::read_data_sets(dirs, {.one_hot = true, .validation_size = 2}), IOError,
                       train_labels + ": label 12 of example 4 is not a class 0-9; one_hot needs labels in [0, 10)");
}

BOOST_AUTO_TEST_CASE(data_dir_from_the_environment) {
  TempDir dir;
  write_tiny_mnist(dir);
  {
    ScopedEnv env("TAPEFLOW_DATA_DIR", dir.path.string().c_str());
    BOOST_TEST(mnist::default_data_dir() == dir.path.string());
    data::Datasets d = mnist::read_data_sets("", {.validation_size = 2});
    BOOST_TEST(d.test.num_examples() == 4);
  }
  {
    ScopedEnv env("TAPEFLOW_DATA_DIR", "");
    BOOST_TEST(mnist::default_data_dir() == kFashionMnistDir);
  }
  {
    ScopedEnv env("TAPEFLOW_DATA_DIR", nullptr);
    BOOST_TEST(mnist::default_data_dir() == kFashionMnistDir);
  }
}

BOOST_AUTO_TEST_CASE(real_fashion_mnist, *boost::unit_test::precondition(FashionMnistPresent{})) {
  data::Datasets d = mnist::read_data_sets(kFashionMnistDir);
  BOOST_TEST(d.train.images().shape() == Shape({55000, 784}));
  BOOST_TEST(d.validation.images().shape() == Shape({5000, 784}));
  BOOST_TEST(d.test.images().shape() == Shape({10000, 784}));
  BOOST_TEST(d.train.labels().shape() == Shape({55000}));
  BOOST_TEST(d.validation.labels().shape() == Shape({5000}));
  BOOST_TEST(d.test.labels().shape() == Shape({10000}));

  // Pixels span [0, 1]; the mean over all 60000 training images is Fashion-MNIST's published
  // normalisation constant 0.2860.
  double sum = 0;
  float lo = 1, hi = 0;
  for (const data::DataSet* ds : {&d.train, &d.validation}) {
    const float* p = ds->images().data<float>();
    for (std::int64_t i = 0; i < ds->images().numel(); ++i) {
      sum += p[i];
      lo = std::min(lo, p[i]);
      hi = std::max(hi, p[i]);
    }
  }
  BOOST_TEST(lo == 0.0f);
  BOOST_TEST(hi == 1.0f);
  BOOST_TEST(std::abs(sum / (60000.0 * 784) - 0.2860) < 5e-4);

  // Labels 0-9, balanced: 6000 per class over train+validation and 1000 per class in test.
  std::vector<int> train_count(10, 0), test_count(10, 0);
  for (const data::DataSet* ds : {&d.train, &d.validation})
    for (std::int64_t y : ds->labels().to_vector<std::int64_t>()) {
      BOOST_REQUIRE(y >= 0 && y <= 9);
      ++train_count[static_cast<std::size_t>(y)];
    }
  for (std::int64_t y : d.test.labels().to_vector<std::int64_t>()) {
    BOOST_REQUIRE(y >= 0 && y <= 9);
    ++test_count[static_cast<std::size_t>(y)];
  }
  BOOST_TEST(train_count == std::vector<int>(10, 6000), boost::test_tools::per_element());
  BOOST_TEST(test_count == std::vector<int>(10, 1000), boost::test_tools::per_element());
  // The first training example (so the first of validation) and the first test example are ankle
  // boots (class 9).
  BOOST_TEST(d.validation.labels().to_vector<std::int64_t>()[0] == 9);
  BOOST_TEST(d.test.labels().to_vector<std::int64_t>()[0] == 9);

  auto [images, labels] = d.train.next_batch(100);
  BOOST_TEST(images.shape() == Shape({100, 784}));
  BOOST_TEST(labels.shape() == Shape({100}));
}

BOOST_AUTO_TEST_SUITE_END()
