// Summary values as TensorFlow 1.x encodes them: scalars, histograms (histogram.cc's buckets),
// merged summaries; the bytes <-> tensor conversions and the dtype table.
#include "summary/encode.h"

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "core/dispatch.h"

namespace tapeflow::summary::internal {

std::string serialize(const google::protobuf::MessageLite& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!message.SerializeToCodedStream(&coded))
      throw ValueError(fmt::format("summary: cannot serialize a {} message", message.GetTypeName()));
  }
  return out;
}

double wall_time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string clean_tag(const std::string& name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    // Python's \w matches any Unicode word character; bytes of UTF-8 sequences are kept.
    const bool ok = std::isalnum(u) || c == '_' || c == '-' || c == '.' || c == '/' || u >= 0x80;
    out.push_back(ok ? c : '_');
  }
  const auto first = out.find_first_not_of('/');
  return first == std::string::npos ? std::string() : out.substr(first);
}

// ---------------------------------------------------------------------------- scalars

std::string scalar_summary(const std::string& tag, double value) {
  pb::Summary summary;
  pb::Summary::Value* v = summary.add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  return serialize(summary);
}

double scalar_value(const std::string& who, const Tensor& value) {
  detail::check_numeric(who.c_str(), value);
  if (value.numel() != 1)
    throw ShapeError(fmt::format("{}: expected one value, got a tensor of shape {} ({} values); reduce it first "
                                 "(reduce_mean) or pick one element",
                                 who, value.shape().str(), value.numel()));
  return value.item<double>();
}

// ---------------------------------------------------------------------------- histograms

const std::vector<double>& histogram_bucket_limits() {
  // TensorFlow's InitDefaultBucketsInner: limits growing by 10% from 1e-12 while below 1e20
  // (by repeated multiplication in double), mirrored, 0 in the middle, +-DBL_MAX at the ends.
  static const std::vector<double> limits = [] {
    std::vector<double> positive;
    for (double v = 1.0e-12; v < 1.0e20; v *= 1.1) positive.push_back(v);
    positive.push_back(DBL_MAX);
    std::vector<double> all;
    all.reserve(2 * positive.size() + 1);
    for (auto it = positive.rbegin(); it != positive.rend(); ++it) all.push_back(-*it);
    all.push_back(0.0);
    all.insert(all.end(), positive.begin(), positive.end());
    return all;
  }();
  return limits;
}

pb::HistogramProto histogram_proto(const std::string& who, const std::string& tag, const Tensor& values) {
  const std::vector<double>& limits = histogram_bucket_limits();
  std::vector<double> counts(limits.size(), 0.0);
  double min = DBL_MAX, max = -DBL_MAX, num = 0, sum = 0, sum_squares = 0;
  detail::visit_numeric(who.c_str(), values, [&]<class T>() {
    const T* data = values.data<T>();
    const std::int64_t n = values.numel();
    for (std::int64_t i = 0; i < n; ++i) {
      const double x = static_cast<double>(data[i]);
      if (!std::isfinite(x))
        throw ValueError(fmt::format("{}: {} in summary histogram for: {} (element {} of the {} {} values); the "
                                     "values were already bad (a diverging loss? lower the learning rate, or check "
                                     "the inputs)",
                                     who, std::isnan(x) ? "Nan" : "Infinity", tag, i, dtype_name(values.dtype()),
                                     values.shape().str()));
      // The bucket is the first limit above x (x == DBL_MAX goes to the last bucket).
      auto b = static_cast<std::size_t>(std::upper_bound(limits.begin(), limits.end(), x) - limits.begin());
      counts[std::min(b, limits.size() - 1)] += 1.0;
      min = std::min(min, x);
      max = std::max(max, x);
      num += 1.0;
      sum += x;
      sum_squares += x * x;
    }
  });
  pb::HistogramProto proto;
  proto.set_min(min);
  proto.set_max(max);
  proto.set_num(num);
  proto.set_sum(sum);
  proto.set_sum_squares(sum_squares);
  // Histogram::EncodeToProto without preserve_zero_buckets: a run of empty buckets becomes one
  // empty bucket ending at the run's last limit.
  for (std::size_t i = 0; i < counts.size();) {
    double end = limits[i];
    double count = counts[i];
    ++i;
    if (count <= 0.0) {
      while (i < counts.size() && counts[i] <= 0.0) {
        end = limits[i];
        count = counts[i];
        ++i;
      }
    }
    proto.add_bucket_limit(end);
    proto.add_bucket(count);
  }
  return proto;
}

std::string histogram_summary(const std::string& who, const std::string& tag, const Tensor& values) {
  pb::Summary summary;
  pb::Summary::Value* v = summary.add_value();
  v->set_tag(tag);
  *v->mutable_histo() = histogram_proto(who, tag, values);
  return serialize(summary);
}

// ---------------------------------------------------------------------------- merge

std::string merge_summaries(const std::string& who, std::span<const std::string_view> summaries) {
  pb::Summary merged;
  std::set<std::string> tags;
  for (std::size_t i = 0; i < summaries.size(); ++i) {
    pb::Summary in;
    if (!in.ParseFromArray(summaries[i].data(), static_cast<int>(summaries[i].size())))
      throw ValueError(fmt::format("{}: input {} ({} bytes) is not a serialized Summary; merge only the outputs of "
                                   "summary ops",
                                   who, i, summaries[i].size()));
    for (const pb::Summary::Value& v : in.value()) {
      if (!v.tag().empty() && !tags.insert(v.tag()).second)
        throw ValueError(fmt::format("{}: Duplicate tag {} found in summary inputs (input {}); give the summaries "
                                     "different names",
                                     who, v.tag(), i));
      *merged.add_value() = v;
    }
  }
  return serialize(merged);
}

// ---------------------------------------------------------------------------- bytes

std::string_view bytes_of(const std::string& who, const Tensor& serialized) {
  if (!serialized.defined())
    throw ValueError(fmt::format("{}: the serialized summary is an undefined tensor (merge_all returns one when "
                                 "no summary was built)",
                                 who));
  if (serialized.is_symbolic())
    throw ValueError(fmt::format("{}: '{}' is a graph tensor; pass its value (Session::run of it) instead", who,
                                 serialized.impl()->name));
  if (serialized.dtype() != uint8 || serialized.rank() != 1)
    throw DTypeError(fmt::format("{}: a serialized summary is a uint8 1-D tensor (the output of a summary op), got "
                                 "{} {}",
                                 who, dtype_name(serialized.dtype()), serialized.shape().str()));
  return {static_cast<const char*>(serialized.raw_data()), static_cast<std::size_t>(serialized.numel())};
}

Tensor bytes_tensor(std::string_view bytes) {
  Tensor t = Tensor::empty({static_cast<std::int64_t>(bytes.size())}, uint8);
  if (!bytes.empty()) std::memcpy(t.raw_data(), bytes.data(), bytes.size());
  return t;
}

// ---------------------------------------------------------------------------- dtypes

pb::DataType data_type_of(DType dtype) {
  switch (dtype) {
    case DType::Float32: return pb::DT_FLOAT;
    case DType::Float64: return pb::DT_DOUBLE;
    case DType::Int32: return pb::DT_INT32;
    case DType::Int64: return pb::DT_INT64;
    case DType::UInt8: return pb::DT_UINT8;
    case DType::Bool: return pb::DT_BOOL;
  }
  return pb::DT_INVALID;
}

std::string data_type_name(int data_type) {
  switch (data_type) {
    case pb::DT_FLOAT: return "float32";
    case pb::DT_DOUBLE: return "float64";
    case pb::DT_INT32: return "int32";
    case pb::DT_INT64: return "int64";
    case pb::DT_UINT8: return "uint8";
    case pb::DT_BOOL: return "bool";
    case pb::DT_STRING: return "string";
    default: return fmt::format("DataType({})", data_type);
  }
}

}  // namespace tapeflow::summary::internal
