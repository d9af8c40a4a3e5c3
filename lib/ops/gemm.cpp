// detail::gemm: threaded by splitting C between the threads; each thread's share computed by
// oneDNN's sgemm (float, where tapeflow is built with oneDNN) or by Eigen's GEMM kernel (its
// packing and its block-panel kernel, called with packing buffers that each thread keeps).
//
// Why oneDNN for float: its JIT kernels (chosen at run time for the CPU: AVX2, AVX-512, AMX...)
// ran the products of the samples' training steps 1.15 to 1.8 times as fast as Eigen's on one
// thread (AMD EPYC with AVX-512: LeNet's conv2 backward product 19600x50x180 at 95 against 46
// GFLOP/s, 1024^3 at 109 against 83), and its result does not depend on how C is cut between
// threads (bitwise, as this file needs). Eigen's kernel stays for double, which oneDNN has not,
// and as the fallback (TAPEFLOW_GEMM=eigen, or a build without oneDNN).
//
// Why not `C.noalias() = A * B`: for each product Eigen allocates its packing buffers (hundreds
// of KB) and frees them after, and when malloc hands that memory back to the system each product
// page-faults it in again (a 100x784 by 784x128 product ran at 74 GFLOP/s instead of 136 on one
// thread). And Eigen's threaded GEMM shares one packed panel of B between the threads, which
// then wait on each other at every panel: on the small products of training steps (a batch of
// 100 rows) two threads ran barely faster than one (165 against 136 GFLOP/s on that product),
// where two independent halves of C, each on its own thread, run at 229.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>
#include <fmt/format.h>
#ifdef TAPEFLOW_WITH_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#include "ops/kernels.h"
#include "tapeflow/error.h"

namespace tapeflow::detail {
namespace {

using Index = Eigen::Index;

template <class T>
using Traits = Eigen::internal::gebp_traits<T, T>;

/// The packing buffers of one thread, grown to the largest blocks it has needed and kept.
template <class T>
struct PackingBuffers {
  std::vector<T, Eigen::aligned_allocator<T>> a, b;
};

template <class T>
PackingBuffers<T>& thread_buffers() {
  thread_local PackingBuffers<T> buffers;
  return buffers;
}

/// The depth of Eigen's blocks for a whole product of `rows` x `cols` with inner dimension
/// `depth` (Eigen's column-major view). Each element of C is summed block by block, so this, and
/// only this, fixes the order of its sum: taken from the whole product, never from one thread's
/// share of it, it makes every result independent of the number of threads.
template <class T>
Index depth_block(Index rows, Index cols, Index depth) {
  Index kc = depth, mc = rows, nc = cols;
  Eigen::internal::computeProductBlockingSizes<T, T, 1>(kc, mc, nc, Index{1});
  return std::max<Index>(kc, 1);
}

/// Eigen's cache blocking for one product, pointing at this thread's buffers.
template <class T>
class Blocking : public Eigen::internal::level3_blocking<T, T> {
 public:
  /// For Eigen's column-major problem of `rows` x `cols` with inner dimension `depth`, in depth
  /// blocks of `kc` (depth_block of the whole product).
  Blocking(Index rows, Index cols, Index depth, Index kc) {
    Index ignored = depth, mc = rows, nc = cols;
    Eigen::internal::computeProductBlockingSizes<T, T, 1>(ignored, mc, nc, Index{1});
    this->m_kc = kc;
    this->m_mc = mc;
    this->m_nc = nc;
    PackingBuffers<T>& buffers = thread_buffers<T>();
    if (static_cast<Index>(buffers.a.size()) < kc * mc) buffers.a.resize(static_cast<std::size_t>(kc * mc));
    if (static_cast<Index>(buffers.b.size()) < kc * nc) buffers.b.resize(static_cast<std::size_t>(kc * nc));
    this->m_blockA = buffers.a.data();
    this->m_blockB = buffers.b.data();
  }
};

/// One operand: row-major storage with leading dimension `ld`, read transposed when `t`.
template <class T>
struct Operand {
  const T* data;
  Index ld;
  bool t;
};

GemmKernel initial_gemm_kernel() {
  const char* env = std::getenv("TAPEFLOW_GEMM");
  const std::string v = env ? env : "";
  if (v == "eigen") return GemmKernel::eigen;
#ifdef TAPEFLOW_WITH_DNNL
  if (v.empty() || v == "onednn") return GemmKernel::onednn;
#endif
  if (v == "onednn")
    fmt::print(stderr, "tapeflow: TAPEFLOW_GEMM=onednn, but this tapeflow was built without oneDNN "
                       "(TAPEFLOW_WITH_DNNL=OFF): Eigen's kernel runs\n");
  else if (!v.empty())
    fmt::print(stderr, "tapeflow: ignoring TAPEFLOW_GEMM='{}': it must be onednn or eigen\n", v);
  return GemmKernel::eigen;
}

std::atomic<GemmKernel>& kernel_in_use() {
  static std::atomic<GemmKernel> k{initial_gemm_kernel()};
  return k;
}

#ifdef TAPEFLOW_WITH_DNNL
/// oneDNN's sgemm on the calling thread.
void onednn_sgemm(Operand<float> a, Operand<float> b, float* c, Index ldc, Index m, Index k, Index n,
                  bool accumulate) {
  dnnl_status_t status;
  {
    const OnThisThreadOnly serial;
    // Row-major: op(A) [m, k] with leading dimension a.ld, op(B) [k, n], C [m, n].
    status = dnnl_sgemm(a.t ? 'T' : 'N', b.t ? 'T' : 'N', m, n, k, 1.0f, a.data, a.ld, b.data, b.ld,
                        accumulate ? 1.0f : 0.0f, c, ldc);
  }
  if (status != dnnl_success)
    throw Error(fmt::format("matmul: oneDNN's sgemm failed (status {}) on a {}x{} by {}x{} product{}{}; "
                            "TAPEFLOW_GEMM=eigen runs Eigen's kernel instead",
                            static_cast<int>(status), m, k, k, n, a.t ? ", A transposed" : "",
                            b.t ? ", B transposed" : ""));
}
#endif

/// Multiply-adds below which a float product runs in Eigen's kernel even with oneDNN: a oneDNN
/// call costs about half a microsecond before it computes (an 8x8x8 product: 0.5 us against
/// Eigen's 0.16), which a product of this size amortizes (100x32x10: oneDNN slightly ahead).
constexpr std::int64_t kOneDnnWork = 1 << 14;

/// How every share of one product is computed, fixed from the whole product and never from a
/// share, so that the result does not depend on how C is cut: which kernel, and Eigen's depth
/// blocks kc (each element of C is summed block by block; oneDNN blocks its own way, whatever
/// the share, which its results were checked for).
struct Plan {
  Index kc;
  bool onednn;
};

template <class T>
Plan plan_product(Index m, Index k, Index n) {
#ifdef TAPEFLOW_WITH_DNNL
  if constexpr (std::is_same_v<T, float>)
    if (m * n * k >= kOneDnnWork && kernel_in_use().load(std::memory_order_relaxed) == GemmKernel::onednn)
      return {0, true};  // Eigen's blocks unused
#endif
  return {depth_block<T>(n, m, k), false};
}

/// C[m,n] (row-major, leading dimension ldc) = or += op(A)[m,k]·op(B)[k,n], on this thread, as
/// the product's plan says.
template <class T>
void gemm_serial(Operand<T> a, Operand<T> b, T* c, Index ldc, Index m, Index k, Index n, bool accumulate,
                 const Plan& plan) {
  if (m == 0 || n == 0) return;
#ifdef TAPEFLOW_WITH_DNNL
  if constexpr (std::is_same_v<T, float>) {
    if (plan.onednn) {
      onednn_sgemm(a, b, c, ldc, m, k, n, accumulate);
      return;
    }
  }
#endif
  const Index kc = plan.kc;
  if (!accumulate) {
    Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>(c, m, n, Eigen::OuterStride<>(ldc)).setZero();
  }
  if (k == 0) return;
  // Eigen computes a row-major product as the column-major product of the transposes: a problem
  // of n rows and m columns.
  Blocking<T> blocking(n, m, k, kc);
  auto run = [&]<int LhsOrder, int RhsOrder>() {
    Eigen::internal::general_matrix_matrix_product<Index, T, LhsOrder, false, T, RhsOrder, false, Eigen::RowMajor, 1>::run(
        m, n, k, a.data, a.ld, b.data, b.ld, c, 1, ldc, T(1), blocking, nullptr);
  };
  // A transposed operand stored row-major is the operand itself stored column-major.
  if (!a.t && !b.t) run.template operator()<Eigen::RowMajor, Eigen::RowMajor>();
  else if (a.t && !b.t) run.template operator()<Eigen::ColMajor, Eigen::RowMajor>();
  else if (!a.t && b.t) run.template operator()<Eigen::RowMajor, Eigen::ColMajor>();
  else run.template operator()<Eigen::ColMajor, Eigen::ColMajor>();
}

/// Elements of T in a 64-byte cache line: the threads' column blocks of C start on one, so that
/// no two threads write one line.
template <class T>
constexpr std::int64_t kLine = 64 / static_cast<std::int64_t>(sizeof(T));

/// The threads' shares of C start where the serial product's micro-panels start, so that every
/// element is computed by the same kernel path whatever the number of threads (Eigen's kernel
/// sums a panel's remainder rows differently): columns of C (Eigen's rows) in multiples of its
/// panel height mr and of a cache line, rows of C (Eigen's columns) in multiples of its panel
/// width nr.
template <class T>
constexpr std::int64_t kColumnUnit = std::lcm(kLine<T>, static_cast<std::int64_t>(Traits<T>::mr));
template <class T>
constexpr std::int64_t kRowUnit = Traits<T>::nr;

/// Where share t of nt ends, over `extent` rows or columns cut in multiples of `unit`: the unit
/// boundary nearest to t equal parts (the last unit may be partial, so equal numbers of units
/// would not be equal work).
std::int64_t share_boundary(std::int64_t extent, std::int64_t unit, std::int64_t t, std::int64_t nt) {
  if (t >= nt) return extent;
  const double even = static_cast<double>(extent) * static_cast<double>(t) / static_cast<double>(nt);
  return std::min(extent, static_cast<std::int64_t>(std::llround(even / static_cast<double>(unit))) * unit);
}

/// The largest of nt shares over the mean share (1: perfectly balanced).
double share_imbalance(std::int64_t extent, std::int64_t unit, std::int64_t nt) {
  std::int64_t largest = 0;
  for (std::int64_t t = 0; t < nt; ++t)
    largest = std::max(largest, share_boundary(extent, unit, t + 1, nt) - share_boundary(extent, unit, t, nt));
  return static_cast<double>(largest) * static_cast<double>(nt) / static_cast<double>(extent);
}

/// Multiply-adds below which a product runs on one thread: splitting costs an OpenMP team
/// (about a microsecond) and a second packing of one operand.
constexpr std::int64_t kParallelGemmWork = 1 << 17;

/// The epilogue on the block [rows, cols] of C at c (leading dimension ldc).
template <class T>
void finish(T* c, Index ldc, Index rows, Index cols, Epilogue epilogue) {
  if (epilogue == Epilogue::relu && rows > 0 && cols > 0) {
    Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>> block(c, rows, cols, Eigen::OuterStride<>(ldc));
    block = block.cwiseMax(T(0));
  }
}

}  // namespace

template <class T>
void gemm(const T* a, const T* b, T* c, std::int64_t m, std::int64_t k, std::int64_t n, bool ta, bool tb,
          bool accumulate, Epilogue epilogue) {
  const Operand<T> A{a, ta ? m : k, ta}, B{b, tb ? k : n, tb};
  const Plan plan = plan_product<T>(m, k, n);
  const std::int64_t threads = m * n * k < kParallelGemmWork || in_parallel_region() ? 1 : threads_in_use();
  if (threads == 1) {
    apply_float_mode();
    gemm_serial(A, B, c, n, m, k, n, accumulate, plan);
    finish(c, n, m, n, epilogue);
    return;
  }
  // Each thread computes its own block of C, rows when C is at least as tall as it is wide
  // (every thread then packs all of B), else columns (every thread packs all of A): the operand
  // packed twice is the smaller one; unless the shares of that way would be uneven (a few wide
  // column units) and the other way's are more even.
  const double row_imbalance = share_imbalance(m, kRowUnit<T>, threads),
               column_imbalance = share_imbalance(n, kColumnUnit<T>, threads);
  bool by_rows = n <= m;
  if (by_rows && row_imbalance > 1.1 && column_imbalance < row_imbalance) by_rows = false;
  else if (!by_rows && column_imbalance > 1.1 && row_imbalance < column_imbalance) by_rows = true;
  const std::int64_t unit = by_rows ? kRowUnit<T> : kColumnUnit<T>, extent = by_rows ? m : n;
  for_each_thread_share(extent, [&](std::int64_t t, std::int64_t nt, std::int64_t, std::int64_t) {
    const std::int64_t begin = share_boundary(extent, unit, t, nt), end = share_boundary(extent, unit, t + 1, nt);
    if (by_rows) {
      const std::int64_t r0 = begin, r1 = end;
      if (r1 == r0) return;
      // Rows [r0, r1) of op(A): rows of A, or columns of a transposed A.
      const Operand<T> rows{ta ? a + r0 : a + r0 * k, A.ld, ta};
      gemm_serial(rows, B, c + r0 * n, n, r1 - r0, k, n, accumulate, plan);
      finish(c + r0 * n, n, r1 - r0, n, epilogue);
    } else {
      const std::int64_t c0 = begin, c1 = end;
      if (c1 == c0) return;
      // Columns [c0, c1) of op(B): columns of B, or rows of a transposed B.
      const Operand<T> cols{tb ? b + c0 * k : b + c0, B.ld, tb};
      gemm_serial(A, cols, c + c0, n, m, k, c1 - c0, accumulate, plan);
      finish(c + c0, n, m, c1 - c0, epilogue);
    }
  });
}

// ------------------------------------------------------------------------------- PackedRhs
// The same col-major view as gemm_serial: C^T [n, m] = op(B)^T [n, k] · A^T [k, m], where op(B)^T
// is Eigen's left operand (packed here once, block by block) and A^T its right one (packed at
// each multiply: m x k, small).

/// One thread's columns [c0, c1) of op(B), packed as Eigen's blocks: for each depth block k2 (kc
/// deep) and row block i2 (mc rows of op(B)^T), actual_kc x actual_mc values at offset[block].
template <class T>
struct PackedRhs<T>::Share {
  Index c0 = 0, c1 = 0, kc = 0, mc = 0;
  std::vector<T, Eigen::aligned_allocator<T>> packed;
  std::vector<std::size_t> offset;
};

namespace {

/// Eigen's packing of the left operand for storage order `Order` of op(B)^T.
template <class T, int Order>
void pack_left(T* block, const T* b, Index ld, Index i, Index k, Index kc, Index mc) {
  using Mapper = Eigen::internal::const_blas_data_mapper<T, Index, Order>;
  Eigen::internal::gemm_pack_lhs<T, Index, Mapper, Traits<T>::mr, Traits<T>::LhsProgress,
                                 typename Traits<T>::LhsPacket4Packing, Order>
      pack;
  pack(block, Mapper(b, ld).getSubMapper(i, k), kc, mc);
}

}  // namespace

template <class T>
PackedRhs<T>::PackedRhs(const T* b, std::int64_t k, std::int64_t n, bool tb, std::int64_t m)
    : k_(k), n_(n), m_(m) {
  // One share per thread, in gemm's column units (whole cache lines and Eigen's panels).
  const std::int64_t lines = (n + kColumnUnit<T> - 1) / kColumnUnit<T>;
  const std::int64_t threads = std::max<std::int64_t>(1, std::min<std::int64_t>(max_threads(), lines));
  const std::int64_t chunk = (lines + threads - 1) / threads * kColumnUnit<T>;
  const Index kc = depth_block<T>(n, m, k);  // the whole product's, as gemm's
  for (std::int64_t t = 0; t < threads; ++t) {
    Share s;
    s.c0 = std::min(n, t * chunk);
    s.c1 = std::min(n, (t + 1) * chunk);
    if (s.c1 <= s.c0) continue;
    Index ignored = k, mc = s.c1 - s.c0, nc = m;
    Eigen::internal::computeProductBlockingSizes<T, T, 1>(ignored, mc, nc, Index{1});
    s.kc = kc;
    s.mc = std::max<Index>(mc, 1);
    std::size_t size = 0;
    for (Index k2 = 0; k2 < k; k2 += s.kc)
      for (Index i2 = s.c0; i2 < s.c1; i2 += s.mc) {
        s.offset.push_back(size);
        size += static_cast<std::size_t>(std::min(s.kc, k - k2) * std::min(s.mc, s.c1 - i2));
      }
    s.packed.resize(size);
    std::size_t block = 0;
    for (Index k2 = 0; k2 < k; k2 += s.kc)
      for (Index i2 = s.c0; i2 < s.c1; i2 += s.mc, ++block) {
        T* at = s.packed.data() + s.offset[block];
        const Index akc = std::min(s.kc, k - k2), amc = std::min(s.mc, s.c1 - i2);
        // op(B)^T [n, k]: B [k, n] row-major is it column-major (ld n); B stored [n, k] read
        // transposed is it row-major (ld k).
        if (tb) pack_left<T, Eigen::RowMajor>(at, b, k, i2, k2, akc, amc);
        else pack_left<T, Eigen::ColMajor>(at, b, n, i2, k2, akc, amc);
      }
    shares_.push_back(std::move(s));
  }
}

template <class T>
PackedRhs<T>::~PackedRhs() = default;

template <class T>
void PackedRhs<T>::multiply(const T* a, T* c, bool accumulate) const {
  using RhsMapper = Eigen::internal::const_blas_data_mapper<T, Index, Eigen::ColMajor>;
  using ResMapper = Eigen::internal::blas_data_mapper<T, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  auto run = [&](const Share& s) {
    if (!accumulate)
      Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>(c + s.c0, m_, s.c1 - s.c0, Eigen::OuterStride<>(n_)).setZero();
    if (m_ == 0 || k_ == 0) return;
    Eigen::internal::gemm_pack_rhs<T, Index, RhsMapper, Traits<T>::nr, Eigen::ColMajor> pack_rhs;
    Eigen::internal::gebp_kernel<T, T, Index, ResMapper, Traits<T>::mr, Traits<T>::nr, false, false> gebp;
    PackingBuffers<T>& buffers = thread_buffers<T>();
    if (static_cast<Index>(buffers.b.size()) < s.kc * m_) buffers.b.resize(static_cast<std::size_t>(s.kc * m_));
    const RhsMapper rhs(a, k_);  // A^T [k, m]: A [m, k] row-major is it column-major (ld k)
    const ResMapper res(c, n_);  // C^T [n, m], likewise
    std::size_t block = 0;
    for (Index k2 = 0; k2 < k_; k2 += s.kc) {
      const Index akc = std::min(s.kc, k_ - k2);
      pack_rhs(buffers.b.data(), rhs.getSubMapper(k2, 0), akc, m_);
      for (Index i2 = s.c0; i2 < s.c1; i2 += s.mc, ++block)
        gebp(res.getSubMapper(i2, 0), s.packed.data() + s.offset[block], buffers.b.data(),
             std::min(s.mc, s.c1 - i2), akc, m_, T(1));
    }
  };
  if (shares_.size() <= 1 || in_parallel_region()) {
    apply_float_mode();
    for (const Share& s : shares_) run(s);
    return;
  }
  for_each_thread_share(static_cast<std::int64_t>(shares_.size()),
                        [&](std::int64_t, std::int64_t, std::int64_t begin, std::int64_t end) {
                          for (std::int64_t i = begin; i < end; ++i) run(shares_[static_cast<std::size_t>(i)]);
                        });
}

GemmKernel gemm_kernel() { return kernel_in_use().load(); }

void set_gemm_kernel(GemmKernel kernel) {
#ifndef TAPEFLOW_WITH_DNNL
  if (kernel == GemmKernel::onednn)
    throw ValueError("set_gemm_kernel: this tapeflow was built without oneDNN (TAPEFLOW_WITH_DNNL=OFF)");
#endif
  kernel_in_use() = kernel;
}

const char* gemm_kernel_name() { return gemm_kernel() == GemmKernel::onednn ? "onednn" : "eigen"; }

template class PackedRhs<float>;
template class PackedRhs<double>;

template void gemm<float>(const float*, const float*, float*, std::int64_t, std::int64_t, std::int64_t, bool, bool,
                          bool, Epilogue);
template void gemm<double>(const double*, const double*, double*, std::int64_t, std::int64_t, std::int64_t, bool,
                           bool, bool, Epilogue);

}  // namespace tapeflow::detail
