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

/// Elements of T in a 64-byte cache line: the threads' column blocks of C start on one, so that
/// no two threads write one line.
template <class T>
constexpr std::int64_t kLine = 64 / static_cast<std::int64_t>(sizeof(T));

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
  const std::int64_t unit = by_rows ? 1 : kLine<T>;
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

template <class T>
using Traits = Eigen::internal::gebp_traits<T, T>;

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
  // One share per thread, of whole cache lines, as gemm's column blocks.
  const std::int64_t lines = (n + kLine<T> - 1) / kLine<T>;
  const std::int64_t threads = std::max<std::int64_t>(1, std::min<std::int64_t>(max_threads(), lines));
  const std::int64_t chunk = (lines + threads - 1) / threads * kLine<T>;
  for (std::int64_t t = 0; t < threads; ++t) {
    Share s;
    s.c0 = std::min(n, t * chunk);
    s.c1 = std::min(n, (t + 1) * chunk);
    if (s.c1 <= s.c0) continue;
    Index kc = k, mc = s.c1 - s.c0, nc = m;
    Eigen::internal::computeProductBlockingSizes<T, T, 1>(kc, mc, nc, Index{1});
    s.kc = std::max<Index>(kc, 1);
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

template class PackedRhs<float>;
template class PackedRhs<double>;

template void gemm<float>(const float*, const float*, float*, std::int64_t, std::int64_t, std::int64_t, bool, bool,
                          bool);
template void gemm<double>(const double*, const double*, double*, std::int64_t, std::int64_t, std::int64_t, bool,
                           bool, bool);

}  // namespace tapeflow::detail
