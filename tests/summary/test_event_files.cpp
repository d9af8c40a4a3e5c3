// Event files: CRC32C, TFRecord framing (byte for byte against TensorFlow's vectors), the file
// name, the first record, buffering and flushing, reading back with CRC checks, the GraphDef.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <thread>

#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/summary.h"

using namespace tapeflow;
namespace ts = tapeflow::summary;

namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string host() {
  char buffer[256] = {};
  ::gethostname(buffer, sizeof buffer - 1);
  return buffer;
}

std::string joined(const std::vector<std::string>& v) { return fmt::format("{}", fmt::join(v, ",")); }

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string loss_summary(double value, const std::string& tag = "loss") {
  ts::Value v;
  v.tag = tag;
  v.simple_value = static_cast<float>(value);
  return ts::serialize_summary({v});
}

// Event{wall_time=1.0, file_version="brain.Event:2"} and Event{wall_time=2.0, step=1,
// summary{value{tag:"loss" simple_value:0.5}}} framed, as TensorFlow writes them.
const std::string kFramedVersion =
    unhex("1800000000000000a37f4b2209000000000000f03f1a0d627261696e2e4576656e743a3286bf577a");
const std::string kFramedLoss =
    unhex("1a00000000000000129bd82d09000000000000004010012a0d0a0b0a046c6f7373150000003fe20576ce");

ts::Event version_event() {
  ts::Event e;
  e.wall_time = 1.0;
  e.file_version = "brain.Event:2";
  return e;
}

ts::Event loss_event() {
  ts::Event e;
  e.wall_time = 2.0;
  e.step = 1;
  ts::Value v;
  v.tag = "loss";
  v.simple_value = 0.5f;
  e.summary = std::vector<ts::Value>{v};
  return e;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(event_files)

BOOST_AUTO_TEST_CASE(crc32c_matches_the_published_vectors) {
  BOOST_CHECK_EQUAL(ts::crc32c("123456789"), 0xE3069283u);
  BOOST_CHECK_EQUAL(ts::crc32c(""), 0u);
  // RFC 3720 (iSCSI) B.4: 32 zero bytes, 32 0xFF bytes, 0..31, 31..0.
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  BOOST_CHECK_EQUAL(ts::crc32c(std::string(32, '\0')), 0x8A9136AAu);
  BOOST_CHECK_EQUAL(ts::crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  BOOST_CHECK_EQUAL(ts::crc32c(ascending), 0x46DD794Eu);
  BOOST_CHECK_EQUAL(ts::crc32c(descending), 0x113FDB5Cu);
  // Extending continues the same CRC.
  BOOST_CHECK_EQUAL(ts::crc32c_extend(ts::crc32c("1234"), "56789"), 0xE3069283u);
}

BOOST_AUTO_TEST_CASE(masked_crc_matches_tensorflow) {
  BOOST_CHECK_EQUAL(ts::masked_crc32c("\x1a\x11" "CRC test, one two"), 0x5794D08Au);
  for (std::uint32_t c : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0x80000000u}) {
    BOOST_CHECK_EQUAL(ts::unmask_crc(ts::mask_crc(c)), c);
    BOOST_CHECK_EQUAL(ts::mask_crc(c), ((c >> 15) | (c << 17)) + 0xA282EAD8u);
  }
  BOOST_CHECK_NE(ts::mask_crc(0xE3069283u), 0xE3069283u);
}

BOOST_AUTO_TEST_CASE(framed_events_match_tensorflow_byte_for_byte) {
  BOOST_CHECK(ts::frame_record(ts::serialize_event(version_event())) == kFramedVersion);
  BOOST_CHECK(ts::frame_record(ts::serialize_event(loss_event())) == kFramedLoss);
  // The same events added to a FileWriter land in the file with exactly these bytes, after its
  // own first record.
  tft::TempDir dir("events_bytes");
  std::string path;
  std::size_t first_record = 0;
  {
    ts::FileWriter writer(dir.path.string());
    path = writer.path();
    first_record = read_file(path).size();
    writer.add_event(version_event());
    writer.add_event(loss_event());
  }
  const std::string bytes = read_file(path);
  BOOST_REQUIRE_EQUAL(bytes.size(), first_record + kFramedVersion.size() + kFramedLoss.size());
  BOOST_CHECK(bytes.substr(first_record) == kFramedVersion + kFramedLoss);
}

BOOST_AUTO_TEST_CASE(serialize_event_rejects_two_kinds) {
  ts::Event e = loss_event();
  e.file_version = "brain.Event:2";
  TF_CHECK_THROWS_WITH(ts::serialize_event(e), ValueError, "at most one", "file_version");
  ts::Value bad;
  bad.tag = "x";
  TF_CHECK_THROWS_WITH(ts::serialize_summary({bad}), ValueError, "'x'", "exactly one");
}

BOOST_AUTO_TEST_CASE(file_name_first_record_and_logdir) {
  tft::TempDir dir("events_name");
  const std::string logdir = (dir.path / "runs" / "run1").string();  // created with its parents
  const double before = now_seconds();
  ts::FileWriter writer(logdir);
  const double after = now_seconds();
  BOOST_CHECK_EQUAL(writer.get_logdir(), logdir);
  const std::filesystem::path path(writer.path());
  BOOST_CHECK_EQUAL(path.parent_path().string(), logdir);
  std::smatch m;
  const std::string name = path.filename().string();
  BOOST_REQUIRE_MESSAGE(std::regex_match(name, m, std::regex(R"(events\.out\.tfevents\.(\d{10})\.(.+))")), name);
  BOOST_CHECK_EQUAL(m[2].str(), host());
  const double seconds = std::stod(m[1].str());
  // The name's seconds come from std::time, which reads the kernel's coarse clock: it can lag the
  // precise one of now_seconds by a few milliseconds across a second boundary (this test failed
  // once in a hundred or so runs when it asked for >= floor(before)).
  BOOST_CHECK_MESSAGE(seconds >= std::floor(before) - 1 && seconds <= after,
                      "the name's seconds " << seconds << " are not within [" << before << ", " << after << "]");

  // The file_version record is on disk at once.
  auto events = ts::read_events(writer.path());
  BOOST_REQUIRE_EQUAL(events.size(), 1u);
  BOOST_REQUIRE(events[0].file_version.has_value());
  BOOST_CHECK_EQUAL(*events[0].file_version, "brain.Event:2");
  BOOST_CHECK(!events[0].summary && !events[0].graph_def);
  BOOST_CHECK(events[0].wall_time >= before - 1e-3 && events[0].wall_time <= after + 1e-3);
  BOOST_CHECK_EQUAL(joined(ts::list_event_files(logdir)), writer.path());
}

BOOST_AUTO_TEST_CASE(writers_in_one_directory_get_distinct_files) {
  tft::TempDir dir("events_unique");
  ts::FileWriter a(dir.path.string());
  ts::FileWriter b(dir.path.string());
  ts::FileWriter c(dir.path.string(), nullptr, {.filename_suffix = ".eval"});
  BOOST_CHECK_NE(a.path(), b.path());
  std::set<std::string> names;
  for (const auto& p : ts::list_event_files(dir.path.string())) names.insert(std::filesystem::path(p).filename().string());
  BOOST_CHECK_EQUAL(names.size(), 3u);
  // Same second: the later one gets ".<pid>.<n>".
  const std::string pid = "." + std::to_string(::getpid()) + ".";
  if (std::filesystem::path(a.path()).filename().string().substr(0, 30) ==
      std::filesystem::path(b.path()).filename().string().substr(0, 30))
    BOOST_CHECK(b.path().find(pid) != std::string::npos);
  BOOST_CHECK(c.path().ends_with(".eval"));
  // Sorted by name, as TensorBoard reads them.
  auto files = ts::list_event_files(dir.path.string());
  BOOST_CHECK(std::is_sorted(files.begin(), files.end()));
  TF_CHECK_THROWS_WITH(ts::list_event_files(dir.file("missing")), IOError, "missing", "cannot read");
}

BOOST_AUTO_TEST_CASE(events_wait_for_flush_or_max_queue) {
  tft::TempDir dir("events_flush");
  ts::FileWriter writer(dir.path.string(), nullptr, {.max_queue = 3});
  writer.add_summary(loss_summary(1.0), 1);
  writer.add_summary(loss_summary(2.0), 2);
  BOOST_CHECK_EQUAL(ts::read_events(writer.path()).size(), 1u);  // the file_version record only
  writer.add_summary(loss_summary(3.0), 3);                      // the queue is full: written
  BOOST_CHECK_EQUAL(ts::read_events(writer.path()).size(), 4u);
  writer.add_summary(loss_summary(4.0), 4);
  BOOST_CHECK_EQUAL(ts::read_events(writer.path()).size(), 4u);
  writer.flush();
  auto events = ts::read_events(writer.path());
  BOOST_REQUIRE_EQUAL(events.size(), 5u);
  for (int i = 1; i <= 4; ++i) {
    const ts::Event& e = events[static_cast<std::size_t>(i)];
    BOOST_CHECK_EQUAL(e.step, i);
    BOOST_REQUIRE(e.summary && e.summary->size() == 1);
    BOOST_CHECK_EQUAL((*e.summary)[0].tag, "loss");
    BOOST_CHECK_EQUAL(*(*e.summary)[0].simple_value, static_cast<float>(i));
  }
  writer.add_summary(loss_summary(5.0), 5);
  writer.close();
  BOOST_CHECK_EQUAL(ts::read_events(writer.path()).size(), 6u);
  writer.close();  // twice is fine
  TF_CHECK_THROWS_WITH(writer.add_summary(loss_summary(6.0), 6), ValueError, "closed", "reopen");
  const std::string first = writer.path();
  writer.reopen();
  BOOST_CHECK_NE(writer.path(), first);
  writer.add_summary(loss_summary(6.0), 6);
  writer.close();
  auto reopened = ts::read_events(writer.path());
  BOOST_REQUIRE_EQUAL(reopened.size(), 2u);
  BOOST_CHECK_EQUAL(reopened[1].step, 6);
}

BOOST_AUTO_TEST_CASE(destruction_writes_what_is_pending) {
  tft::TempDir dir("events_destroy");
  std::string path;
  {
    ts::FileWriter writer(dir.path.string());
    path = writer.path();
    for (int i = 0; i < 5; ++i) writer.add_summary(loss_summary(i), i);
    BOOST_CHECK_EQUAL(ts::read_events(path).size(), 1u);
  }
  BOOST_CHECK_EQUAL(ts::read_events(path).size(), 6u);
  // A moved-to writer owns the file; the moved-from one refuses to write.
  ts::FileWriter a(dir.path.string());
  ts::FileWriter b(std::move(a));
  b.add_summary(loss_summary(1.0), 1);
  TF_CHECK_THROWS_WITH(a.add_summary(loss_summary(1.0), 1), ValueError, "moved from");
}

BOOST_AUTO_TEST_CASE(events_are_written_every_flush_secs) {
  tft::TempDir dir("events_timer");
  ts::FileWriter writer(dir.path.string(), nullptr, {.max_queue = 100, .flush_secs = 0.2});
  writer.add_summary(loss_summary(1.0), 7);
  // Written by the background writer, without flush(): wait up to 20 s on a busy machine.
  std::size_t n = 0;
  for (int i = 0; i < 200 && n < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    n = ts::read_events(writer.path()).size();
  }
  BOOST_CHECK_EQUAL(n, 2u);
}

BOOST_AUTO_TEST_CASE(bad_options_and_inputs_are_clear_errors) {
  tft::TempDir dir("events_errors");
  TF_CHECK_THROWS_WITH(ts::FileWriter(dir.path.string(), nullptr, {.max_queue = 0}), ValueError, "max_queue", "0");
  TF_CHECK_THROWS_WITH(ts::FileWriter(dir.path.string(), nullptr, {.flush_secs = -1}), ValueError, "flush_secs");
  write_file(dir.file("plain"), "x");
  TF_CHECK_THROWS_WITH(ts::FileWriter(dir.file("plain") + "/run"), IOError, "plain", "log directory");
  ts::FileWriter writer(dir.path.string());
  TF_CHECK_THROWS_WITH(writer.add_summary(std::string("\xff\xff\xff"), 1), ValueError, "not a serialized Summary");
  TF_CHECK_THROWS_WITH(writer.add_summary(tensor({1.0, 2.0}), 1), DTypeError, "uint8 1-D", "float32");
  TF_CHECK_THROWS_WITH(writer.add_summary(Tensor(), 1), ValueError, "undefined");
}

BOOST_AUTO_TEST_CASE(reader_checks_both_crcs) {
  tft::TempDir dir("events_crc");
  const std::string good = kFramedVersion + kFramedLoss;
  write_file(dir.file("events.out.tfevents.good"), good);
  auto events = ts::read_events(dir.file("events.out.tfevents.good"));
  BOOST_REQUIRE_EQUAL(events.size(), 2u);
  BOOST_CHECK_EQUAL(events[0].wall_time, 1.0);
  BOOST_CHECK_EQUAL(*events[0].file_version, "brain.Event:2");
  BOOST_CHECK_EQUAL(events[1].wall_time, 2.0);
  BOOST_CHECK_EQUAL(events[1].step, 1);
  BOOST_CHECK_EQUAL((*events[1].summary)[0].tag, "loss");
  BOOST_CHECK_EQUAL(*(*events[1].summary)[0].simple_value, 0.5f);
  BOOST_CHECK_EQUAL(ts::read_records(dir.file("events.out.tfevents.good")).size(), 2u);

  // A flipped bit in the second record's data (offset 40 + 12 + 3).
  std::string bad_data = good;
  bad_data[kFramedVersion.size() + 15] ^= 0x01;
  write_file(dir.file("bad_data"), bad_data);
  TF_CHECK_THROWS_WITH(ts::read_events(dir.file("bad_data")), IOError, "bad_data", "record 1", "byte offset 40",
                       "bad data CRC");
  // A flipped bit in the second record's length.
  std::string bad_length = good;
  bad_length[kFramedVersion.size()] ^= 0x02;
  write_file(dir.file("bad_length"), bad_length);
  TF_CHECK_THROWS_WITH(ts::read_events(dir.file("bad_length")), IOError, "bad_length", "byte offset 40",
                       "bad length CRC");
  // A CRC-valid record that is not an Event.
  write_file(dir.file("not_event"), ts::frame_record("\xff\xff\xff\xff"));
  TF_CHECK_THROWS_WITH(ts::read_events(dir.file("not_event")), IOError, "not_event", "record 0", "not an Event");
  TF_CHECK_THROWS_WITH(ts::read_events(dir.file("missing")), IOError, "missing", "cannot open");
}

BOOST_AUTO_TEST_CASE(truncated_file_is_a_clear_io_error) {
  tft::TempDir dir("events_truncated");
  const std::string good = kFramedVersion + kFramedLoss;
  // Cut inside the second record's data, and inside its header.
  write_file(dir.file("cut_data"), good.substr(0, good.size() - 5));
  TF_CHECK_THROWS_WITH(ts::read_events(dir.file("cut_data")), IOError, "cut_data", "truncated", "record 1",
                       "byte offset 40", "26 bytes of data");
  write_file(dir.file("cut_header"), good.substr(0, kFramedVersion.size() + 7));
  TF_CHECK_THROWS_WITH(ts::read_events(dir.file("cut_header")), IOError, "cut_header", "truncated", "byte offset 40",
                       "7 of its 12 header bytes");
  write_file(dir.file("empty"), "");
  BOOST_CHECK(ts::read_events(dir.file("empty")).empty());
}

// std::ifstream opens a directory and then throws std::ios_base::failure, without the path, from
// its first read; a NUL byte in a path cuts it short.
BOOST_AUTO_TEST_CASE(directories_and_paths_with_nul_are_clear_io_errors) {
  tft::TempDir dir("events_dir");
  const std::string d = dir.path.string();
  TF_CHECK_THROWS_WITH(ts::read_events(d), IOError,
                       "read_records: cannot read '" + d + "': it is a directory, not an event or record file");
  TF_CHECK_THROWS_WITH(ts::read_records(d), IOError, "cannot read '" + d + "': it is a directory");
  const std::string nul = d + std::string("\0/events.out.tfevents.1", 23);
  TF_CHECK_THROWS_WITH(ts::read_events(nul), IOError,
                       "read_records: cannot open '" + d + "\\0/events.out.tfevents.1': the path holds a NUL byte (at "
                       "offset " + std::to_string(d.size()) + ")");
  TF_CHECK_THROWS_WITH(ts::read_records(nul), IOError, "the path holds a NUL byte");
}

BOOST_AUTO_TEST_CASE(graph_def_is_written_and_read_back) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3}, "x");
  Tensor w;
  {
    name_scope layer("layer");
    w = Variable(ones({3, 2}), "w");
  }
  Tensor y = matmul(x, w);
  Tensor init = global_variables_initializer();
  Tensor loss = reduce_mean(y);
  ts::scalar("loss", loss);
  Tensor step = train::get_or_create_global_step();
  Tensor train_op = train::MomentumOptimizer(0.1, 0.9).minimize(loss, step);

  tft::TempDir dir("events_graph");
  std::string path;
  {
    ts::FileWriter writer(dir.path.string(), g);
    path = writer.path();
  }
  auto events = ts::read_events(path);
  BOOST_REQUIRE_EQUAL(events.size(), 2u);
  BOOST_REQUIRE(events[1].graph_def.has_value());
  auto nodes = ts::parse_graph_def(*events[1].graph_def);
  BOOST_REQUIRE_EQUAL(nodes.size(), g.nodes().size());
  std::map<std::string, ts::NodeDef> by_name;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    BOOST_CHECK_EQUAL(nodes[i].name, g.nodes()[i]->name());  // build order
    BOOST_CHECK_EQUAL(nodes[i].op, g.nodes()[i]->type());
    by_name[nodes[i].name] = nodes[i];
  }

  const ts::NodeDef& px = by_name.at("x");
  BOOST_CHECK_EQUAL(px.op, "Placeholder");
  BOOST_CHECK(px.inputs.empty());
  BOOST_CHECK_EQUAL(px.attrs.at("dtype"), "float32");
  BOOST_CHECK_EQUAL(px.attrs.at("shape"), "[?,3]");
  BOOST_REQUIRE_EQUAL(px.output_shapes.size(), 1u);
  BOOST_CHECK_EQUAL(px.output_shapes[0].str(), "[?,3]");

  const ts::NodeDef& pw = by_name.at("layer/w");
  BOOST_CHECK_EQUAL(pw.op, "VariableV2");
  BOOST_CHECK_EQUAL(pw.attrs.at("dtype"), "float32");
  BOOST_CHECK_EQUAL(pw.attrs.at("shape"), "[3,2]");

  // The Assign node takes the variable as its first input.
  const ts::NodeDef& assign = by_name.at("layer/w/Assign");
  BOOST_CHECK_EQUAL(assign.op, "Assign");
  BOOST_CHECK_EQUAL(joined(assign.inputs), joined({"layer/w", "layer/w/initial_value"}));
  BOOST_CHECK_EQUAL(assign.attrs.at("T"), "float32");
  BOOST_CHECK_EQUAL(by_name.at("layer/w/initial_value").op, "Const");

  const ts::NodeDef& mm = by_name.at(graph::node_of("test", y).name());
  BOOST_CHECK_EQUAL(mm.op, "MatMul");
  BOOST_CHECK_EQUAL(joined(mm.inputs), joined({"x", "layer/w"}));
  BOOST_CHECK_EQUAL(mm.attrs.at("T"), "float32");
  BOOST_REQUIRE_EQUAL(mm.output_shapes.size(), 1u);
  BOOST_CHECK_EQUAL(mm.output_shapes[0].str(), "[?,2]");

  // Control inputs: "^name", after the data inputs.
  const ts::NodeDef& pinit = by_name.at("init");
  BOOST_CHECK_EQUAL(pinit.op, "NoOp");
  BOOST_CHECK_EQUAL(joined(pinit.inputs), joined({"^layer/w/Assign"}));
  BOOST_CHECK(pinit.output_shapes.empty());

  const ts::NodeDef& summary = by_name.at("loss");
  BOOST_CHECK_EQUAL(summary.op, "ScalarSummary");
  BOOST_CHECK_EQUAL(joined(summary.inputs), joined({graph::node_of("test", loss).name()}));
  BOOST_CHECK_EQUAL(summary.output_shapes[0].str(), "[?]");
  // The optimizer's update takes the variables it writes first: the variable, its slot, the step.
  const ts::NodeDef& apply = by_name.at(graph::node_of("test", train_op).name());
  BOOST_CHECK_EQUAL(apply.op, "ApplyMomentum");
  BOOST_CHECK_EQUAL(joined(std::vector<std::string>(apply.inputs.begin(), apply.inputs.begin() + 4)),
                    joined({"layer/w", "layer/w/Momentum", "global_step", "Momentum/learning_rate"}));
  BOOST_CHECK(!apply.attrs.contains("variables"));
  (void)init;
}

BOOST_AUTO_TEST_CASE(graph_def_names_output_indices_and_controls) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {4}, "x");
  Tensor a = x * 2.0;
  Tensor b;
  {
    control_dependencies deps({a});
    b = identity(x, "after_a");
  }
  tft::TempDir dir("events_graph2");
  ts::FileWriter writer(dir.path.string());
  writer.add_graph(g, 5);
  writer.close();
  auto events = ts::read_events(writer.path());
  BOOST_REQUIRE_EQUAL(events.size(), 2u);
  BOOST_CHECK_EQUAL(events[1].step, 5);
  auto nodes = ts::parse_graph_def(*events[1].graph_def);
  const std::string a_name = graph::node_of("test", a).name();
  bool found = false;
  for (const auto& n : nodes)
    if (n.name == "after_a") {
      found = true;
      BOOST_CHECK_EQUAL(n.op, "Identity");
      BOOST_CHECK_EQUAL(joined(n.inputs), joined({"x", "^" + a_name}));
    }
  BOOST_CHECK(found);
  TF_CHECK_THROWS_WITH(ts::parse_graph_def("\xff\xff\xff"), ValueError, "not a serialized GraphDef");
}

BOOST_AUTO_TEST_SUITE_END()
