// The public Event structs <-> TensorBoard's protocol buffers, and reading event files.
#include "tapeflow/summary/event.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "summary/encode.h"
#include "tapeflow/summary/record.h"

namespace tapeflow::summary {

using namespace internal;

namespace {

Value from_proto(const pb::Summary::Value& v) {
  Value out;
  out.tag = v.tag();
  switch (v.value_case()) {
    case pb::Summary::Value::kSimpleValue: out.simple_value = v.simple_value(); break;
    case pb::Summary::Value::kHisto: {
      const pb::HistogramProto& h = v.histo();
      out.histogram = HistogramValue{h.min(), h.max(), h.num(), h.sum(), h.sum_squares(),
                                     {h.bucket_limit().begin(), h.bucket_limit().end()},
                                     {h.bucket().begin(), h.bucket().end()}};
      break;
    }
    case pb::Summary::Value::kImage: {
      const pb::Summary::Image& i = v.image();
      out.image = ImageValue{i.height(), i.width(), i.colorspace(), i.encoded_image_string()};
      break;
    }
    default: break;
  }
  return out;
}

void to_proto(const Value& v, pb::Summary::Value* out) {
  const int kinds = int(v.simple_value.has_value()) + int(v.histogram.has_value()) + int(v.image.has_value());
  if (kinds != 1)
    throw ValueError(fmt::format("serialize_summary: value '{}' must have exactly one of simple_value, histogram and "
                                 "image, it has {}",
                                 v.tag, kinds));
  out->set_tag(v.tag);
  if (v.simple_value) out->set_simple_value(*v.simple_value);
  if (v.histogram) {
    const HistogramValue& h = *v.histogram;
    if (h.bucket.size() != h.bucket_limit.size())
      throw ValueError(fmt::format("serialize_summary: histogram '{}' has {} buckets but {} bucket limits", v.tag,
                                   h.bucket.size(), h.bucket_limit.size()));
    pb::HistogramProto* p = out->mutable_histo();
    p->set_min(h.min);
    p->set_max(h.max);
    p->set_num(h.num);
    p->set_sum(h.sum);
    p->set_sum_squares(h.sum_squares);
    p->mutable_bucket_limit()->Add(h.bucket_limit.begin(), h.bucket_limit.end());
    p->mutable_bucket()->Add(h.bucket.begin(), h.bucket.end());
  }
  if (v.image) {
    pb::Summary::Image* p = out->mutable_image();
    p->set_height(v.image->height);
    p->set_width(v.image->width);
    p->set_colorspace(v.image->colorspace);
    p->set_encoded_image_string(v.image->encoded_image);
  }
}

std::vector<Value> values_of(const pb::Summary& s) {
  std::vector<Value> out;
  out.reserve(static_cast<std::size_t>(s.value_size()));
  for (const auto& v : s.value()) out.push_back(from_proto(v));
  return out;
}

Shape shape_of(const std::string& node, const pb::TensorShapeProto& p) {
  if (p.dim_size() > Shape::kMaxRank)
    throw ValueError(fmt::format("parse_graph_def: node '{}' has a shape of rank {}; tapeflow shapes have at most {} "
                                 "dimensions",
                                 node, p.dim_size(), Shape::kMaxRank));
  Shape s;
  for (const auto& d : p.dim()) s.push_back(d.size() < 0 ? Shape::kUnknown : d.size());
  return s;
}

std::string shape_text(const std::string& node, const pb::TensorShapeProto& p) {
  return p.unknown_rank() ? std::string("<unknown rank>") : shape_of(node, p).str();
}

std::string attr_text(const std::string& node, const pb::AttrValue& a) {
  switch (a.value_case()) {
    case pb::AttrValue::kS: return a.s();
    case pb::AttrValue::kI: return std::to_string(a.i());
    case pb::AttrValue::kF: return fmt::format("{}", a.f());
    case pb::AttrValue::kB: return a.b() ? "true" : "false";
    case pb::AttrValue::kType: return data_type_name(a.type());
    case pb::AttrValue::kShape: return shape_text(node, a.shape());
    case pb::AttrValue::kList: {
      const pb::AttrValue::ListValue& l = a.list();
      std::vector<std::string> items;
      for (const auto& s : l.s()) items.push_back(s);
      for (auto i : l.i()) items.push_back(std::to_string(i));
      for (auto f : l.f()) items.push_back(fmt::format("{}", f));
      for (bool b : l.b()) items.push_back(b ? "true" : "false");
      for (int t : l.type()) items.push_back(data_type_name(t));
      for (const auto& s : l.shape()) items.push_back(shape_text(node, s));
      return fmt::format("[{}]", fmt::join(items, ", "));
    }
    default: return "";
  }
}

}  // namespace

std::vector<Value> parse_summary(std::string_view serialized) {
  pb::Summary s;
  if (!s.ParseFromArray(serialized.data(), static_cast<int>(serialized.size())))
    throw ValueError(fmt::format("parse_summary: {} bytes that are not a serialized Summary", serialized.size()));
  return values_of(s);
}

std::vector<Value> parse_summary(const Tensor& serialized) {
  return parse_summary(bytes_of("parse_summary", serialized));
}

std::string serialize_summary(const std::vector<Value>& values) {
  pb::Summary s;
  for (const Value& v : values) to_proto(v, s.add_value());
  return serialize(s);
}

std::vector<NodeDef> parse_graph_def(std::string_view serialized) {
  pb::GraphDef g;
  if (!g.ParseFromArray(serialized.data(), static_cast<int>(serialized.size())))
    throw ValueError(fmt::format("parse_graph_def: {} bytes that are not a serialized GraphDef", serialized.size()));
  std::vector<NodeDef> nodes;
  nodes.reserve(static_cast<std::size_t>(g.node_size()));
  for (const pb::NodeDef& n : g.node()) {
    NodeDef out;
    out.name = n.name();
    out.op = n.op();
    out.inputs.assign(n.input().begin(), n.input().end());
    out.device = n.device();
    for (const auto& [key, value] : n.attr()) {
      if (key == "_output_shapes" && value.value_case() == pb::AttrValue::kList) {
        for (const auto& s : value.list().shape()) out.output_shapes.push_back(shape_of(n.name(), s));
      } else {
        out.attrs[key] = attr_text(n.name(), value);
      }
    }
    nodes.push_back(std::move(out));
  }
  return nodes;
}

std::string serialize_event(const Event& event) {
  const int kinds = int(event.file_version.has_value()) + int(event.summary.has_value()) +
                    int(event.graph_def.has_value());
  if (kinds > 1)
    throw ValueError(fmt::format("serialize_event: an event holds at most one of file_version, summary and "
                                 "graph_def; this one (step {}) has {}",
                                 event.step, kinds));
  pb::Event e;
  e.set_wall_time(event.wall_time);
  e.set_step(event.step);
  if (event.file_version) e.set_file_version(*event.file_version);
  if (event.graph_def) e.set_graph_def(*event.graph_def);
  if (event.summary) {
    pb::Summary* s = e.mutable_summary();
    for (const Value& v : *event.summary) to_proto(v, s->add_value());
  }
  return serialize(e);
}

std::vector<Event> read_events(const std::string& path) {
  const std::vector<std::string> records = read_records(path);
  std::vector<Event> events;
  events.reserve(records.size());
  std::size_t offset = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    pb::Event e;
    if (!e.ParseFromString(records[i]))
      throw IOError(fmt::format("read_events: '{}': record {} at byte offset {} ({} bytes) is not an Event", path, i,
                                offset, records[i].size()));
    Event out;
    out.wall_time = e.wall_time();
    out.step = e.step();
    switch (e.what_case()) {
      case pb::Event::kFileVersion: out.file_version = e.file_version(); break;
      case pb::Event::kGraphDef: out.graph_def = e.graph_def(); break;
      case pb::Event::kSummary: out.summary = values_of(e.summary()); break;
      default: break;
    }
    events.push_back(std::move(out));
    offset += records[i].size() + 16;
  }
  return events;
}

std::vector<std::string> list_event_files(const std::string& logdir) {
  std::error_code ec;
  std::vector<std::string> files;
  // increment(ec), not ++ (a range-for), which throws filesystem_error when a read of the directory fails.
  for (std::filesystem::directory_iterator it(logdir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().find("tfevents") == std::string::npos) continue;
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) files.push_back(it->path().string());
  }
  if (ec)
    throw IOError(fmt::format("list_event_files: cannot read the log directory '{}': {}", logdir, ec.message()));
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace tapeflow::summary
