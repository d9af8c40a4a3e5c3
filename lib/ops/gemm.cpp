// detail::gemm: Eigen's GEMM kernel (its packing and its block-panel kernel), called with packing
// buffers that each thread keeps, and threaded by splitting C between the threads.
//
// Why not `C.noalias() = A * B`: for each product Eigen allocates its packing buffers (hundreds
// of KB) and frees them after, and when malloc hands that memory back to the system each product
// page-faults it in again (a 100x784 by 784x128 product ran at 74 GFLOP/s instead of 136 on one
// thread). And Eigen's threaded GEMM shares one packed panel of B between the threads, which
// then wait on each other at every panel: on the small products of training steps (a batch of
// 100 rows) two threads ran barely faster than one (165 against 136 GFLOP/s on that product),
// where two independent halves of C, each on its own thread, run at 229.
#include <algorithm>
#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "ops/kernels.h"

namespace tapeflow::detail {
namespace {

using Index = Eigen::Index;

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

/// Eigen's cache blocking for one product, pointing at this thread's buffers.
template <class T>
class Blocking : public Eigen::internal::level3_blocking<T, T> {
 public:
  /// For Eigen's column-major problem of `rows` x `cols` with inner dimension `depth`.
  Blocking(Index rows, Index cols, Index depth) {
    Index kc = depth, mc = rows, nc = cols;
    Eigen::internal::computeProductBlockingSizes<T, T, 1>(kc, mc, nc, Index{1});
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

/// C[m,n] (row-major, leading dimension ldc) = or += op(A)[m,k]·op(B)[k,n], on this thread.
template <class T>
void gemm_serial(Operand<T> a, Operand<T> b, T* c, Index ldc, Index m, Index k, Index n, bool accumulate) {
  if (m == 0 || n == 0) return;
  if (!accumulate) {
    Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>(c, m, n, Eigen::OuterStride<>(ldc)).setZero();
  }
  if (k == 0) return;
  // Eigen computes a row-major product as the column-major product of the transposes: a problem
  // of n rows and m columns.
  Blocking<T> blocking(n, m, k);
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

/// Multiply-adds below which a product runs on one thread: splitting costs an OpenMP team
/// (about a microsecond) and a second packing of one operand.
constexpr std::int64_t kParallelGemmWork = 1 << 17;

}  // namespace

template <class T>
void gemm(const T* a, const T* b, T* c, std::int64_t m, std::int64_t k, std::int64_t n, bool ta, bool tb,
          bool accumulate) {
  const Operand<T> A{a, ta ? m : k, ta}, B{b, tb ? k : n, tb};
  if (max_threads() == 1 || m * n * k < kParallelGemmWork || in_parallel_region()) {
    apply_float_mode();
    gemm_serial(A, B, c, n, m, k, n, accumulate);
    return;
  }
  // Each thread computes its own block of C, rows when C is at least as tall as it is wide
  // (every thread then packs all of B), else columns (every thread packs all of A): the operand
  // packed twice is the smaller one.
  const bool by_rows = n <= m;
  // Column blocks start on a 64-byte boundary, so that no two threads write one cache line.
  const std::int64_t unit = by_rows ? 1 : std::max<std::int64_t>(1, 64 / static_cast<std::int64_t>(sizeof(T)));
  const std::int64_t units = by_rows ? m : (n + unit - 1) / unit;
  for_each_thread_share(units, [&](std::int64_t, std::int64_t, std::int64_t begin, std::int64_t end) {
    if (by_rows) {
      if (end == begin) return;
      // Rows [begin, end) of op(A): rows of A, or columns of a transposed A.
      const Operand<T> rows{ta ? a + begin : a + begin * k, A.ld, ta};
      gemm_serial(rows, B, c + begin * n, n, end - begin, k, n, accumulate);
    } else {
      const std::int64_t c0 = std::min(n, begin * unit), c1 = std::min(n, end * unit);
      if (c1 == c0) return;
      // Columns [c0, c1) of op(B): columns of B, or rows of a transposed B.
      const Operand<T> cols{tb ? b + c0 * k : b + c0, B.ld, tb};
      gemm_serial(A, cols, c + c0, n, m, k, c1 - c0, accumulate);
    }
  });
}

template void gemm<float>(const float*, const float*, float*, std::int64_t, std::int64_t, std::int64_t, bool, bool,
                          bool);
template void gemm<double>(const double*, const double*, double*, std::int64_t, std::int64_t, std::int64_t, bool,
                           bool, bool);

}  // namespace tapeflow::detail
