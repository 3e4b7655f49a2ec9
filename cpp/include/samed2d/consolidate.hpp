// Containment consolidation (SPEC section 4.3): which components each
// component encloses.
//
// hull(b) is b plus every pixel that cannot reach the image border through
// pixels outside b, moving with the complementary connectivity. A component a
// of another label is enclosed by b when all of a lies in hull(b).
//
// Only components with a hole (Euler number < 1, see mark_holes) can enclose anything,
// and a hull never leaves its bounding box, so the flood fill
// that finds "outside" runs on b's box padded by one ring that stands for
// everything beyond it (all of which reaches the border in a straight line).
// Judged on the original components only: no dependence on order, no recursion.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "components.hpp"

namespace samed2d {

// CSR lists: the components enclosed by component b are
// ids[offsets[b] .. offsets[b+1]), ascending. The other members are scratch
// kept so that a reused Enclosures allocates nothing.
struct Enclosures {
    std::vector<std::size_t> offsets;
    std::vector<std::uint32_t> ids;
    std::vector<std::int64_t> inside;    // pixels of a component found in b's holes
    std::vector<std::uint32_t> touched;
    std::vector<std::uint8_t> grid;      // 0 unseen, 1 b, 2 outside
    std::vector<std::int64_t> stack;
};

// An enclosed pixel lies strictly inside its encloser's box (a pixel on the box's edge
// steps out of the box, and so to the border), so a component with a hole needs its
// flood only when its box strictly contains the box of a component of another label.
inline bool box_holds_another_label(const Components& cc, std::size_t b) {
    for (std::size_t a = 1; a <= cc.count(); ++a) {
        if (cc.label[a] != cc.label[b] && cc.row0[a] > cc.row0[b] && cc.row1[a] < cc.row1[b] &&
            cc.col0[a] > cc.col0[b] && cc.col1[a] < cc.col1[b]) {
            return true;
        }
    }
    return false;
}

inline void find_enclosures(Components& cc, int connectivity, Enclosures& out) {
    mark_holes(cc, connectivity);
    const std::size_t n = cc.count();
    out.offsets.assign(n + 2, 0);
    out.ids.clear();
    out.inside.assign(n + 1, 0);
    std::vector<std::int64_t>& inside = out.inside;
    std::vector<std::uint32_t>& touched = out.touched;
    std::vector<std::uint8_t>& grid = out.grid;
    std::vector<std::int64_t>& stack = out.stack;
    touched.clear();
    const bool diagonal_moves = connectivity == 4;  // complementary connectivity

    for (std::size_t b = 1; b <= n; ++b) {
        out.offsets[b] = out.ids.size();
        if (!cc.has_hole[b] || !box_holds_another_label(cc, b)) continue;
        const std::int64_t r0 = cc.row0[b], c0 = cc.col0[b];
        const std::int64_t gh = cc.row1[b] - r0 + 2, gw = cc.col1[b] - c0 + 2;
        grid.assign(static_cast<std::size_t>(gh * gw), 0);
        for (std::int64_t r = 1; r < gh - 1; ++r) {
            const std::uint32_t* row = cc.id.data() + (r0 + r - 1) * cc.cols + c0 - 1;
            for (std::int64_t c = 1; c < gw - 1; ++c) grid[r * gw + c] = row[c] == b;
        }
        stack.assign(1, 0);
        grid[0] = 2;
        while (!stack.empty()) {
            const std::int64_t p = stack.back();
            stack.pop_back();
            const std::int64_t r = p / gw, c = p % gw;
            for (int dr = -1; dr <= 1; ++dr) {
                for (int dc = -1; dc <= 1; ++dc) {
                    if (dr == 0 && dc == 0) continue;
                    if (dr != 0 && dc != 0 && !diagonal_moves) continue;
                    const std::int64_t rr = r + dr, cc2 = c + dc;
                    if (rr < 0 || cc2 < 0 || rr >= gh || cc2 >= gw) continue;
                    std::uint8_t& g = grid[rr * gw + cc2];
                    if (g != 0) continue;
                    g = 2;
                    stack.push_back(rr * gw + cc2);
                }
            }
        }
        for (std::int64_t r = 1; r < gh - 1; ++r) {
            const std::uint32_t* row = cc.id.data() + (r0 + r - 1) * cc.cols + c0 - 1;
            for (std::int64_t c = 1; c < gw - 1; ++c) {
                if (grid[r * gw + c] != 0) continue;
                const std::uint32_t a = row[c];
                if (a == 0 || cc.label[a] == cc.label[b]) continue;
                if (inside[a]++ == 0) touched.push_back(a);
            }
        }
        std::sort(touched.begin(), touched.end());
        for (std::uint32_t a : touched) {
            if (inside[a] == cc.area[a]) out.ids.push_back(a);
            inside[a] = 0;
        }
        touched.clear();
    }
    out.offsets[n + 1] = out.ids.size();
}

}  // namespace samed2d
