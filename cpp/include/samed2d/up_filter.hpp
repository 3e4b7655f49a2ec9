// The filtered rows of an 8-bit PNG image (the data that is deflated into IDAT): each
// row is the filter byte 2 (Up) and then every byte minus the byte above it, mod 256 (the
// first row as it is). Each pixel of the 2D source is written `Repeat` times: 1 for grey
// (or an RGB row already flattened), 3 for an RGB image whose channels are all equal,
// which the release preset writes, without a three-channel copy of the slice first.
#pragma once

#include <cstdint>

#include "strided.hpp"

namespace samed2d {

constexpr std::uint8_t png_filter_up = 2;

// `out` holds rows * (cols * Repeat + 1) bytes.
template <int Repeat>
void up_filter_rows(const Strided2D& pixels, std::uint8_t* out) {
    const std::int64_t width = pixels.cols * Repeat + 1;
    for (std::int64_t r = 0; r < pixels.rows; ++r) {
        std::uint8_t* row = out + r * width;
        row[0] = png_filter_up;
        const char* here = pixels.data + r * pixels.row_stride;
        const char* above = here - pixels.row_stride;
        for (std::int64_t c = 0; c < pixels.cols; ++c) {
            const auto v = static_cast<std::uint8_t>(here[c * pixels.col_stride]);
            const auto up = r == 0 ? std::uint8_t{0} : static_cast<std::uint8_t>(above[c * pixels.col_stride]);
            const auto d = static_cast<std::uint8_t>(v - up);
            for (int k = 0; k < Repeat; ++k) row[1 + c * Repeat + k] = d;
        }
    }
}

}  // namespace samed2d
