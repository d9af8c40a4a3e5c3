// Summary ops: scalar, histogram (TensorFlow 1.x buckets), image (PNG, TensorFlow's rescaling
// and tags), merge / merge_all, run through a Session and written with a FileWriter; the eager
// Writer encodes the same bytes.
#include <png.h>

#include <cfloat>
#include <cstring>

#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/summary.h"

using namespace tapeflow;
namespace ts = tapeflow::summary;

namespace {

struct Png {
  int width = 0, height = 0, channels = 0;
  int color_type = -1;  // IHDR: 0 gray, 2 RGB, 6 RGBA
  int bit_depth = 0;
  std::vector<int> pixels;
};

// Decodes with libpng's simplified API, in the file's own format (no conversion).
Png decode_png(const std::string& bytes) {
  Png out;
  BOOST_REQUIRE(bytes.size() > 33);
  BOOST_REQUIRE(std::memcmp(bytes.data(), "\x89PNG\r\n\x1a\n", 8) == 0);
  BOOST_REQUIRE(bytes.substr(12, 4) == "IHDR");
  out.bit_depth = static_cast<unsigned char>(bytes[24]);
  out.color_type = static_cast<unsigned char>(bytes[25]);
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  BOOST_REQUIRE_MESSAGE(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()), image.message);
  out.width = static_cast<int>(image.width);
  out.height = static_cast<int>(image.height);
  out.channels = static_cast<int>(PNG_IMAGE_SAMPLE_CHANNELS(image.format));
  std::vector<unsigned char> buffer(PNG_IMAGE_SIZE(image));
  BOOST_REQUIRE_MESSAGE(png_image_finish_read(&image, nullptr, buffer.data(), 0, nullptr), image.message);
  out.pixels.assign(buffer.begin(), buffer.end());
  return out;
}

std::string tags_of(const std::vector<ts::Value>& values) {
  std::vector<std::string> tags;
  for (const auto& v : values) tags.push_back(v.tag);
  return fmt::format("{}", fmt::join(tags, ","));
}

std::string bytes_of(const Tensor& t) {
  return {reinterpret_cast<const char*>(t.data<std::uint8_t>()), static_cast<std::size_t>(t.numel())};
}

// Values and expected HistogramProto computed with numpy (searchsorted side='right' over
// TensorFlow's 1551 limits, runs of empty buckets collapsed).
const std::vector<double> kHistogramValues = {-3.0, -0.001, 0.0, 0.0, 1e-13, 0.5, 0.5, 2.0, 7.25e3};
const std::vector<std::pair<double, double>> kHistogramBuckets = {
    {-3.1665833053880363, 0.0}, {-2.8787120958073054, 1.0},   {-0.001055857634516068, 0.0},
    {-0.0009598705768327891, 1.0}, {0.0, 0.0},                  {1e-12, 3.0},
    {0.47069243095356195, 0.0},  {0.5177616740489182, 2.0},    {1.9661990955585713, 0.0},
    {2.1628190051144287, 1.0},   {7135.072914485614, 0.0},     {7848.580205934176, 1.0},
    {1.7976931348623157e+308, 0.0},
};

void check_histogram(const ts::HistogramValue& h) {
  BOOST_CHECK_EQUAL(h.min, -3.0);
  BOOST_CHECK_EQUAL(h.max, 7250.0);
  BOOST_CHECK_EQUAL(h.num, 9.0);
  BOOST_CHECK_CLOSE(h.sum, 7249.999, 1e-10);
  BOOST_CHECK_CLOSE(h.sum_squares, 52562513.500001, 1e-10);
  BOOST_REQUIRE_EQUAL(h.bucket_limit.size(), kHistogramBuckets.size());
  BOOST_REQUIRE_EQUAL(h.bucket.size(), kHistogramBuckets.size());
  for (std::size_t i = 0; i < kHistogramBuckets.size(); ++i) {
    BOOST_CHECK_CLOSE(h.bucket_limit[i], kHistogramBuckets[i].first, 1e-12);
    BOOST_CHECK_EQUAL(h.bucket[i], kHistogramBuckets[i].second);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(summary_ops)

BOOST_AUTO_TEST_CASE(scalar_is_a_named_node_tagged_by_its_scope) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1}, "x");
  Tensor loss = reduce_mean(x);
  Tensor s = ts::scalar("loss", loss);
  BOOST_CHECK_EQUAL(s.impl()->node->type(), "ScalarSummary");
  BOOST_CHECK_EQUAL(s.impl()->node->name(), "loss");
  BOOST_CHECK_EQUAL(s.shape().str(), "[?]");
  BOOST_CHECK(s.dtype() == uint8);
  Tensor s2 = ts::scalar("loss", loss * 2.0);
  BOOST_CHECK_EQUAL(s2.impl()->node->name(), "loss_1");
  Tensor s3;
  {
    name_scope layer("layer1");
    s3 = ts::scalar("mean value", loss);  // cleaned: "mean_value"
  }
  BOOST_CHECK_EQUAL(s3.impl()->node->name(), "layer1/mean_value");
  BOOST_CHECK_EQUAL(g.get_collection(GraphKeys::SUMMARIES).size(), 3u);
  Tensor own = ts::scalar("other", loss, {"mine"});
  BOOST_CHECK_EQUAL(g.get_collection(GraphKeys::SUMMARIES).size(), 3u);
  BOOST_CHECK_EQUAL(g.get_collection("mine").size(), 1u);

  Session sess(g);
  auto out = sess.run({s, s2, s3, own}, {{x, tensor({1.0, 2.0, 6.0})}});
  auto v = ts::parse_summary(out[0]);
  BOOST_REQUIRE_EQUAL(v.size(), 1u);
  BOOST_CHECK_EQUAL(v[0].tag, "loss");
  BOOST_CHECK_EQUAL(*v[0].simple_value, 3.0f);
  BOOST_CHECK(!v[0].histogram && !v[0].image);
  BOOST_CHECK_EQUAL(ts::parse_summary(out[1])[0].tag, "loss_1");
  BOOST_CHECK_EQUAL(*ts::parse_summary(out[1])[0].simple_value, 6.0f);
  BOOST_CHECK_EQUAL(ts::parse_summary(out[2])[0].tag, "layer1/mean_value");
  BOOST_CHECK_EQUAL(ts::parse_summary(out[3])[0].tag, "other");
}

BOOST_AUTO_TEST_CASE(scalar_bytes_are_tensorflows) {
  // Summary{value{tag:"loss" simple_value:0.5}}, as in TensorFlow's framed test vector.
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {}, "x");
  Tensor s = ts::scalar("loss", x);
  Session sess(g);
  const std::string bytes = bytes_of(sess.run(s, {{x, scalar(0.5)}}));
  BOOST_CHECK(bytes == std::string("\x0a\x0b\x0a\x04loss\x15\x00\x00\x00\x3f", 13));
  // A zero is written too (a oneof member).
  const std::string zero = bytes_of(sess.run(s, {{x, scalar(0.0)}}));
  BOOST_CHECK(zero == std::string("\x0a\x0b\x0a\x04loss\x15\x00\x00\x00\x00", 13));
}

BOOST_AUTO_TEST_CASE(scalar_of_an_eager_value_and_int_dtypes) {
  Graph g;
  auto scope = g.as_default();
  Tensor lr = ts::scalar("learning_rate", scalar(0.01));  // a Const node under "learning_rate/"
  Tensor steps = ts::scalar("steps", scalar(7, int64));
  Session sess(g);
  auto out = sess.run({lr, steps});
  BOOST_CHECK_EQUAL(*ts::parse_summary(out[0])[0].simple_value, 0.01f);
  BOOST_CHECK_EQUAL(*ts::parse_summary(out[1])[0].simple_value, 7.0f);
  BOOST_CHECK_EQUAL(lr.impl()->node->inputs()[0].impl()->node->name(), "learning_rate/Const");
}

BOOST_AUTO_TEST_CASE(scalar_errors_name_the_summary) {
  Graph g;
  auto scope = g.as_default();
  Tensor v = placeholder(float32, {-1, 2}, "v");
  TF_CHECK_THROWS_WITH(ts::scalar("loss", v), ShapeError, "summary::scalar 'loss'", "[?,2]", "shape []");
  Tensor b = placeholder(bool_, {}, "b");
  TF_CHECK_THROWS_WITH(ts::scalar("flag", b), DTypeError, "summary::scalar 'flag'", "bool");
  TF_CHECK_THROWS_WITH(ts::scalar("/", scalar(1.0)), ValueError, "empty once cleaned");
  TF_CHECK_THROWS_WITH(ts::scalar("x", Tensor()), ValueError, "undefined");
  // The failed builds left no node behind.
  BOOST_CHECK_EQUAL(g.get_collection(GraphKeys::SUMMARIES).size(), 0u);
}

BOOST_AUTO_TEST_CASE(histogram_buckets_are_tensorflows) {
  Graph g;
  auto scope = g.as_default();
  Tensor values = placeholder(float64, {-1}, "values");
  Tensor h;
  {
    name_scope layer("layer1");
    h = ts::histogram("weights", values);
  }
  BOOST_CHECK_EQUAL(h.impl()->node->type(), "HistogramSummary");
  BOOST_CHECK_EQUAL(h.impl()->node->name(), "layer1/weights");
  Session sess(g);
  auto v = ts::parse_summary(sess.run(h, {{values, from_vector(kHistogramValues)}}));
  BOOST_REQUIRE_EQUAL(v.size(), 1u);
  BOOST_CHECK_EQUAL(v[0].tag, "layer1/weights");
  BOOST_REQUIRE(v[0].histogram.has_value());
  check_histogram(*v[0].histogram);
}

BOOST_AUTO_TEST_CASE(histogram_of_float32_and_empty_values) {
  Graph g;
  auto scope = g.as_default();
  // float32 values convert to double first: 0.1f goes to the bucket (0.0931..., 0.1024...].
  Tensor h = ts::histogram("w", tensor({{0.1, -0.25}, {3.0, 3.0}}));
  Tensor empty = ts::histogram("none", zeros({0}));
  Session sess(g);
  auto v = ts::parse_summary(sess.run(h));
  const ts::HistogramValue& hv = *v[0].histogram;
  BOOST_CHECK_EQUAL(hv.num, 4.0);
  BOOST_CHECK_EQUAL(hv.min, -0.25);
  BOOST_CHECK_EQUAL(hv.max, 3.0);
  BOOST_CHECK_CLOSE(hv.sum, static_cast<double>(0.1f) - 0.25 + 6.0, 1e-12);
  // Non-empty buckets with their limits (numpy), each after one collapsed empty bucket.
  const std::vector<std::pair<double, double>> nonempty = {
      {-0.24153964213356663, 1.0}, {0.10243638697138786, 1.0}, {3.1665833053880363, 2.0}};
  std::size_t k = 0;
  for (std::size_t i = 0; i < hv.bucket.size(); ++i) {
    if (hv.bucket[i] == 0) {
      BOOST_CHECK(i == 0 || hv.bucket[i - 1] != 0);  // runs of empty buckets collapsed
      continue;
    }
    BOOST_REQUIRE(k < nonempty.size());
    BOOST_CHECK_CLOSE(hv.bucket_limit[i], nonempty[k].first, 1e-12);
    BOOST_CHECK_EQUAL(hv.bucket[i], nonempty[k].second);
    ++k;
  }
  BOOST_CHECK_EQUAL(k, nonempty.size());
  BOOST_CHECK_EQUAL(hv.bucket_limit.back(), DBL_MAX);

  // No values: TensorFlow's empty histogram (min DBL_MAX, max -DBL_MAX, one empty bucket).
  const auto ve = ts::parse_summary(sess.run(empty));
  const ts::HistogramValue& he = *ve[0].histogram;
  BOOST_CHECK_EQUAL(he.num, 0.0);
  BOOST_CHECK_EQUAL(he.min, DBL_MAX);
  BOOST_CHECK_EQUAL(he.max, -DBL_MAX);
  BOOST_REQUIRE_EQUAL(he.bucket.size(), 1u);
  BOOST_CHECK_EQUAL(he.bucket_limit[0], DBL_MAX);
  BOOST_CHECK_EQUAL(he.bucket[0], 0.0);
}

BOOST_AUTO_TEST_CASE(histogram_nan_or_inf_is_a_clear_error) {
  Graph g;
  auto scope = g.as_default();
  Tensor values = placeholder(float32, {-1}, "values");
  Tensor h;
  {
    name_scope layer("layer1");
    h = ts::histogram("weights", values);
  }
  Session sess(g);
  TF_CHECK_THROWS_WITH(sess.run(h, {{values, tensor({1.0, std::nan(""), 2.0})}}), ValueError,
                       "summary::histogram 'layer1/weights'", "Nan in summary histogram for: layer1/weights",
                       "element 1", "[3]", "node layer1/weights (HistogramSummary)");
  TF_CHECK_THROWS_WITH(sess.run(h, {{values, tensor({-INFINITY})}}), ValueError,
                       "Infinity in summary histogram for: layer1/weights");
  TF_CHECK_THROWS_WITH(ts::histogram("b", placeholder(bool_, {2})), DTypeError, "summary::histogram 'b'", "bool");
}

BOOST_AUTO_TEST_CASE(image_rescales_floats_and_encodes_png) {
  Graph g;
  auto scope = g.as_default();
  Tensor images = placeholder(float32, {-1, 2, 3, 1}, "images");
  Tensor s = ts::image("input", images);  // max_outputs 3
  BOOST_CHECK_EQUAL(s.impl()->node->type(), "ImageSummary");
  BOOST_CHECK_EQUAL(s.impl()->node->name(), "input");
  Session sess(g);
  // Image 0 is non-negative: v * 255/4. Image 1 has negatives: v * 127/2 + 128, NaN -> 255.
  Tensor batch = from_vector<float>({0, 0.5f, 1, 2, 3, 4, -2, -1, 0, 0.5f, 1, std::nanf("")}, {2, 2, 3, 1});
  auto v = ts::parse_summary(sess.run(s, {{images, batch}}));
  BOOST_CHECK_EQUAL(tags_of(v), "input/image/0,input/image/1");  // 2 images of max_outputs 3
  const std::vector<std::vector<int>> expected = {{0, 31, 63, 127, 191, 255}, {1, 64, 128, 159, 191, 255}};
  for (std::size_t i = 0; i < 2; ++i) {
    BOOST_REQUIRE(v[i].image.has_value());
    const ts::ImageValue& img = *v[i].image;
    BOOST_CHECK_EQUAL(img.height, 2);
    BOOST_CHECK_EQUAL(img.width, 3);
    BOOST_CHECK_EQUAL(img.colorspace, 1);
    Png png = decode_png(img.encoded_image);
    BOOST_CHECK_EQUAL(png.width, 3);
    BOOST_CHECK_EQUAL(png.height, 2);
    BOOST_CHECK_EQUAL(png.channels, 1);
    BOOST_CHECK_EQUAL(png.color_type, 0);
    BOOST_CHECK_EQUAL(png.bit_depth, 8);
    BOOST_CHECK_EQUAL_COLLECTIONS(png.pixels.begin(), png.pixels.end(), expected[i].begin(), expected[i].end());
  }
  // More images than max_outputs: the first max_outputs.
  Tensor one = ts::image("first", images, 1);
  auto v1 = ts::parse_summary(sess.run(one, {{images, batch}}));
  BOOST_CHECK_EQUAL(tags_of(v1), "first/image");
  Png png = decode_png(v1[0].image->encoded_image);
  BOOST_CHECK_EQUAL_COLLECTIONS(png.pixels.begin(), png.pixels.end(), expected[0].begin(), expected[0].end());
}

BOOST_AUTO_TEST_CASE(image_uint8_rgb_as_is_and_rgba_bad_color) {
  Graph g;
  auto scope = g.as_default();
  std::vector<std::uint8_t> rgb(2 * 2 * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>(i * 20 + 3);
  Tensor s = ts::image("rgb", from_vector(rgb, {1, 2, 2, 3}));
  // float64 RGBA with an infinite channel: that pixel becomes red (255, 0, 0, 255).
  Tensor rgba = from_vector<double>({0.5, 0.25, 1.0, 1.0, 0.0, INFINITY, 0.0, 1.0}, {1, 1, 2, 4});
  Tensor s4 = ts::image("rgba", rgba, 2);
  Session sess(g);
  auto out = sess.run({s, s4});
  auto v = ts::parse_summary(out[0]);
  BOOST_CHECK_EQUAL(tags_of(v), "rgb/image/0");
  BOOST_CHECK_EQUAL(v[0].image->colorspace, 3);
  Png png = decode_png(v[0].image->encoded_image);
  BOOST_CHECK_EQUAL(png.color_type, 2);
  BOOST_CHECK_EQUAL(png.channels, 3);
  BOOST_CHECK_EQUAL_COLLECTIONS(png.pixels.begin(), png.pixels.end(), rgb.begin(), rgb.end());

  auto v4 = ts::parse_summary(out[1]);
  BOOST_CHECK_EQUAL(v4[0].image->colorspace, 4);
  Png png4 = decode_png(v4[0].image->encoded_image);
  BOOST_CHECK_EQUAL(png4.color_type, 6);
  const std::vector<int> expected = {127, 63, 255, 255, 255, 0, 0, 255};  // v * 255/1, truncated
  BOOST_CHECK_EQUAL_COLLECTIONS(png4.pixels.begin(), png4.pixels.end(), expected.begin(), expected.end());
}

BOOST_AUTO_TEST_CASE(image_errors_name_the_summary) {
  Graph g;
  auto scope = g.as_default();
  TF_CHECK_THROWS_WITH(ts::image("flat", placeholder(float32, {-1, 784})), ShapeError, "summary::image 'flat'",
                       "[?,784]", "4-D");
  TF_CHECK_THROWS_WITH(ts::image("two", placeholder(float32, {-1, 28, 28, 2})), ShapeError, "[?,28,28,2]",
                       "channels 1, 3 or 4");
  TF_CHECK_THROWS_WITH(ts::image("ints", placeholder(int32, {-1, 28, 28, 1})), DTypeError, "summary::image 'ints'",
                       "int32");
  TF_CHECK_THROWS_WITH(ts::image("none", placeholder(float32, {-1, 28, 28, 1}), 0), ValueError, "max_outputs", "0");
  // An unknown channel count is checked when the op runs.
  Tensor any = placeholder(float32, {-1, 2, 2, -1}, "images");
  Tensor s = ts::image("any", any);
  Session sess(g);
  TF_CHECK_THROWS_WITH(sess.run(s, {{any, zeros({1, 2, 2, 2})}}), ShapeError, "summary::image 'any'", "[1,2,2,2]");
}

BOOST_AUTO_TEST_CASE(merge_and_merge_all) {
  Graph g;
  auto scope = g.as_default();
  BOOST_CHECK(!ts::merge_all().defined());  // nothing to merge: TensorFlow returns None
  Tensor x = placeholder(float32, {-1}, "x");
  Tensor a = ts::scalar("average", reduce_mean(x));
  Tensor b = ts::histogram("values", x);
  Tensor c;
  {
    name_scope eval("eval");
    c = ts::scalar("largest", reduce_max(x));
  }
  Tensor merged = ts::merge_all();
  BOOST_CHECK_EQUAL(merged.impl()->node->type(), "MergeSummary");
  BOOST_CHECK_EQUAL(merged.impl()->node->name(), "Merge/MergeSummary");
  Tensor eval_only = ts::merge_all(GraphKeys::SUMMARIES, "eval");
  BOOST_CHECK_EQUAL(eval_only.impl()->node->name(), "Merge_1/MergeSummary");
  Tensor pair = ts::merge({a, c}, {"merged"}, "pair");
  BOOST_CHECK_EQUAL(pair.impl()->node->name(), "pair/pair");
  BOOST_CHECK_EQUAL(g.get_collection("merged").size(), 1u);
  BOOST_CHECK_EQUAL(g.get_collection(GraphKeys::SUMMARIES).size(), 3u);  // merges do not join it

  Session sess(g);
  auto out = sess.run({merged, eval_only, pair}, {{x, tensor({1.0, 4.0})}});
  auto all = ts::parse_summary(out[0]);
  BOOST_CHECK_EQUAL(tags_of(all), "average,values,eval/largest");
  BOOST_CHECK_EQUAL(*all[0].simple_value, 2.5f);
  BOOST_CHECK(all[1].histogram.has_value());
  BOOST_CHECK_EQUAL(*all[2].simple_value, 4.0f);
  BOOST_CHECK_EQUAL(tags_of(ts::parse_summary(out[1])), "eval/largest");
  BOOST_CHECK_EQUAL(tags_of(ts::parse_summary(out[2])), "average,eval/largest");
  // The merged bytes are the inputs' values concatenated.
  auto parts = sess.run({a, b, c}, {{x, tensor({1.0, 4.0})}});
  BOOST_CHECK(bytes_of(out[0]) == bytes_of(parts[0]) + bytes_of(parts[1]) + bytes_of(parts[2]));
}

BOOST_AUTO_TEST_CASE(merge_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {}, "x");
  Tensor a = ts::scalar("loss", x);
  TF_CHECK_THROWS_WITH(ts::merge({}), ValueError, "nothing to merge");
  TF_CHECK_THROWS_WITH(ts::merge({a, x}), DTypeError, "input 1", "'x:0'", "float32 []");
  Tensor twice = ts::merge({a, a});
  Session sess(g);
  TF_CHECK_THROWS_WITH(sess.run(twice, {{x, scalar(1.0)}}), ValueError, "Duplicate tag loss found in summary inputs",
                       "Merge/MergeSummary");
  Tensor junk = ts::merge({a, from_vector<std::uint8_t>({0xff, 0xff, 0xff})});
  TF_CHECK_THROWS_WITH(sess.run(junk, {{x, scalar(1.0)}}), ValueError, "input 1", "not a serialized Summary");
}

BOOST_AUTO_TEST_CASE(graph_summaries_written_and_read_back) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 2, 2, 1}, "x");
  Tensor mean;
  {
    name_scope stats("stats");
    mean = reduce_mean(x);
    ts::scalar("average", mean);  // not "mean": TensorFlow names are unique case-insensitively ("stats/Mean")
    ts::histogram("values", x);
  }
  ts::image("input", x, 1);
  Tensor merged = ts::merge_all();
  Session sess(g);
  tft::TempDir dir("summary_run");
  std::string path;
  {
    ts::FileWriter writer(dir.path.string(), &g);
    path = writer.path();
    for (int step = 0; step < 3; ++step) {
      Tensor batch = full({2, 2, 2, 1}, step + 1.0);
      writer.add_summary(sess.run(merged, {{x, batch}}), step * 10);
    }
  }
  auto events = ts::read_events(path);
  BOOST_REQUIRE_EQUAL(events.size(), 5u);  // file_version, graph, 3 summaries
  BOOST_CHECK(events[0].file_version.has_value());
  BOOST_CHECK(events[1].graph_def.has_value());
  for (int step = 0; step < 3; ++step) {
    const ts::Event& e = events[static_cast<std::size_t>(2 + step)];
    BOOST_CHECK_EQUAL(e.step, step * 10);
    BOOST_REQUIRE(e.summary.has_value());
    BOOST_CHECK_EQUAL(tags_of(*e.summary), "stats/average,stats/values,input/image");
    BOOST_CHECK_EQUAL(*(*e.summary)[0].simple_value, step + 1.0f);
    BOOST_CHECK_EQUAL((*e.summary)[1].histogram->num, 8.0);
    BOOST_CHECK_EQUAL((*e.summary)[1].histogram->sum, 8.0 * (step + 1));
    Png png = decode_png((*e.summary)[2].image->encoded_image);
    BOOST_CHECK_EQUAL(png.pixels[0], 255);  // constant positive image: v * 255/v
  }
}

BOOST_AUTO_TEST_CASE(eager_writer_encodes_like_the_graph_ops) {
  Tensor values = from_vector(kHistogramValues);
  Tensor images = from_vector<float>({0, 0.5f, 1, 2, 3, 4}, {1, 2, 3, 1});
  // The graph ops' bytes for the same values and tags.
  Graph g;
  std::vector<Tensor> graph_out;
  {
    auto scope = g.as_default();
    Tensor l = ts::scalar("loss", scalar(0.25));
    Tensor h = ts::histogram("w", values);
    Tensor i = ts::image("img", images, 2);
    Session sess(g);
    graph_out = sess.run({l, h, i});
  }
  tft::TempDir dir("summary_eager");
  std::string path;
  {
    ts::Writer writer((dir.path / "eager").string());
    path = writer.file_writer().path();
    writer.scalar("loss", 0.25, 1);
    writer.histogram("w", values, 2);
    writer.image("img", images, 3, 2);
    writer.scalar("loss", scalar(0.5, float64), 4);
    writer.flush();
    BOOST_CHECK_EQUAL(ts::read_events(path).size(), 5u);
    TF_CHECK_THROWS_WITH(writer.scalar("loss", tensor({1.0, 2.0}), 5), ShapeError, "Writer::scalar 'loss'", "[2]");
    TF_CHECK_THROWS_WITH(writer.histogram("bad", tensor({std::nan("")}), 5), ValueError, "Writer::histogram 'bad'",
                         "Nan in summary histogram for: bad");
    TF_CHECK_THROWS_WITH(writer.image("bad", zeros({2, 2}), 5), ShapeError, "Writer::image 'bad'", "[2,2]");
    Graph other;
    auto other_scope = other.as_default();
    TF_CHECK_THROWS_WITH(writer.histogram("sym", placeholder(float32, {2}, "p"), 5), ValueError, "graph tensor",
                         "'p:0'");
  }
  auto events = ts::read_events(path);
  BOOST_REQUIRE_EQUAL(events.size(), 5u);
  for (std::size_t i = 0; i < 3; ++i) {
    BOOST_CHECK_EQUAL(events[1 + i].step, static_cast<std::int64_t>(i + 1));
    BOOST_CHECK(ts::serialize_summary(*events[1 + i].summary) == bytes_of(graph_out[i]));
  }
  check_histogram(*(*events[2].summary)[0].histogram);
  BOOST_CHECK_EQUAL(tags_of(*events[3].summary), "img/image/0");
  BOOST_CHECK_EQUAL(*(*events[4].summary)[0].simple_value, 0.5f);
}

BOOST_AUTO_TEST_SUITE_END()
