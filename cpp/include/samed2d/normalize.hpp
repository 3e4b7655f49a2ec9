// Self-Min-Max normalisation to 8 bits (SPEC section 2).
//
//   out = ceil(255 * (x - lo) / (hi - lo)), clipped to [0, 255]
//
// lo and hi are the extremes of the finite values of the whole buffer. Two
// passes over the input, none over a temporary: one for lo/hi, one that maps.
//
// * Integers use the exact rational ceiling (255*u + d - 1) / d with u = x - lo
//   and d = hi - lo, computed in unsigned arithmetic wide enough for the type
//   (128 bits for 64-bit inputs). 8- and 16-bit inputs map through a table of
//   d + 1 entries, so the second pass is one lookup per pixel.
// * Floats (half, single, double) are widened to double and mapped in the
//   SPEC's order: t = (x - lo) / (hi - lo); ceil(t * 255.0). NaN and +-Inf give 0.
// * hi == lo, or no finite value: every output is 0. A finite range whose
//   width overflows a double is an error (std::overflow_error).
//
// Inputs may be in either byte order (Swap); the buffer is read as a flat run
// of n elements, so any C- or Fortran-contiguous array works in place.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "strided.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
void normalize_integer(const char* in, std::size_t n, std::uint8_t* out) {
    static_assert(std::is_integral_v<T>);
    using U = std::make_unsigned_t<T>;
    const T* p = reinterpret_cast<const T*>(in);
    T lo = load<T, Swap>(p);
    T hi = lo;
    for (std::size_t i = 1; i < n; ++i) {
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

    if constexpr (sizeof(T) <= 2) {
        std::vector<std::uint8_t> table(d + 1);
        for (std::uint64_t u = 0; u <= d; ++u) {
            table[u] = static_cast<std::uint8_t>((255 * u + d - 1) / d);
        }
        for (std::size_t i = 0; i < n; ++i) {
            const U u = static_cast<U>(static_cast<U>(load<T, Swap>(p + i)) - static_cast<U>(lo));
            out[i] = table[u];
        }
    } else if constexpr (sizeof(T) == 4) {
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint64_t u = static_cast<U>(static_cast<U>(load<T, Swap>(p + i)) - static_cast<U>(lo));
            out[i] = static_cast<std::uint8_t>((255 * u + d - 1) / d);
        }
    } else {
        using W = unsigned __int128;
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint64_t u = static_cast<U>(static_cast<U>(load<T, Swap>(p + i)) - static_cast<U>(lo));
            out[i] = static_cast<std::uint8_t>((W{255} * u + d - 1) / d);
        }
    }
}

template <class T, bool Swap>
inline double load_double(const char* base, std::size_t i) {
    if constexpr (std::is_same_v<T, Half>) {
        return half_to_double(load<std::uint16_t, Swap>(base + 2 * i));
    } else {
        return static_cast<double>(load<T, Swap>(base + sizeof(T) * i));
    }
}

#if defined(__SSE2__)
// float32 in native order, four at a time (GCC does not vectorise the mixed
// float -> double -> int -> byte chain by itself). Same arithmetic as the
// scalar loops below: min/max of the finite values, then in double
// ceil((x - lo) / d * 255) as truncation plus one when below.
inline void minmax_float_sse2(const float* p, std::size_t n, std::size_t& done, double& lo, double& hi) {
    const __m128 inf = _mm_set1_ps(std::numeric_limits<float>::infinity());
    const __m128 ninf = _mm_set1_ps(-std::numeric_limits<float>::infinity());
    const __m128i exponent = _mm_set1_epi32(0x7f800000);
    __m128 vlo = inf, vhi = ninf;
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m128 x = _mm_loadu_ps(p + i);
        const __m128 bad = _mm_castsi128_ps(
            _mm_cmpeq_epi32(_mm_and_si128(_mm_castps_si128(x), exponent), exponent));  // NaN or +-Inf
        vlo = _mm_min_ps(vlo, _mm_or_ps(_mm_andnot_ps(bad, x), _mm_and_ps(bad, inf)));
        vhi = _mm_max_ps(vhi, _mm_or_ps(_mm_andnot_ps(bad, x), _mm_and_ps(bad, ninf)));
    }
    float l[4], h[4];
    _mm_storeu_ps(l, vlo);
    _mm_storeu_ps(h, vhi);
    for (int k = 0; k < 4; ++k) {
        lo = l[k] < lo ? l[k] : lo;
        hi = h[k] > hi ? h[k] : hi;
    }
    done = i;
}

inline __m128i map_two(__m128d x, __m128d lo, __m128d d) {
    const __m128d finite = _mm_cmpeq_pd(_mm_sub_pd(x, x), _mm_setzero_pd());
    const __m128d y = _mm_and_pd(_mm_mul_pd(_mm_div_pd(_mm_sub_pd(x, lo), d), _mm_set1_pd(255.0)), finite);
    const __m128i t = _mm_cvttpd_epi32(y);
    const __m128i below = _mm_shuffle_epi32(_mm_castpd_si128(_mm_cmplt_pd(_mm_cvtepi32_pd(t), y)), 0x08);
    return _mm_sub_epi32(t, below);  // a true mask is -1: adds one
}

inline std::size_t map_float_sse2(const float* p, std::size_t n, std::uint8_t* out, double lo, double d) {
    const __m128d vlo = _mm_set1_pd(lo), vd = _mm_set1_pd(d);
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m128 x = _mm_loadu_ps(p + i);
        const __m128i c = _mm_unpacklo_epi64(map_two(_mm_cvtps_pd(x), vlo, vd),
                                             map_two(_mm_cvtps_pd(_mm_movehl_ps(x, x)), vlo, vd));
        const __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(c, c), c);
        const int four = _mm_cvtsi128_si32(bytes);
        std::memcpy(out + i, &four, 4);
    }
    return i;
}
#endif

template <class T, bool Swap>
void normalize_float(const char* in, std::size_t n, std::uint8_t* out) {
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    std::size_t start = 0;
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float> && !Swap) {
        minmax_float_sse2(reinterpret_cast<const float*>(in), n, start, lo, hi);
    }
#endif
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
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float> && !Swap) {
        start = map_float_sse2(reinterpret_cast<const float*>(in), n, out, lo, d);
    }
#endif
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
template <class T, bool Swap>
void normalize(const char* in, std::size_t n, std::uint8_t* out) {
    if (n == 0) return;
    if constexpr (std::is_integral_v<T>) {
        detail::normalize_integer<T, Swap>(in, n, out);
    } else {
        detail::normalize_float<T, Swap>(in, n, out);
    }
}

}  // namespace samed2d
