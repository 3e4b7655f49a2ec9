// Boolean masks of a slice's instances, all in one call, from the component id
// image: instance i's mask is the set of pixels whose id is one of its member
// components. Only each instance's box is visited; `out` (n x rows x cols
// bytes) must be zero, as a fresh numpy array is.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace samed2d {

template <class Id>
void instance_masks(const Id* id, std::int64_t rows, std::int64_t cols, std::size_t n,
                    const std::int64_t* member_offsets, const std::uint32_t* members, const std::int32_t* bbox,
                    std::uint8_t* out) {
    std::uint32_t largest = 0;
    for (std::int64_t k = 0; k < member_offsets[n]; ++k) largest = std::max(largest, members[k]);
    std::vector<std::uint8_t> is_member(static_cast<std::size_t>(largest) + 1, 0);
    const auto plane = static_cast<std::size_t>(rows * cols);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::int64_t k = member_offsets[i]; k < member_offsets[i + 1]; ++k) is_member[members[k]] = 1;
        const std::int32_t* b = bbox + 4 * i;
        std::uint8_t* mask = out + i * plane;
        for (std::int64_t r = b[0]; r < b[2]; ++r) {
            const Id* row = id + r * cols;
            std::uint8_t* dst = mask + r * cols;
            for (std::int64_t c = b[1]; c < b[3]; ++c) {
                const Id v = row[c];
                dst[c] = v <= largest ? is_member[v] : std::uint8_t{0};
            }
        }
        for (std::int64_t k = member_offsets[i]; k < member_offsets[i + 1]; ++k) is_member[members[k]] = 0;
    }
}

}  // namespace samed2d
