// 2D slices of a 3D volume in the display orientation of SPEC section 3.
//
// For axis a and index k the slice is S = V[k,:,:], V[:,k,:] or V[:,:,k]; the
// saved image is S.T[::-1, ::-1]. With p < q the two remaining axes of V, the
// saved image's rows walk q backwards and its columns walk p backwards, so the
// view starts at the last element of both and uses negated strides.
#pragma once

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

// Copies a strided window of items of `itemsize` bytes into a dense row-major buffer.
inline void copy_window(const Strided2D& s, std::size_t itemsize, char* out) {
    for (std::int64_t r = 0; r < s.rows; ++r) {
        const char* row = s.data + r * s.row_stride;
        for (std::int64_t c = 0; c < s.cols; ++c, out += itemsize) {
            std::memcpy(out, row + c * s.col_stride, itemsize);
        }
    }
}

}  // namespace samed2d
