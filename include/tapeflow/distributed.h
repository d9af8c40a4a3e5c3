#pragma once
/// Data-parallel training across processes and machines, on MPI (Horovod's API, PyTorch's
/// DistributedDataParallel semantics). The same program runs as N processes (`mpirun -np N`);
/// each trains on its shard of the data, and gradients are averaged with an allreduce before
/// every update, so N processes with batch B train like one process with batch N*B.
///
///   int main(int argc, char** argv) {
///     tapeflow::distributed::init(argc, argv);
///     auto data = tapeflow::data::mnist::read_data_sets();
///     auto train = data.train.shard(distributed::size(), distributed::rank());
///     LeNet net;
///     distributed::broadcast(net.parameters());                  // everyone starts from rank 0's
///     distributed::DistributedOptimizer opt(std::make_unique<optim::Adam>(net.parameters()));
///     for (int step = 0; step < steps; ++step) {
///       auto [x, y] = train.next_batch(50);
///       opt.zero_grad();
///       reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, net(x))).backward();
///       opt.step();                                              // allreduce, then Adam
///     }
///     if (distributed::is_root()) io::save("model.safetensors", net.state_dict());
///   }
///
/// Without MPI (a build with TAPEFLOW_WITH_MPI=OFF), before init(), or when started without
/// mpirun, the program is one process: rank() 0, size() 1, collectives copy their input.
///
/// Failure: a failing rank ends the whole job, with its message and a non-zero exit, instead of
/// leaving the other ranks waiting forever in their next collective. init() arranges it, there is
/// nothing to remember: an exception that escapes main (or any thread) reaches init()'s
/// std::terminate handler, which prints "rank R: <what()>" on stderr and calls MPI_Abort (exit
/// code 1); a main that catches it, prints it and returns non-zero (or any exit(status != 0))
/// ends the job too at exit: "rank R: exited with status S", then MPI_Abort(S) (glibc's on_exit;
/// elsewhere only the first two ways work). distributed::abort(message) does the same from
/// anywhere.
///
/// Collectives (broadcast, allreduce, barrier, DistributedOptimizer::step, and the graph ops)
/// must be called by every rank, in the same order, with tensors of the same shapes and dtypes;
/// a mismatch that can be detected (different counts, shapes or dtypes) throws the same error on
/// every rank. Call them from one thread at a time.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tapeflow/optim/optimizer.h"
#include "tapeflow/tensor.h"

namespace tapeflow::distributed {

/// True when tapeflow was built with MPI (TAPEFLOW_WITH_MPI), as hvd.mpi_built().
bool mpi_built();

/// Starts MPI (MPI_Init_thread, MPI_THREAD_SERIALIZED) with the program's arguments, or from the
/// environment mpirun sets (the overload without arguments), installs the failure handlers (see
/// above) and finalizes MPI at a successful exit. Idempotent: later calls do nothing. When MPI was already initialized by
/// the program, it is used as it is (and not finalized by tapeflow). Without MPI, only the
/// terminate handler is installed.
void init(int& argc, char**& argv);
void init();
/// True after init().
bool initialized();

/// This process's rank in [0, size()): 0 before init().
int rank();
/// The number of processes of the job: 1 before init().
int size();
/// rank() == 0. io::save, summary::Writer/FileWriter and train::Saver write in every process that
/// calls them; a program picks the one that writes with this: `if (distributed::is_root()) ...`.
bool is_root();
/// The rank among the processes on this machine, and their number (to share its cores: e.g.
/// set_num_threads(cores / local_size())). 0 and 1 before init().
int local_rank();
int local_size();

/// Ends the whole job now: prints "rank R: <message>" on stderr and calls MPI_Abort(errorcode)
/// (in a single process without MPI, _Exit(errorcode)). Destructors do not run.
[[noreturn]] void abort(const std::string& message, int errorcode = 1);

/// Blocks until every rank has called it.
void barrier();

/// Overwrites each tensor in place with root's values (MPI_Bcast), e.g. the parameters before
/// training: `distributed::broadcast(net.parameters())`. Every rank passes the same number of
/// tensors with the same shapes and dtypes (ShapeError / DTypeError naming the tensor and the
/// ranks otherwise, on every rank); ValueError for a root outside [0, size()), an undefined or
/// graph tensor (graph mode: broadcast_global_variables in tapeflow/graph/distributed.h).
void broadcast(const std::vector<Tensor>& tensors, int root = 0);
/// The same for named tensors (`net.state_dict()`: parameters and buffers); the names must match
/// across ranks too.
void broadcast(const std::vector<std::pair<std::string, Tensor>>& tensors, int root = 0);

enum class ReduceOp { average, sum, min, max };
/// "average", "sum", ...
const char* reduce_op_name(ReduceOp op);

/// The element-wise reduction over ranks of `tensor` (same shape and dtype on every rank), as a
/// new tensor: [shape] -> [shape]. E.g. test accuracy over all shards:
/// `allreduce(scalar(correct), ReduceOp::sum).item()`. sum/min/max for every numeric dtype (min
/// and max for bool too); average for float32/float64 only (DTypeError otherwise). The result is
/// not recorded on the tape. Graph tensors: a "HorovodAllreduce" node with `tensor`'s static
/// shape, run at Session::run.
Tensor allreduce(const Tensor& tensor, ReduceOp op = ReduceOp::average);

/// Horovod's tensor fusion threshold: tensors are packed into buffers of at most this many bytes
/// so that a group costs a few MPI_Allreduce calls (0: one call per tensor). A tensor larger than
/// the threshold, or of 1 MiB or more, gets a call of its own, on its own memory: packing a large
/// tensor would only copy it twice more.
inline constexpr std::size_t kDefaultFusionThreshold = std::size_t{64} << 20;

/// allreduce of several tensors at once (Horovod's grouped_allreduce), fused: the float32 and
/// float64 tensors (sum or average) are packed, in order and per dtype, into buffers of at most
/// `fusion_threshold` bytes, one MPI_Allreduce each. Graph tensors: one "HorovodGroupedAllreduce"
/// node with one output per input.
std::vector<Tensor> grouped_allreduce(const std::vector<Tensor>& tensors, ReduceOp op = ReduceOp::average,
                                      std::size_t fusion_threshold = kDefaultFusionThreshold);

/// MPI_Allreduce calls tapeflow has made in this process (all functions above together): a
/// statistic for tests and benchmarks.
std::int64_t allreduce_calls();

struct DistributedOptions {
  /// See kDefaultFusionThreshold.
  std::size_t fusion_threshold = kDefaultFusionThreshold;
  /// How the gradients of the ranks are combined: average (the default, Horovod's and DDP's) or
  /// sum.
  ReduceOp op = ReduceOp::average;
};

/// Wraps an eager optimizer (any optim::Optimizer) so that step() first averages every gradient
/// over the ranks, then lets the inner optimizer update: hvd.DistributedOptimizer of PyTorch.
///
///   distributed::DistributedOptimizer opt(std::make_unique<optim::Adam>(net.parameters()));
///   opt.zero_grad(); loss.backward(); opt.step();
///
/// A step costs one small MPI_Allreduce saying which parameters have a gradient on some rank,
/// plus one per fused buffer and one per gradient of 1 MiB or more (see kDefaultFusionThreshold):
/// four for LeNet (its two large weight matrices, then everything else in one buffer). The
/// averages overwrite the gradients in place, as DistributedDataParallel's.
///
/// Parameters without a gradient: a parameter that has no gradient on some ranks but has one on
/// others gets zeros from the ranks without one (the average is the sum over the ranks having
/// one divided by size(), as DistributedDataParallel), and every rank updates it; a parameter
/// with no gradient on any rank keeps no gradient and is skipped by the inner step on every
/// rank. So the parameters stay equal on all ranks.
///
/// The first step checks that every rank wraps the same parameters (count, shapes, dtypes;
/// ShapeError / DTypeError otherwise). In a single process the gradients are left as they are.
///
/// It is an optim::Optimizer, so it goes wherever one is expected (a training loop taking an
/// `optim::Optimizer&`): everything but step() is the inner optimizer's (zero_grad, lr, set_lr,
/// the parameter groups and their learning rates, parameters, state<S>(), state_dict,
/// load_state_dict), so a state dict saved through the
/// wrapper loads into the bare inner optimizer and back. name() is "DistributedOptimizer(Adam)".
class DistributedOptimizer : public optim::Optimizer {
 public:
  /// Wraps `inner`, which must outlive this object.
  explicit DistributedOptimizer(optim::Optimizer& inner, DistributedOptions options = {});
  /// Wraps and owns `inner` (ValueError when null).
  explicit DistributedOptimizer(std::unique_ptr<optim::Optimizer> inner, DistributedOptions options = {});
  ~DistributedOptimizer() override;

  /// The inner optimizer's zero_grad().
  void zero_grad() override;
  /// Averages the gradients over the ranks, in place of each parameter's gradient (Horovod's
  /// synchronize(): call it before clipping gradients, then step()).
  void synchronize();
  /// synchronize() (unless it was called since the last step), then the inner step().
  void step() override;

  /// The inner optimizer's.
  double lr() const override;
  void set_lr(double lr) override;
  const std::vector<Group>& param_groups() const override;
  double group_lr(std::size_t group) const override;
  void set_group_lr(std::size_t group, double lr) override;
  optim::NamedTensors state_dict() const override;
  void load_state_dict(const optim::NamedTensors& state) override;

  optim::Optimizer& inner() { return *inner_; }
  const DistributedOptions& options() const { return options_; }

  /// MPI_Allreduce calls this optimizer has made (the test hook for tensor fusion).
  std::int64_t allreduce_calls() const { return allreduce_calls_; }

 protected:
  /// The inner optimizer's state.
  const optim::OptimizerState* state_at(std::size_t index) const override;
  /// Not used: step() hands every update to the inner optimizer (throws if called).
  void update(std::size_t index, Tensor& param, const Tensor& grad) override;

 private:
  std::unique_ptr<optim::Optimizer> owned_;
  optim::Optimizer* inner_;
  DistributedOptions options_;
  bool checked_ = false;       // the parameters were compared across ranks
  bool synchronized_ = false;  // synchronize() ran since the last step()
  std::int64_t allreduce_calls_ = 0;
};

}  // namespace tapeflow::distributed
