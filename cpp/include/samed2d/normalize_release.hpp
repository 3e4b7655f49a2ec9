// The release preset's per-slice normalisation (SPEC section 7), on one 2D
// slice of stored values of any dtype, never a float64 copy of the volume:
//
//   y   = x * slope + inter            (double; the scaled values get_fdata gives)
//   out = trunc((y - lo) / (hi - lo + 1e-8) * 255)   for finite y, else 0
//
// lo and hi are the extremes of the slice's finite y. Each operation is one
// IEEE double operation in the order written (the build forbids contracting a
// multiply and an add into an FMA), so the bytes equal numpy's formula. A
// finite range whose width overflows a double is an error (std::overflow_error).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "normalize.hpp"
#include "normalize_release_simd.hpp"
#include "strided.hpp"

namespace samed2d {

// simd picks the vector path for contiguous rows (normalize_release_simd.hpp); every
// path gives the same bytes.
template <class T, bool Swap>
void normalize_release(const Strided2D& in, double slope, double inter, std::uint8_t* out,
                       Simd simd = best_simd()) {
    auto value = [&](std::int64_t r, std::int64_t c) {
        const double x = detail::load_double<T, Swap>(in.at(r, c), 0);
        const double scaled = x * slope;
        return scaled + inter;
    };
    // Rows the vector paths read: native order, one element after another.
    constexpr bool vector_type = detail::has_vector_path<T> && !Swap;
    const bool rows_in_a_run = vector_type && in.col_stride == static_cast<std::ptrdiff_t>(sizeof(T));
    auto row_of = [&](std::int64_t r) { return reinterpret_cast<const T*>(in.at(r, 0)); };
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    for (std::int64_t r = 0; r < in.rows; ++r) {
        std::int64_t c = 0;
        if constexpr (vector_type) {
            if (rows_in_a_run) {
                c = static_cast<std::int64_t>(
                    detail::release_minmax_vector(row_of(r), static_cast<std::size_t>(in.cols), simd, slope, inter, lo, hi));
            }
        }
        for (; c < in.cols; ++c) {
            const double y = value(r, c);
            if (std::isfinite(y)) {
                lo = y < lo ? y : lo;
                hi = y > hi ? y : hi;
            }
        }
    }
    const std::int64_t n = in.rows * in.cols;
    if (!(hi >= lo)) {  // no finite value
        for (std::int64_t i = 0; i < n; ++i) out[i] = 0;
        return;
    }
    const double width = hi - lo;
    if (!std::isfinite(width)) {
        throw std::overflow_error("value range too large: max - min overflows a double");
    }
    const double denominator = width + 1e-8;
    for (std::int64_t r = 0; r < in.rows; ++r) {
        std::uint8_t* row = out + r * in.cols;
        std::int64_t c = 0;
        if constexpr (vector_type) {
            if (rows_in_a_run) {
                c = static_cast<std::int64_t>(detail::release_map_vector(
                    row_of(r), static_cast<std::size_t>(in.cols), simd, slope, inter, lo, denominator, row));
            }
        }
        for (; c < in.cols; ++c) {
            const double y = value(r, c);
            const double t = (y - lo) / denominator;
            const double s = t * 255.0;
            // s is in [0, 255] for finite y: truncation is the uint8 cast numpy does.
            row[c] = std::isfinite(y) ? static_cast<std::uint8_t>(s) : std::uint8_t{0};
        }
    }
}

}  // namespace samed2d
