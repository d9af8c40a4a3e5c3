// tapeflow::distributed: start-up, the failure path, and the collectives on tensors (broadcast,
// allreduce with tensor fusion) over comm.h's MPI calls.
#include "tapeflow/distributed.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>

#include <fmt/format.h>

#include "autograd/door.h"
#include "distributed/comm.h"
#include "distributed/internal.h"

namespace tapeflow::distributed {

// ---------------------------------------------------------------------------- start-up and failure

namespace {

// An exception escaping main or a thread ends up here: name the rank and the error, then end the
// whole job, so the other ranks do not wait forever in their next collective.
[[noreturn]] void on_terminate() {
  std::string what = "std::terminate was called without an active exception";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = x.what();
    } catch (...) {
      what = "an exception that is not a std::exception";
    }
  }
  std::fprintf(stderr, "rank %d: %s\n", comm::rank(), what.c_str());
  comm::abort_job(1);
}

#if defined(__GLIBC__)
void on_exit_status(int status, void*) {
  if (status != 0 && comm::size() > 1) {
    std::fprintf(stderr, "rank %d: exited with status %d; ending the job\n", comm::rank(), status);
    comm::abort_job(status);
  }
  comm::finalize();
}
#endif

void start(int* argc, char*** argv) {
  if (comm::is_initialized()) return;
  if (!mpi_built() && comm::launcher_size() > 1)
    throw ValueError(fmt::format("distributed::init: this process is one of {} started by mpirun, but tapeflow was "
                                 "built without MPI (TAPEFLOW_WITH_MPI=OFF): each process would train alone; "
                                 "install libopenmpi-dev and rebuild, or run a single process",
                                 comm::launcher_size()));
  const bool started_mpi = comm::initialize(argc, argv);
  std::set_terminate(on_terminate);
  if (!started_mpi) return;
#if defined(__GLIBC__)
  // on_exit sees the exit status: a rank leaving with a failure (main caught an exception and
  // returned 1) must not wait in MPI_Finalize for ranks that wait for it in a collective.
  ::on_exit(on_exit_status, nullptr);
#else
  std::atexit([] { comm::finalize(); });
#endif
}

}  // namespace

void init(int& argc, char**& argv) { start(&argc, &argv); }
void init() { start(nullptr, nullptr); }
bool initialized() { return comm::is_initialized(); }

int rank() { return comm::rank(); }
int size() { return comm::size(); }
bool is_root() { return comm::rank() == 0; }
int local_rank() { return comm::local_rank(); }
int local_size() { return comm::local_size(); }

void abort(const std::string& message, int errorcode) {
  std::fprintf(stderr, "rank %d: %s\n", comm::rank(), message.c_str());
  comm::abort_job(errorcode);
}

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::average: return "average";
    case ReduceOp::sum: return "sum";
    case ReduceOp::min: return "min";
    case ReduceOp::max: return "max";
  }
  return "?";
}

// ---------------------------------------------------------------------------- shared checks

namespace internal {

void require_init(const char* who) {
  if (comm::is_initialized()) return;
  const int n = comm::launcher_size();
  if (n > 1)
    throw ValueError(fmt::format("{}: this process is one of {} started by mpirun, but distributed::init() was not "
                                 "called: call distributed::init(argc, argv) at the start of main",
                                 who, n));
}

std::vector<Entry> entries_of(const std::vector<Tensor>& tensors) {
  std::vector<Entry> entries;
  entries.reserve(tensors.size());
  for (const Tensor& t : tensors) entries.push_back({"", t.dtype(), t.shape()});
  return entries;
}

namespace {

// Entries as bytes, to compare and send: per entry the name's length and bytes, the dtype, the
// rank and the dimensions, as int64.
std::string serialize(const std::vector<Entry>& entries) {
  std::string out;
  auto put = [&](std::int64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(static_cast<std::int64_t>(entries.size()));
  for (const Entry& e : entries) {
    put(static_cast<std::int64_t>(e.name.size()));
    out += e.name;
    put(static_cast<std::int64_t>(e.dtype));
    put(e.shape.rank());
    for (std::int64_t d : e.shape) put(d);
  }
  return out;
}

std::vector<Entry> deserialize(const std::string& bytes) {
  std::size_t at = 0;
  auto get = [&]() {
    std::int64_t v = 0;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    at += sizeof v;
    return v;
  };
  std::vector<Entry> entries(static_cast<std::size_t>(get()));
  for (Entry& e : entries) {
    const auto n = static_cast<std::size_t>(get());
    e.name = bytes.substr(at, n);
    at += n;
    e.dtype = static_cast<DType>(get());
    std::vector<std::int64_t> dims(static_cast<std::size_t>(get()));
    for (auto& d : dims) d = get();
    e.shape = Shape(dims);
  }
  return entries;
}

// `mine` on rank `from`, received by every rank.
std::string bytes_from(int from, const std::string& mine) {
  std::int64_t length = comm::rank() == from ? static_cast<std::int64_t>(mine.size()) : 0;
  comm::broadcast(&length, sizeof length, from);
  std::string bytes = comm::rank() == from ? mine : std::string(static_cast<std::size_t>(length), '\0');
  comm::broadcast(bytes.data(), bytes.size(), from);
  return bytes;
}

std::string label(const Entry& e, std::size_t index) {
  return e.name.empty() ? fmt::format("tensor {}", index) : fmt::format("tensor {} '{}'", index, e.name);
}

}  // namespace

void check_same_across_ranks(const std::string& who, const std::vector<Entry>& entries, int root,
                             bool is_broadcast) {
  if (comm::size() == 1) return;
  const std::string mine = serialize(entries);
  const std::string reference = bytes_from(root, mine);
  std::int32_t first_bad = reference == mine ? comm::size() : comm::rank();
  comm::allreduce(&first_bad, 1, int32, ReduceOp::min);
  if (first_bad == comm::size()) return;

  // Every rank builds the same message from the root's entries and the first differing rank's.
  const std::vector<Entry> a = deserialize(reference), b = deserialize(bytes_from(first_bad, mine));
  const std::string ra = fmt::format("rank {}{}", root, is_broadcast ? " (the root)" : "");
  const std::string rb = fmt::format("rank {}", first_bad);
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i].name != b[i].name)
      throw ValueError(fmt::format("{}: tensor {} is '{}' on {} but '{}' on {}; every rank must pass the same "
                                   "tensors in the same order",
                                   who, i, a[i].name, ra, b[i].name, rb));
    if (a[i].dtype != b[i].dtype)
      throw DTypeError(fmt::format("{}: {} is {} on {} but {} on {}; every rank must pass tensors of the same "
                                   "dtypes",
                                   who, label(a[i], i), dtype_name(a[i].dtype), ra, dtype_name(b[i].dtype), rb));
    if (a[i].shape != b[i].shape)
      throw ShapeError(fmt::format("{}: {} has shape {} on {} but {} on {}; every rank must pass tensors of the "
                                   "same shapes",
                                   who, label(a[i], i), a[i].shape.str(), ra, b[i].shape.str(), rb));
  }
  throw ValueError(fmt::format("{}: {} passes {} tensors but {} passes {}; every rank must pass the same tensors", who,
                               ra, a.size(), rb, b.size()));
}

void check_reduce_dtype(const char* who, const Tensor& tensor, ReduceOp op) {
  const DType dt = tensor.dtype();
  if (op == ReduceOp::average && !is_floating(dt))
    throw DTypeError(fmt::format("{}: cannot average a {} tensor {}; use ReduceOp::sum, or cast it to float32",
                                 who, dtype_name(dt), tensor.shape().str()));
  if (op == ReduceOp::sum && dt == bool_)
    throw DTypeError(fmt::format("{}: cannot sum a bool tensor {}; use ReduceOp::max (any) or ReduceOp::min (all), "
                                 "or cast it to int32",
                                 who, tensor.shape().str()));
}

std::vector<Tensor> fused_allreduce(const std::vector<Tensor>& tensors, ReduceOp op, std::size_t fusion_threshold,
                                    std::int64_t* calls, bool in_place) {
  const std::int64_t calls_before = allreduce_calls();
  std::vector<Tensor> out(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (in_place) {
      out[i] = tensors[i];
      out[i].bump_version();
      continue;
    }
    out[i] = Tensor::empty(tensors[i].shape(), tensors[i].dtype());
    if (tensors[i].nbytes() > 0) std::memcpy(out[i].raw_data(), tensors[i].raw_data(), tensors[i].nbytes());
  }
  if (comm::size() == 1) return out;

  const ReduceOp wire = op == ReduceOp::average ? ReduceOp::sum : op;
  // dst[k] = src[k] (/ size() for an average), the copy and the division in one pass.
  auto finish = [&](void* dst, const void* src, std::int64_t count, DType dtype) {
    if (op != ReduceOp::average) {
      if (dst != src) std::memcpy(dst, src, static_cast<std::size_t>(count) * dtype_size(dtype));
      return;
    }
    auto divide = [&]<class T>(T* d, const T* from) {
      const T n = static_cast<T>(comm::size());
      for (std::int64_t k = 0; k < count; ++k) d[k] = from[k] / n;
    };
    if (dtype == float32) divide(static_cast<float*>(dst), static_cast<const float*>(src));
    else divide(static_cast<double*>(dst), static_cast<const double*>(src));
  };
  // The fusion buffer lives as long as the process, as Horovod's: no allocation per step.
  static std::vector<std::byte> buffer;
  auto reduce_alone = [&](std::size_t i) {  // in the output tensor itself
    Tensor& t = out[i];
    comm::allreduce(t.raw_data(), t.numel(), t.dtype(), wire);
    finish(t.raw_data(), t.raw_data(), t.numel(), t.dtype());
  };
  auto reduce = [&](DType dtype, const std::vector<std::size_t>& group) {
    if (group.size() == 1) return reduce_alone(group[0]);
    std::size_t bytes = 0;
    for (std::size_t i : group) bytes += out[i].nbytes();
    if (buffer.size() < bytes) buffer.resize(bytes);
    std::size_t at = 0;
    for (std::size_t i : group) {
      std::memcpy(buffer.data() + at, out[i].raw_data(), out[i].nbytes());
      at += out[i].nbytes();
    }
    comm::allreduce(buffer.data(), static_cast<std::int64_t>(bytes / dtype_size(dtype)), dtype, wire);
    at = 0;
    for (std::size_t i : group) {
      finish(out[i].raw_data(), buffer.data() + at, out[i].numel(), dtype);
      at += out[i].nbytes();
    }
  };

  // Per dtype, in order of first appearance: consecutive tensors fill a buffer up to the
  // threshold; a tensor larger than the threshold, or of kAloneBytes or more, is reduced alone in
  // its own memory (packing it would only add two copies of it: fusion pays for many small
  // tensors, not for a few large ones).
  std::vector<bool> done(tensors.size(), false);
  for (std::size_t first = 0; first < tensors.size(); ++first) {
    if (done[first]) continue;
    const DType dtype = tensors[first].dtype();
    std::vector<std::size_t> group;
    std::size_t group_bytes = 0;
    for (std::size_t i = first; i < tensors.size(); ++i) {
      if (tensors[i].dtype() != dtype) continue;
      done[i] = true;
      const std::size_t bytes = tensors[i].nbytes();
      if (bytes >= kAloneBytes && fusion_threshold > 0) {
        reduce_alone(i);
        continue;
      }
      if (!group.empty() && group_bytes + bytes > fusion_threshold) {
        reduce(dtype, group);
        group.clear();
        group_bytes = 0;
      }
      group.push_back(i);
      group_bytes += bytes;
    }
    if (!group.empty()) reduce(dtype, group);
  }
  if (calls) *calls += allreduce_calls() - calls_before;
  return out;
}

}  // namespace internal

// ---------------------------------------------------------------------------- collectives

namespace {

void check_root(const char* who, int root) {
  if (root < 0 || root >= comm::size())
    throw ValueError(fmt::format("{}: root {} is out of range: the job has {} process{} (ranks 0 to {})", who, root,
                                 comm::size(), comm::size() == 1 ? "" : "es", comm::size() - 1));
}

void check_concrete(const char* who, const Tensor& t, std::size_t index, const std::string& name = "") {
  const std::string what = name.empty() ? fmt::format("tensor {}", index) : fmt::format("tensor {} '{}'", index, name);
  if (!t.defined()) throw ValueError(fmt::format("{}: {} is undefined", who, what));
  if (t.is_symbolic())
    throw ValueError(fmt::format("{}: {} is the graph tensor '{}'; broadcast a graph's variables with "
                                 "distributed::broadcast_global_variables (tapeflow/graph/distributed.h)",
                                 who, what, t.impl()->name));
}

void broadcast_checked(const char* who, const std::vector<Tensor>& tensors, const std::vector<std::string>& names,
                       int root) {
  check_root(who, root);
  for (std::size_t i = 0; i < tensors.size(); ++i) check_concrete(who, tensors[i], i, names[i]);
  internal::require_init(who);
  if (comm::size() == 1) return;
  std::vector<internal::Entry> entries = internal::entries_of(tensors);
  for (std::size_t i = 0; i < entries.size(); ++i) entries[i].name = names[i];
  internal::check_same_across_ranks(who, entries, root, /*is_broadcast=*/true);
  for (const Tensor& t : tensors) {
    t.bump_version();
    comm::broadcast(t.raw_data(), t.nbytes(), root);
  }
}

}  // namespace

void barrier() {
  internal::require_init("distributed::barrier");
  comm::barrier();
}

void broadcast(const std::vector<Tensor>& tensors, int root) {
  broadcast_checked("distributed::broadcast", tensors, std::vector<std::string>(tensors.size()), root);
}

void broadcast(const std::vector<std::pair<std::string, Tensor>>& tensors, int root) {
  std::vector<Tensor> values;
  std::vector<std::string> names;
  for (const auto& [name, t] : tensors) {
    names.push_back(name);
    values.push_back(t);
  }
  broadcast_checked("distributed::broadcast", values, names, root);
}

Tensor allreduce(const Tensor& tensor, ReduceOp op) {
  static constexpr const char* who = "distributed::allreduce";
  return autograd::apply({"HorovodAllreduce", who, autograd::DTypes::Any, "a", "tensor"}, {tensor},
                         {{"reduce_op", reduce_op_name(op)}},
                         [op](autograd::Args in) {
                           internal::check_reduce_dtype(who, in[0], op);
                           return OutputSpec{in[0].shape(), in[0].dtype()};
                         },
                         [op](autograd::Args in, const OutputSpec&) {
                           internal::require_init(who);
                           internal::check_same_across_ranks(who, internal::entries_of({in[0]}));
                           return internal::fused_allreduce({in[0]}, op, 0)[0];
                         });
}

std::vector<Tensor> grouped_allreduce(const std::vector<Tensor>& tensors, ReduceOp op, std::size_t fusion_threshold) {
  static constexpr const char* who = "distributed::grouped_allreduce";
  // The shapes of a graph node's inputs are the same at every run: they are compared across
  // ranks at the node's first run only, so that a training step costs just the fused allreduces.
  auto checked = std::make_shared<bool>(false);
  return autograd::apply({"HorovodGroupedAllreduce", who, autograd::DTypes::Any, "a", "tensors"}, tensors,
                         {{"reduce_op", reduce_op_name(op)}, {"fusion_threshold", fusion_threshold}},
                         [op](autograd::Args in) {
                           std::vector<OutputSpec> outputs;
                           for (const Tensor& t : in) {
                             internal::check_reduce_dtype(who, t, op);
                             outputs.push_back({t.shape(), t.dtype()});
                           }
                           return outputs;
                         },
                         [op, fusion_threshold, checked](autograd::Args in, const std::vector<OutputSpec>&) {
                           std::vector<Tensor> values(in.begin(), in.end());
                           internal::require_init(who);
                           if (!*checked) internal::check_same_across_ranks(who, internal::entries_of(values));
                           *checked = true;
                           return internal::fused_allreduce(values, op, fusion_threshold);
                         });
}

}  // namespace tapeflow::distributed
