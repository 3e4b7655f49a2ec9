// 2D slices of a 3D volume in the display orientation of SPEC section 3.
//
// For axis a and index k the slice is S = V[k,:,:], V[:,k,:] or V[:,:,k]; the
// saved image is S.T[::-1, ::-1]. With p < q the two remaining axes of V, the
// saved image's rows walk q backwards and its columns walk p backwards, so the
// view starts at the last element of both and uses negated strides.
#pragma once

#include <algorithm>
#include <stdexcept>

#include "strided.hpp"

namespace samed2d {

inline Strided2D display_slice(const char* base, const std::int64_t shape[3],
                               const std::ptrdiff_t strides[3], int axis, std::int64_t k) {
    if (axis < 0 || axis > 2) throw std::invalid_argument("axis must be 0, 1 or 2");
    if (k < 0 || k >= shape[axis]) throw std::out_of_range("slice index out of range");
    const int p = axis == 0 ? 1 : 0;
    const int q = axis == 2 ? 1 : 2;
    Strided2D s;
    s.rows = shape[q];
    s.cols = shape[p];
    s.row_stride = -strides[q];
    s.col_stride = -strides[p];
    s.data = base + k * strides[axis];
    if (s.rows > 0 && s.cols > 0) {
        s.data += (shape[q] - 1) * strides[q] + (shape[p] - 1) * strides[p];
    }
    return s;
}

// Copies slices [k0, k1) along `axis`, each in display orientation, into a
// dense (k1 - k0, rows, cols) buffer, reading the volume in memory order
// whatever its layout. Of the three loops (slice, row, column) the one with
// the smallest source stride reads contiguously and the column loop writes
// contiguously; when they differ (x slices of a Fortran-ordered volume) the
// two are tiled 16 x 16 so that both sides of the transpose stay in L1.
template <std::size_t ItemSize>
void copy_display_slices(const char* base, const std::int64_t shape[3], const std::ptrdiff_t strides[3],
                         int axis, std::int64_t k0, std::int64_t k1, char* out) {
    const Strided2D first = display_slice(base, shape, strides, axis, k0);
    struct Loop {
        std::int64_t count;
        std::ptrdiff_t src, dst;
    };
    const auto item = static_cast<std::ptrdiff_t>(ItemSize);
    Loop loops[3] = {{k1 - k0, strides[axis], first.rows * first.cols * item},
                     {first.rows, first.row_stride, first.cols * item},
                     {first.cols, first.col_stride, item}};
    auto magnitude = [](std::ptrdiff_t v) { return v < 0 ? -v : v; };
    int read = 0;  // the loop that reads contiguously
    for (int i = 1; i < 3; ++i) {
        if (magnitude(loops[i].src) < magnitude(loops[read].src)) read = i;
    }
    const int write = 2;  // columns write contiguously
    const int outer = 3 - read - write;  // used only when read != write
    if (read == write) {  // plain nest: the two other loops outside, by source stride
        const int a = magnitude(loops[0].src) >= magnitude(loops[1].src) ? 0 : 1, b = 1 - a;
        for (std::int64_t i = 0; i < loops[a].count; ++i) {
            for (std::int64_t j = 0; j < loops[b].count; ++j) {
                const char* s = first.data + i * loops[a].src + j * loops[b].src;
                char* d = out + i * loops[a].dst + j * loops[b].dst;
                for (std::int64_t k = 0; k < loops[2].count; ++k) {
                    std::memcpy(d + k * loops[2].dst, s + k * loops[2].src, ItemSize);
                }
            }
        }
        return;
    }
    // Transpose through a small buffer: read kRead contiguous items for each of kWrite
    // columns, then write kWrite contiguous columns for each of the kRead slices/rows.
    constexpr std::int64_t kRead = 16, kWrite = 64;
    alignas(64) char tile[kRead][kWrite * ItemSize];
    const Loop& lo = loops[outer];
    const Loop& lr = loops[read];
    const Loop& lw = loops[write];
    for (std::int64_t i = 0; i < lo.count; ++i) {
        const char* s0 = first.data + i * lo.src;
        char* d0 = out + i * lo.dst;
        for (std::int64_t r0 = 0; r0 < lr.count; r0 += kRead) {
            const std::int64_t nr = std::min(kRead, lr.count - r0);
            for (std::int64_t w0 = 0; w0 < lw.count; w0 += kWrite) {
                const std::int64_t nw = std::min(kWrite, lw.count - w0);
                for (std::int64_t w = 0; w < nw; ++w) {
                    const char* s = s0 + (w0 + w) * lw.src + r0 * lr.src;
                    for (std::int64_t r = 0; r < nr; ++r) {
                        std::memcpy(&tile[r][w * item], s + r * lr.src, ItemSize);
                    }
                }
                for (std::int64_t r = 0; r < nr; ++r) {
                    std::memcpy(d0 + (r0 + r) * lr.dst + w0 * item, tile[r], static_cast<std::size_t>(nw * item));
                }
            }
        }
    }
}

}  // namespace samed2d
