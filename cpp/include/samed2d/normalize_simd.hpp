// Vector paths of the Self-Min-Max normalisation (normalize.hpp) for the types
// volumes come in: int16, uint16, int32, uint32 and float32 in native byte order.
// Each gives the scalar loops' bytes exactly:
//
// * Integers: out = ceil(255 u / d) with u = x - lo <= d. When d < 2^16, 255 u and d
//   are exact floats and the float32 quotient is correctly rounded; a quotient that is
//   not an integer lies at least 1/d > 2^-16 from one, and float32 rounds values below
//   256 by at most 2^-17, so the ceiling of the rounded quotient is the exact one. For
//   wider ranges the same argument holds in double (d < 2^32, error at most 2^-45).
// * float32: a float32 estimate where it decides the output (FloatShortcut below), else
//   the SPEC's double operations in the scalar loop's order, lane by lane.
//
// Paths: portable (the scalar loops), sse2 (the x86-64 baseline) and avx2, chosen at
// run time. The bindings cap the choice by the SAMED2D_SIMD environment variable so
// that tests run every path; builds for other CPUs (aarch64) have the portable one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(__x86_64__) || defined(_M_X64)
#define SAMED2D_X86 1
#include <immintrin.h>
#define SAMED2D_AVX2 __attribute__((target("avx2")))
#endif

namespace samed2d {

enum class Simd : int { portable = 0, sse2 = 1, avx2 = 2 };

inline const char* simd_name(Simd s) {
    switch (s) {
        case Simd::sse2: return "sse2";
        case Simd::avx2: return "avx2";
        default: return "portable";
    }
}

// The best path this CPU runs.
inline Simd best_simd() {
#if defined(SAMED2D_X86)
    return __builtin_cpu_supports("avx2") ? Simd::avx2 : Simd::sse2;
#else
    return Simd::portable;
#endif
}

namespace detail {

template <class T>
constexpr bool has_vector_path =
    std::is_same_v<T, std::int16_t> || std::is_same_v<T, std::uint16_t> || std::is_same_v<T, std::int32_t> ||
    std::is_same_v<T, std::uint32_t> || std::is_same_v<T, float>;

// The float32 shortcut of the float32 map. y' = (x - lo) * (255 / d) computed in float32
// is within 4.6e-5 of the double y the SPEC's formula gives: three roundings of at
// most 2^-24 each, relative, on y <= 255 (a difference that would be subnormal is
// exact, a subnormal product is off by at most 2^-150), while the double formula is
// within 1e-13 of the real quotient. So where y' lies at least `margin` from every
// integer, ceil(y') is the output; a group of lanes where one does not (or y' is 0
// while x is not lo) takes the double formula. `usable` keeps x - lo and 255 / d
// finite normal floats. NaN and +-Inf need no test of their own: their frac is NaN
// (the group stays) or infinite (it takes the double formula), and x86 converts a
// NaN or infinite ceiling to INT32_MIN, which the byte packing saturates to 0.
struct FloatShortcut {
    static constexpr float margin = 0x1p-12f;
    bool usable;
    float lo;
    float scale;
    FloatShortcut(double lo_, double d)
        : usable(d >= 0x1p-100 && d <= 0x1p100), lo(static_cast<float>(lo_)), scale(static_cast<float>(255.0 / d)) {}
};

// Folds the lanes of min/max accumulators, stored to arrays, into lo and hi.
template <class Lane, class V>
inline void fold_extremes(const Lane* l, const Lane* h, std::size_t lanes, V& lo, V& hi) {
    for (std::size_t k = 0; k < lanes; ++k) {
        lo = l[k] < lo ? l[k] : lo;
        hi = h[k] > hi ? h[k] : hi;
    }
}

#if defined(SAMED2D_X86)

// ---- SSE2: 4 lanes ----------------------------------------------------------------

// The bias that maps T's order onto the signed order of its width (SSE2 compares
// signed lanes only).
template <class T>
constexpr T sign_bias = std::is_signed_v<T> ? T{0} : static_cast<T>(T{1} << (8 * sizeof(T) - 1));

template <class T>
inline __m128i set1(T v) {
    if constexpr (sizeof(T) == 2) return _mm_set1_epi16(static_cast<short>(v));
    else return _mm_set1_epi32(static_cast<int>(v));
}

// yes where mask is all ones, no elsewhere.
inline __m128i select(__m128i mask, __m128i yes, __m128i no) {
    return _mm_or_si128(_mm_and_si128(mask, yes), _mm_andnot_si128(mask, no));
}

template <class T>
inline __m128i min_signed(__m128i a, __m128i b) {
    if constexpr (sizeof(T) == 2) return _mm_min_epi16(a, b);
    else return select(_mm_cmplt_epi32(b, a), b, a);
}

template <class T>
inline __m128i max_signed(__m128i a, __m128i b) {
    if constexpr (sizeof(T) == 2) return _mm_max_epi16(a, b);
    else return select(_mm_cmpgt_epi32(b, a), b, a);
}

template <class T>
std::size_t minmax_integer_sse2(const T* p, std::size_t n, T& lo, T& hi) {
    constexpr std::size_t lanes = 16 / sizeof(T);
    if (n < lanes) return 0;
    const __m128i bias = set1(sign_bias<T>);
    __m128i vlo = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), bias), vhi = vlo;
    std::size_t i = lanes;
    for (; i + lanes <= n; i += lanes) {
        const __m128i x = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)), bias);
        vlo = min_signed<T>(vlo, x);
        vhi = max_signed<T>(vhi, x);
    }
    T l[lanes], h[lanes];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(l), _mm_xor_si128(vlo, bias));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h), _mm_xor_si128(vhi, bias));
    fold_extremes(l, h, lanes, lo, hi);
    return i;
}

// u = x - lo for 4 elements, as int32 lanes holding the unsigned difference.
template <class T>
inline __m128i offsets4(const T* p, __m128i lo_bits) {
    __m128i x;
    if constexpr (sizeof(T) == 2) {
        x = _mm_unpacklo_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), _mm_setzero_si128());
        return _mm_and_si128(_mm_sub_epi32(x, lo_bits), _mm_set1_epi32(0xffff));
    } else {
        x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        return _mm_sub_epi32(x, lo_bits);
    }
}

// ceil(y) for y in [0, 256): truncation, plus one where that is below y.
inline __m128i ceil4_ps(__m128 y) {
    const __m128i t = _mm_cvttps_epi32(y);
    return _mm_sub_epi32(t, _mm_castps_si128(_mm_cmplt_ps(_mm_cvtepi32_ps(t), y)));
}

inline __m128i ceil2_pd(__m128d y) {
    const __m128i t = _mm_cvttpd_epi32(y);
    const __m128i below = _mm_shuffle_epi32(_mm_castpd_si128(_mm_cmplt_pd(_mm_cvtepi32_pd(t), y)), 0x08);
    return _mm_sub_epi32(t, below);  // a true mask is -1: adds one
}

// Two lanes of unsigned 32-bit u (in the low half of u) as doubles.
inline __m128d u32_to_pd(__m128i u) {
    const __m128d shifted = _mm_cvtepi32_pd(_mm_xor_si128(u, _mm_set1_epi32(INT32_MIN)));
    return _mm_add_pd(shifted, _mm_set1_pd(2147483648.0));
}

inline void store4(std::uint8_t* out, __m128i c) {
    const __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(c, c), c);
    const int four = _mm_cvtsi128_si32(bytes);
    std::memcpy(out, &four, 4);
}

template <class T>
std::size_t map_integer_sse2(const T* p, std::size_t n, T lo, std::uint64_t d, std::uint8_t* out) {
    using U = std::make_unsigned_t<T>;
    const __m128i lo_bits = _mm_set1_epi32(static_cast<std::int32_t>(static_cast<U>(lo)));
    std::size_t i = 0;
    if (d < (1u << 16)) {
        const __m128 k255 = _mm_set1_ps(255.0f), vd = _mm_set1_ps(static_cast<float>(d));
        for (; i + 4 <= n; i += 4) {
            const __m128 u = _mm_cvtepi32_ps(offsets4(p + i, lo_bits));
            store4(out + i, ceil4_ps(_mm_div_ps(_mm_mul_ps(u, k255), vd)));
        }
    } else {
        const __m128d k255 = _mm_set1_pd(255.0), vd = _mm_set1_pd(static_cast<double>(d));
        for (; i + 4 <= n; i += 4) {
            const __m128i u = offsets4(p + i, lo_bits);
            const __m128i a = ceil2_pd(_mm_div_pd(_mm_mul_pd(u32_to_pd(u), k255), vd));
            const __m128i b = ceil2_pd(_mm_div_pd(_mm_mul_pd(u32_to_pd(_mm_srli_si128(u, 8)), k255), vd));
            store4(out + i, _mm_unpacklo_epi64(a, b));
        }
    }
    return i;
}

// NaN and +-Inf have an all-ones exponent.
inline __m128 non_finite4(__m128 x) {
    const __m128i exponent = _mm_set1_epi32(0x7f800000);
    return _mm_castsi128_ps(_mm_cmpeq_epi32(_mm_and_si128(_mm_castps_si128(x), exponent), exponent));
}

// Independent min/max chains in the float scans: minps waits 3-4 cycles for its input.
constexpr int float_chains = 4;

inline std::size_t minmax_float_sse2(const float* p, std::size_t n, double& lo, double& hi) {
    const __m128 inf = _mm_set1_ps(std::numeric_limits<float>::infinity());
    const __m128 ninf = _mm_set1_ps(-std::numeric_limits<float>::infinity());
    __m128 vlo[float_chains], vhi[float_chains];
    for (int k = 0; k < float_chains; ++k) vlo[k] = inf, vhi[k] = ninf;
    auto scan = [&](std::size_t i, int k) {
        const __m128 x = _mm_loadu_ps(p + i);
        const __m128 bad = non_finite4(x);
        vlo[k] = _mm_min_ps(vlo[k], _mm_or_ps(_mm_andnot_ps(bad, x), _mm_and_ps(bad, inf)));
        vhi[k] = _mm_max_ps(vhi[k], _mm_or_ps(_mm_andnot_ps(bad, x), _mm_and_ps(bad, ninf)));
    };
    std::size_t i = 0;
    for (; i + 4 * float_chains <= n; i += 4 * float_chains) {
        for (int k = 0; k < float_chains; ++k) scan(i + 4 * k, k);
    }
    for (; i + 4 <= n; i += 4) scan(i, 0);
    float l[4 * float_chains], h[4 * float_chains];
    for (int k = 0; k < float_chains; ++k) {
        _mm_storeu_ps(l + 4 * k, vlo[k]);
        _mm_storeu_ps(h + 4 * k, vhi[k]);
    }
    fold_extremes(l, h, 4 * float_chains, lo, hi);
    return i;
}

// All ones where y is finite (y - y is NaN for NaN and +-Inf).
inline __m128d finite2(__m128d y) { return _mm_cmpeq_pd(_mm_sub_pd(y, y), _mm_setzero_pd()); }

// ceil((x - lo) / d * 255) for two finite-or-not doubles; non-finite x gives 0.
inline __m128i map2_pd(__m128d x, __m128d lo, __m128d d) {
    const __m128d y = _mm_and_pd(_mm_mul_pd(_mm_div_pd(_mm_sub_pd(x, lo), d), _mm_set1_pd(255.0)), finite2(x));
    return ceil2_pd(y);
}

inline std::size_t map_float_sse2(const float* p, std::size_t n, double lo, double d, std::uint8_t* out) {
    const __m128d vlo = _mm_set1_pd(lo), vd = _mm_set1_pd(d);
    const FloatShortcut fast(lo, d);
    const __m128 flo = _mm_set1_ps(fast.lo), scale = _mm_set1_ps(fast.scale);
    const __m128 near = _mm_set1_ps(FloatShortcut::margin), far = _mm_set1_ps(1.0f - FloatShortcut::margin);
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m128 x = _mm_loadu_ps(p + i);
        if (fast.usable) {
            const __m128 y = _mm_mul_ps(_mm_sub_ps(x, flo), scale);
            const __m128i c = ceil4_ps(y);
            const __m128 frac = _mm_sub_ps(_mm_cvtepi32_ps(c), y);
            const __m128 exact = _mm_cmpeq_ps(x, flo);
            const __m128 unsure = _mm_or_ps(_mm_andnot_ps(exact, _mm_cmplt_ps(frac, near)), _mm_cmpgt_ps(frac, far));
            if (_mm_movemask_ps(unsure) == 0) {
                store4(out + i, c);
                continue;
            }
        }
        store4(out + i, _mm_unpacklo_epi64(map2_pd(_mm_cvtps_pd(x), vlo, vd),
                                           map2_pd(_mm_cvtps_pd(_mm_movehl_ps(x, x)), vlo, vd)));
    }
    return i;
}

// ---- AVX2: 8 lanes ----------------------------------------------------------------

template <class T>
SAMED2D_AVX2 inline __m256i min_lanes(__m256i a, __m256i b) {
    if constexpr (std::is_same_v<T, std::int16_t>) return _mm256_min_epi16(a, b);
    else if constexpr (std::is_same_v<T, std::uint16_t>) return _mm256_min_epu16(a, b);
    else if constexpr (std::is_same_v<T, std::int32_t>) return _mm256_min_epi32(a, b);
    else return _mm256_min_epu32(a, b);
}

template <class T>
SAMED2D_AVX2 inline __m256i max_lanes(__m256i a, __m256i b) {
    if constexpr (std::is_same_v<T, std::int16_t>) return _mm256_max_epi16(a, b);
    else if constexpr (std::is_same_v<T, std::uint16_t>) return _mm256_max_epu16(a, b);
    else if constexpr (std::is_same_v<T, std::int32_t>) return _mm256_max_epi32(a, b);
    else return _mm256_max_epu32(a, b);
}

template <class T>
SAMED2D_AVX2 std::size_t minmax_integer_avx2(const T* p, std::size_t n, T& lo, T& hi) {
    constexpr std::size_t lanes = 32 / sizeof(T);
    if (n < lanes) return 0;
    __m256i vlo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), vhi = vlo;
    std::size_t i = lanes;
    for (; i + lanes <= n; i += lanes) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
        vlo = min_lanes<T>(vlo, x);
        vhi = max_lanes<T>(vhi, x);
    }
    T l[lanes], h[lanes];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(l), vlo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(h), vhi);
    fold_extremes(l, h, lanes, lo, hi);
    return i;
}

// 8 int32 lanes in [0, 255] to 8 bytes.
SAMED2D_AVX2 inline void store8(std::uint8_t* out, __m256i c) {
    const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packus_epi16(words, words));
}

SAMED2D_AVX2 inline __m256d u32_to_pd4(__m128i u) {
    const __m256d shifted = _mm256_cvtepi32_pd(_mm_xor_si128(u, _mm_set1_epi32(INT32_MIN)));
    return _mm256_add_pd(shifted, _mm256_set1_pd(2147483648.0));
}

// u = x - lo for 8 elements, as int32 lanes holding the unsigned difference.
template <class T>
SAMED2D_AVX2 inline __m256i offsets8(const T* p, __m256i lo_bits) {
    if constexpr (sizeof(T) == 2) {
        const __m256i x = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm256_and_si256(_mm256_sub_epi32(x, lo_bits), _mm256_set1_epi32(0xffff));
    } else {
        return _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), lo_bits);
    }
}

template <class T>
SAMED2D_AVX2 std::size_t map_integer_avx2(const T* p, std::size_t n, T lo, std::uint64_t d, std::uint8_t* out) {
    using U = std::make_unsigned_t<T>;
    const __m256i lo_bits = _mm256_set1_epi32(static_cast<std::int32_t>(static_cast<U>(lo)));
    std::size_t i = 0;
    if (d < (1u << 16)) {
        const __m256 k255 = _mm256_set1_ps(255.0f), vd = _mm256_set1_ps(static_cast<float>(d));
        for (; i + 8 <= n; i += 8) {
            const __m256 q = _mm256_div_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(offsets8(p + i, lo_bits)), k255), vd);
            store8(out + i, _mm256_cvttps_epi32(_mm256_ceil_ps(q)));
        }
    } else {
        const __m256d k255 = _mm256_set1_pd(255.0), vd = _mm256_set1_pd(static_cast<double>(d));
        for (; i + 8 <= n; i += 8) {
            const __m256i u = offsets8(p + i, lo_bits);
            const __m256d a = _mm256_div_pd(_mm256_mul_pd(u32_to_pd4(_mm256_castsi256_si128(u)), k255), vd);
            const __m256d b = _mm256_div_pd(_mm256_mul_pd(u32_to_pd4(_mm256_extracti128_si256(u, 1)), k255), vd);
            const __m256i c = _mm256_setr_m128i(_mm256_cvttpd_epi32(_mm256_ceil_pd(a)),
                                                _mm256_cvttpd_epi32(_mm256_ceil_pd(b)));
            store8(out + i, c);
        }
    }
    return i;
}

SAMED2D_AVX2 inline __m256 non_finite8(__m256 x) {
    const __m256i exponent = _mm256_set1_epi32(0x7f800000);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(x), exponent), exponent));
}

SAMED2D_AVX2 inline void scan8(const float* p, __m256& lo, __m256& hi) {
    const __m256 x = _mm256_loadu_ps(p);
    const __m256 bad = non_finite8(x);
    lo = _mm256_min_ps(lo, _mm256_blendv_ps(x, _mm256_set1_ps(std::numeric_limits<float>::infinity()), bad));
    hi = _mm256_max_ps(hi, _mm256_blendv_ps(x, _mm256_set1_ps(-std::numeric_limits<float>::infinity()), bad));
}

SAMED2D_AVX2 inline std::size_t minmax_float_avx2(const float* p, std::size_t n, double& lo, double& hi) {
    __m256 vlo[float_chains], vhi[float_chains];
    for (int k = 0; k < float_chains; ++k) {
        vlo[k] = _mm256_set1_ps(std::numeric_limits<float>::infinity());
        vhi[k] = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    }
    std::size_t i = 0;
    for (; i + 8 * float_chains <= n; i += 8 * float_chains) {
        for (int k = 0; k < float_chains; ++k) scan8(p + i + 8 * k, vlo[k], vhi[k]);
    }
    for (; i + 8 <= n; i += 8) scan8(p + i, vlo[0], vhi[0]);
    float l[8 * float_chains], h[8 * float_chains];
    for (int k = 0; k < float_chains; ++k) {
        _mm256_storeu_ps(l + 8 * k, vlo[k]);
        _mm256_storeu_ps(h + 8 * k, vhi[k]);
    }
    fold_extremes(l, h, 8 * float_chains, lo, hi);
    return i;
}

SAMED2D_AVX2 inline __m256d finite4(__m256d y) {
    return _mm256_cmp_pd(_mm256_sub_pd(y, y), _mm256_setzero_pd(), _CMP_EQ_OQ);
}

SAMED2D_AVX2 inline __m128i map4_pd(__m128 x4, __m256d lo, __m256d d) {
    const __m256d x = _mm256_cvtps_pd(x4);
    const __m256d y = _mm256_and_pd(_mm256_mul_pd(_mm256_div_pd(_mm256_sub_pd(x, lo), d), _mm256_set1_pd(255.0)),
                                    finite4(x));
    return _mm256_cvttpd_epi32(_mm256_ceil_pd(y));
}

SAMED2D_AVX2 inline std::size_t map_float_avx2(const float* p, std::size_t n, double lo, double d,
                                               std::uint8_t* out) {
    const __m256d vlo = _mm256_set1_pd(lo), vd = _mm256_set1_pd(d);
    const FloatShortcut fast(lo, d);
    const __m256 flo = _mm256_set1_ps(fast.lo), scale = _mm256_set1_ps(fast.scale);
    const __m256 near = _mm256_set1_ps(FloatShortcut::margin), far = _mm256_set1_ps(1.0f - FloatShortcut::margin);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(p + i);
        if (fast.usable) {
            const __m256 y = _mm256_mul_ps(_mm256_sub_ps(x, flo), scale);
            const __m256 c = _mm256_ceil_ps(y);
            const __m256 frac = _mm256_sub_ps(c, y);
            const __m256 exact = _mm256_cmp_ps(x, flo, _CMP_EQ_OQ);
            const __m256 unsure = _mm256_or_ps(_mm256_andnot_ps(exact, _mm256_cmp_ps(frac, near, _CMP_LT_OQ)),
                                               _mm256_cmp_ps(frac, far, _CMP_GT_OQ));
            if (_mm256_movemask_ps(unsure) == 0) {
                store8(out + i, _mm256_cvttps_epi32(c));
                continue;
            }
        }
        store8(out + i, _mm256_setr_m128i(map4_pd(_mm256_castps256_ps128(x), vlo, vd),
                                          map4_pd(_mm256_extractf128_ps(x, 1), vlo, vd)));
    }
    return i;
}

#endif  // SAMED2D_X86

// Each handles a leading run of the n elements on the chosen path and returns its
// length (0 on the portable path); the caller's scalar loop does the rest.

template <class T>
std::size_t minmax_vector(const T* p, std::size_t n, Simd simd, T& lo, T& hi) {
#if defined(SAMED2D_X86)
    if (simd == Simd::avx2) return minmax_integer_avx2(p, n, lo, hi);
    if (simd == Simd::sse2) return minmax_integer_sse2(p, n, lo, hi);
#endif
    (void)p, (void)n, (void)simd, (void)lo, (void)hi;
    return 0;
}

template <class T>
std::size_t map_vector(const T* p, std::size_t n, Simd simd, T lo, std::uint64_t d, std::uint8_t* out) {
#if defined(SAMED2D_X86)
    if (simd == Simd::avx2) return map_integer_avx2(p, n, lo, d, out);
    if (simd == Simd::sse2) return map_integer_sse2(p, n, lo, d, out);
#endif
    (void)p, (void)n, (void)simd, (void)lo, (void)d, (void)out;
    return 0;
}

inline std::size_t minmax_vector(const float* p, std::size_t n, Simd simd, double& lo, double& hi) {
#if defined(SAMED2D_X86)
    if (simd == Simd::avx2) return minmax_float_avx2(p, n, lo, hi);
    if (simd == Simd::sse2) return minmax_float_sse2(p, n, lo, hi);
#endif
    (void)p, (void)n, (void)simd, (void)lo, (void)hi;
    return 0;
}

inline std::size_t map_vector(const float* p, std::size_t n, Simd simd, double lo, double d, std::uint8_t* out) {
#if defined(SAMED2D_X86)
    if (simd == Simd::avx2) return map_float_avx2(p, n, lo, d, out);
    if (simd == Simd::sse2) return map_float_sse2(p, n, lo, d, out);
#endif
    (void)p, (void)n, (void)simd, (void)lo, (void)d, (void)out;
    return 0;
}

}  // namespace detail
}  // namespace samed2d
