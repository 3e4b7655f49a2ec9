// Strided 2D views of raw buffers and byte-order aware loads.
//
// Kernels never copy a volume to get a slice: a slice is a base pointer plus a
// byte stride per axis (strides may be negative, which is how the display
// orientation flips rows and columns for free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace samed2d {

// Reads a T stored at p, reversing its bytes when Swap (non-native byte order).
template <class T, bool Swap>
inline T load(const void* p) {
    T v;
    if constexpr (!Swap || sizeof(T) == 1) {
        std::memcpy(&v, p, sizeof(T));
    } else {
        unsigned char b[sizeof(T)];
        std::memcpy(b, p, sizeof(T));
        for (std::size_t i = 0; i < sizeof(T) / 2; ++i) {
            unsigned char t = b[i];
            b[i] = b[sizeof(T) - 1 - i];
            b[sizeof(T) - 1 - i] = t;
        }
        std::memcpy(&v, b, sizeof(T));
    }
    return v;
}

// A rows x cols window into a buffer, strides in bytes.
struct Strided2D {
    const char* data = nullptr;
    std::int64_t rows = 0;
    std::int64_t cols = 0;
    std::ptrdiff_t row_stride = 0;
    std::ptrdiff_t col_stride = 0;

    const char* at(std::int64_t r, std::int64_t c) const {
        return data + r * row_stride + c * col_stride;
    }
};

}  // namespace samed2d
