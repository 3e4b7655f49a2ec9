// Vector paths of the release preset's per-slice formula (normalize_release.hpp) for a
// contiguous row of int16, uint16, int32, uint32 or float32 in native byte order: the
// same IEEE double operations in the same order, four lanes at a time (AVX2) or two
// (SSE2), so every path gives the scalar loop's bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "normalize_simd.hpp"

namespace samed2d {
namespace detail {

#if defined(SAMED2D_X86)

// ---- SSE2: 2 lanes ----------------------------------------------------------------

template <class T>
inline __m128d load2_pd(const T* p) {
    if constexpr (sizeof(T) == 2) {
        std::int32_t two;
        std::memcpy(&two, p, 4);
        const __m128i x = _mm_cvtsi32_si128(two);
        const __m128i wide = std::is_signed_v<T> ? _mm_srai_epi32(_mm_unpacklo_epi16(x, x), 16)
                                                 : _mm_unpacklo_epi16(x, _mm_setzero_si128());
        return _mm_cvtepi32_pd(wide);
    } else {
        const __m128i x = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
        if constexpr (std::is_same_v<T, float>) return _mm_cvtps_pd(_mm_castsi128_ps(x));
        else if constexpr (std::is_same_v<T, std::int32_t>) return _mm_cvtepi32_pd(x);
        else return u32_to_pd(x);
    }
}

template <class T>
std::size_t release_minmax_sse2(const T* p, std::size_t n, double slope, double inter, double& lo, double& hi) {
    const __m128d vs = _mm_set1_pd(slope), vi = _mm_set1_pd(inter);
    const __m128d inf = _mm_set1_pd(std::numeric_limits<double>::infinity());
    const __m128d ninf = _mm_set1_pd(-std::numeric_limits<double>::infinity());
    __m128d vlo = inf, vhi = ninf;
    std::size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const __m128d y = _mm_add_pd(_mm_mul_pd(load2_pd(p + i), vs), vi);
        const __m128d ok = finite2(y);
        vlo = _mm_min_pd(vlo, _mm_or_pd(_mm_and_pd(ok, y), _mm_andnot_pd(ok, inf)));
        vhi = _mm_max_pd(vhi, _mm_or_pd(_mm_and_pd(ok, y), _mm_andnot_pd(ok, ninf)));
    }
    double l[2], h[2];
    _mm_storeu_pd(l, vlo);
    _mm_storeu_pd(h, vhi);
    fold_extremes(l, h, 2, lo, hi);
    return i;
}

template <class T>
std::size_t release_map_sse2(const T* p, std::size_t n, double slope, double inter, double lo, double denominator,
                             std::uint8_t* out) {
    const __m128d vs = _mm_set1_pd(slope), vi = _mm_set1_pd(inter), vlo = _mm_set1_pd(lo);
    const __m128d vden = _mm_set1_pd(denominator), k255 = _mm_set1_pd(255.0);
    std::size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const __m128d y = _mm_add_pd(_mm_mul_pd(load2_pd(p + i), vs), vi);
        const __m128d s = _mm_and_pd(_mm_mul_pd(_mm_div_pd(_mm_sub_pd(y, vlo), vden), k255), finite2(y));
        const __m128i c = _mm_cvttpd_epi32(s);  // s in [0, 255]: truncation is the uint8 cast
        const int bytes = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(c, c), c));
        std::memcpy(out + i, &bytes, 2);
    }
    return i;
}

// ---- AVX2: 4 lanes ----------------------------------------------------------------

template <class T>
SAMED2D_AVX2 inline __m256d load4_pd(const T* p) {
    const auto* q = reinterpret_cast<const __m128i*>(p);
    if constexpr (std::is_same_v<T, std::int16_t>) return _mm256_cvtepi32_pd(_mm_cvtepi16_epi32(_mm_loadl_epi64(q)));
    else if constexpr (std::is_same_v<T, std::uint16_t>) return _mm256_cvtepi32_pd(_mm_cvtepu16_epi32(_mm_loadl_epi64(q)));
    else if constexpr (std::is_same_v<T, std::int32_t>) return _mm256_cvtepi32_pd(_mm_loadu_si128(q));
    else if constexpr (std::is_same_v<T, std::uint32_t>) return u32_to_pd4(_mm_loadu_si128(q));
    else return _mm256_cvtps_pd(_mm_loadu_ps(reinterpret_cast<const float*>(p)));
}

template <class T>
SAMED2D_AVX2 std::size_t release_minmax_avx2(const T* p, std::size_t n, double slope, double inter, double& lo,
                                             double& hi) {
    const __m256d vs = _mm256_set1_pd(slope), vi = _mm256_set1_pd(inter);
    const __m256d inf = _mm256_set1_pd(std::numeric_limits<double>::infinity());
    const __m256d ninf = _mm256_set1_pd(-std::numeric_limits<double>::infinity());
    __m256d vlo = inf, vhi = ninf;
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d y = _mm256_add_pd(_mm256_mul_pd(load4_pd(p + i), vs), vi);
        const __m256d ok = finite4(y);
        vlo = _mm256_min_pd(vlo, _mm256_blendv_pd(inf, y, ok));
        vhi = _mm256_max_pd(vhi, _mm256_blendv_pd(ninf, y, ok));
    }
    double l[4], h[4];
    _mm256_storeu_pd(l, vlo);
    _mm256_storeu_pd(h, vhi);
    fold_extremes(l, h, 4, lo, hi);
    return i;
}

template <class T>
SAMED2D_AVX2 std::size_t release_map_avx2(const T* p, std::size_t n, double slope, double inter, double lo,
                                          double denominator, std::uint8_t* out) {
    const __m256d vs = _mm256_set1_pd(slope), vi = _mm256_set1_pd(inter), vlo = _mm256_set1_pd(lo);
    const __m256d vden = _mm256_set1_pd(denominator), k255 = _mm256_set1_pd(255.0);
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d y = _mm256_add_pd(_mm256_mul_pd(load4_pd(p + i), vs), vi);
        const __m256d s = _mm256_and_pd(_mm256_mul_pd(_mm256_div_pd(_mm256_sub_pd(y, vlo), vden), k255), finite4(y));
        store4(out + i, _mm256_cvttpd_epi32(s));  // s in [0, 255]: truncation is the uint8 cast
    }
    return i;
}

#endif  // SAMED2D_X86

// Each handles a leading run of a contiguous row on the chosen path and returns its
// length (0 on the portable path); the caller's scalar loop does the rest.

template <class T>
std::size_t release_minmax_vector(const T* p, std::size_t n, Simd simd, double slope, double inter, double& lo,
                                  double& hi) {
#if defined(SAMED2D_X86)
    if (simd == Simd::avx2) return release_minmax_avx2(p, n, slope, inter, lo, hi);
    if (simd == Simd::sse2) return release_minmax_sse2(p, n, slope, inter, lo, hi);
#endif
    (void)p, (void)n, (void)simd, (void)slope, (void)inter, (void)lo, (void)hi;
    return 0;
}

template <class T>
std::size_t release_map_vector(const T* p, std::size_t n, Simd simd, double slope, double inter, double lo,
                               double denominator, std::uint8_t* out) {
#if defined(SAMED2D_X86)
    if (simd == Simd::avx2) return release_map_avx2(p, n, slope, inter, lo, denominator, out);
    if (simd == Simd::sse2) return release_map_sse2(p, n, slope, inter, lo, denominator, out);
#endif
    (void)p, (void)n, (void)simd, (void)slope, (void)inter, (void)lo, (void)denominator, (void)out;
    return 0;
}

}  // namespace detail
}  // namespace samed2d
