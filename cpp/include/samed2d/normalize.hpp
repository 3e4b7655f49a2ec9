// Self-Min-Max normalisation to 8 bits (SPEC section 2).
//
//   out = ceil(255 * (x - lo) / (hi - lo)), clipped to [0, 255]
//
// lo and hi are the extremes of the finite values of the whole buffer. Two
// passes over the input, none over a temporary: one for lo/hi, one that maps.
//
// * Integers use the exact rational ceiling (255*u + d - 1) / d with u = x - lo
//   and d = hi - lo, computed in unsigned arithmetic wide enough for the type
//   (128 bits for 64-bit inputs). On the portable path 8- and 16-bit inputs map
//   through a table of d + 1 entries, one lookup per pixel.
// * Floats (half, single, double) are widened to double and mapped in the
//   SPEC's order: t = (x - lo) / (hi - lo); ceil(t * 255.0). NaN and +-Inf give 0.
// * hi == lo, or no finite value: every output is 0. A finite range whose
//   width overflows a double is an error (std::overflow_error).
//
// Inputs may be in either byte order (Swap); the buffer is read as a flat run
// of n elements, so any C- or Fortran-contiguous array works in place.
// int16, uint16, int32, uint32 and float32 in native order also have vector
// paths (normalize_simd.hpp) that give the same bytes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "normalize_simd.hpp"
#include "strided.hpp"


namespace samed2d {

// IEEE 754 binary16, stored as its bits: C++17 has no half type.
struct Half {
    std::uint16_t bits;
};

inline double half_to_double(std::uint16_t h) {
    const int sign = h >> 15;
    const int exp = (h >> 10) & 0x1f;
    const int frac = h & 0x3ff;
    double v;
    if (exp == 0) {
        v = std::ldexp(static_cast<double>(frac), -24);
    } else if (exp == 31) {
        v = frac ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
    } else {
        v = std::ldexp(static_cast<double>(frac | 0x400), exp - 25);
    }
    return sign ? -v : v;
}

namespace detail {

template <class T, bool Swap>
void normalize_integer(const char* in, std::size_t n, std::uint8_t* out, Simd simd) {
    static_assert(std::is_integral_v<T>);
    using U = std::make_unsigned_t<T>;
    constexpr bool vector = has_vector_path<T> && !Swap;
    const T* p = reinterpret_cast<const T*>(in);
    T lo = load<T, Swap>(p);
    T hi = lo;
    std::size_t start = 0;
    if constexpr (vector) start = minmax_vector(p, n, simd, lo, hi);
    for (std::size_t i = start; i < n; ++i) {
        const T v = load<T, Swap>(p + i);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (lo == hi) {
        std::fill(out, out + n, std::uint8_t{0});
        return;
    }
    // Two's complement difference: exact for every pair of T values.
    const std::uint64_t d = static_cast<U>(static_cast<U>(hi) - static_cast<U>(lo));
    auto offset = [&](std::size_t i) -> std::uint64_t {
        return static_cast<U>(static_cast<U>(load<T, Swap>(p + i)) - static_cast<U>(lo));
    };
    auto mapped = [d](std::uint64_t u) {  // ceil(255 u / d), exact: 128-bit products for 64-bit types
        using W = std::conditional_t<(sizeof(T) <= 4), std::uint64_t, unsigned __int128>;
        return static_cast<std::uint8_t>((W{255} * u + d - 1) / d);
    };

    start = 0;
    if constexpr (vector) start = map_vector(p, n, simd, lo, d, out);
    if constexpr (sizeof(T) <= 2) {
        if (start == 0) {  // the portable path: one lookup per pixel
            std::vector<std::uint8_t> table(d + 1);
            for (std::uint64_t u = 0; u <= d; ++u) table[u] = mapped(u);
            for (std::size_t i = 0; i < n; ++i) out[i] = table[offset(i)];
            return;
        }
    }
    for (std::size_t i = start; i < n; ++i) out[i] = mapped(offset(i));
}

template <class T, bool Swap>
inline double load_double(const char* base, std::size_t i) {
    if constexpr (std::is_same_v<T, Half>) {
        return half_to_double(load<std::uint16_t, Swap>(base + 2 * i));
    } else {
        return static_cast<double>(load<T, Swap>(base + sizeof(T) * i));
    }
}

template <class T, bool Swap>
void normalize_float(const char* in, std::size_t n, std::uint8_t* out, Simd simd) {
    constexpr bool vector = has_vector_path<T> && !Swap;
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    std::size_t start = 0;
    if constexpr (vector) start = minmax_vector(reinterpret_cast<const float*>(in), n, simd, lo, hi);
    for (std::size_t i = start; i < n; ++i) {
        const double x = load_double<T, Swap>(in, i);
        if (std::isfinite(x)) {
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
    }
    const double d = hi - lo;
    if (!(hi > lo)) {  // constant, or no finite value at all
        std::fill(out, out + n, std::uint8_t{0});
        return;
    }
    if (!std::isfinite(d)) {
        throw std::overflow_error("value range too large: max - min overflows a double");
    }
    start = 0;
    if constexpr (vector) start = map_vector(reinterpret_cast<const float*>(in), n, simd, lo, d, out);
    for (std::size_t i = start; i < n; ++i) {
        const double x = load_double<T, Swap>(in, i);
        // Branch-free so that the loop vectorises with plain SSE2: non-finite values
        // (x - x is NaN for them) take y = 0; ceil of y in [0, 255] is its truncation,
        // plus one when that is below y (std::ceil would be a libm call per pixel).
        const bool finite = (x - x) == 0.0;
        const double y = finite ? (x - lo) / d * 255.0 : 0.0;
        const int truncated = static_cast<int>(y);
        const int c = truncated + (static_cast<double>(truncated) < y);
        out[i] = static_cast<std::uint8_t>(c < 0 ? 0 : (c > 255 ? 255 : c));
    }
}

}  // namespace detail

// Normalises n elements of T (byte-swapped when Swap) at `in` into `out`.
// simd picks the vector path (normalize_simd.hpp); every path gives the same bytes.
template <class T, bool Swap>
void normalize(const char* in, std::size_t n, std::uint8_t* out, Simd simd = best_simd()) {
    if (n == 0) return;
    if constexpr (std::is_integral_v<T>) {
        detail::normalize_integer<T, Swap>(in, n, out, simd);
    } else {
        detail::normalize_float<T, Swap>(in, n, out, simd);
    }
}

}  // namespace samed2d
