// PNG files of the instances of a slice, encoded from the components' runs:
// an instance's mask is the union of its member components' runs, and only rows
// inside its box are visited; the rows above and below are single runs of zeros.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "instances.hpp"
#include "png.hpp"

namespace samed2d {

// Pushes the 0/255 runs of one row of `width` values, `on(c)` telling which are set.
template <class On>
void push_row_runs(png::MaskDeflater& d, std::int64_t width, On&& on) {
    std::int64_t c = 0;
    while (c < width) {
        const bool v = on(c);
        std::int64_t end = c + 1;
        while (end < width && on(end) == v) ++end;
        d.push(v ? 255 : 0, static_cast<std::uint64_t>(end - c));
        c = end;
    }
}

// Pushes the runs of a row of bytes (0 = off, anything else = on), skipping
// eight bytes at a time inside a run: a word is all zero, or has no zero byte.
inline void push_byte_runs(png::MaskDeflater& d, const unsigned char* row, std::int64_t width) {
    constexpr std::uint64_t kLow = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
    std::int64_t c = 0;
    while (c < width) {
        const bool on = row[c] != 0;
        std::int64_t end = c + 1;
        while (end + 8 <= width) {
            std::uint64_t w;
            std::memcpy(&w, row + end, 8);
            const bool uniform = on ? ((w - kLow) & ~w & kHigh) == 0 : w == 0;
            if (!uniform) break;
            end += 8;
        }
        while (end < width && (row[end] != 0) == on) ++end;
        d.push(on ? 255 : 0, static_cast<std::uint64_t>(end - c));
        c = end;
    }
}

// One PNG per instance, in order, into `out` (resized to the instance count).
inline void encode_instance_pngs(const SliceInstances& s, std::vector<std::string>& out,
                                 std::vector<std::uint8_t>& is_member) {
    const Components& cc = s.components;
    const std::int64_t cols = cc.cols;
    is_member.assign(cc.count() + 1, 0);
    out.resize(s.instances.size());
    for (std::size_t i = 0; i < s.instances.size(); ++i) {
        const Instance& inst = s.instances[i];
        const auto first = s.member_components.begin() + static_cast<std::ptrdiff_t>(inst.members_begin);
        const auto last = s.member_components.begin() + static_cast<std::ptrdiff_t>(inst.members_end);
        for (auto it = first; it != last; ++it) is_member[*it] = 1;
        const std::int32_t* b = inst.bbox;
        out[i] = png::encode_binary_png(cc.rows, cols, [&](std::int64_t r, png::MaskDeflater& d) {
            std::int64_t c = 0;
            if (r >= b[0] && r < b[2]) {
                for (std::size_t k = cc.row_begin[static_cast<std::size_t>(r)];
                     k < cc.row_begin[static_cast<std::size_t>(r) + 1]; ++k) {
                    const detail::Run& run = cc.runs[k];
                    if (!is_member[run.prov]) continue;
                    d.push(0, static_cast<std::uint64_t>(run.start - c));
                    d.push(255, static_cast<std::uint64_t>(run.end - run.start));
                    c = run.end;
                }
            }
            d.push(0, static_cast<std::uint64_t>(cols - c));
        });
        for (auto it = first; it != last; ++it) is_member[*it] = 0;
    }
}

}  // namespace samed2d
