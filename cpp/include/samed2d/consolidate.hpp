// Containment consolidation (SPEC section 4.3): which components each
// component encloses.
//
// hull(b) is b plus every pixel that cannot reach the image border through
// pixels outside b, moving with the complementary connectivity. A component a
// of another label is enclosed by b when all of a lies in hull(b).
//
// Only components with a hole (Euler number < 1, see label_components) can enclose
// anything, and a hull never leaves its bounding box: the pixels of b's box that are
// not b, cut into runs per row (gaps), are joined with the complementary connectivity,
// and a gap in the box's first or last row or touching its left or right edge reaches
// the border (everything beyond the box does, in a straight line). The other gaps are
// b's holes. Judged on the original components only: no dependence on order, no recursion.
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
    std::vector<detail::Run> gaps;       // prov: the gap's union-find id (0: the border)
    std::vector<std::size_t> gap_begin;  // per row of the box
    std::vector<std::uint32_t> parent;
};

// An enclosed pixel lies strictly inside its encloser's box (a pixel on the box's edge
// steps out of the box, and so to the border), so a component with a hole needs its
// gaps joined only when its box strictly contains the box of a component of another label.
inline bool box_holds_another_label(const Components& cc, std::size_t b) {
    for (std::size_t a = 1; a <= cc.count(); ++a) {
        if (cc.label[a] != cc.label[b] && cc.row0[a] > cc.row0[b] && cc.row1[a] < cc.row1[b] &&
            cc.col0[a] > cc.col0[b] && cc.col1[a] < cc.col1[b]) {
            return true;
        }
    }
    return false;
}

// The gaps of b in rows [r0, r1) and columns [c0, c1) of its box, joined into `uf`
// with the background's connectivity; gaps that reach the border join id 0.
inline void join_gaps(const Components& cc, std::uint32_t b, bool diagonal_moves, Enclosures& out,
                      detail::UnionFind& uf) {
    const std::int32_t r0 = cc.row0[b], r1 = cc.row1[b], c0 = cc.col0[b], c1 = cc.col1[b];
    const std::int32_t reach = diagonal_moves ? 0 : 1;  // see detail::for_each_touching
    out.gaps.clear();
    out.gap_begin.assign(static_cast<std::size_t>(r1 - r0) + 1, 0);
    for (std::int32_t r = r0; r < r1; ++r) {
        const std::size_t above_begin = r > r0 ? out.gap_begin[static_cast<std::size_t>(r - r0 - 1)] : 0;
        const std::size_t above_end = out.gaps.size();
        out.gap_begin[static_cast<std::size_t>(r - r0)] = out.gaps.size();
        const bool edge_row = r == r0 || r == r1 - 1;
        std::size_t j = above_begin;
        std::int32_t from = c0;
        auto add_gap = [&](std::int32_t s, std::int32_t e) {
            if (s >= e) return;
            detail::Run gap{s, e, 0, edge_row || s == c0 || e == c1 ? 0u : uf.make(), 0};
            detail::for_each_touching(out.gaps, j, above_end, s, e, reach,
                                      [&](std::size_t k) { gap.prov = uf.unite(gap.prov, out.gaps[k].prov); });
            out.gaps.push_back(gap);
        };
        for (std::size_t k = cc.row_begin[static_cast<std::size_t>(r)]; k < cc.row_begin[static_cast<std::size_t>(r) + 1];
             ++k) {
            const detail::Run& run = cc.runs[k];
            if (run.prov != b) continue;
            add_gap(from, run.start);
            from = run.end;
        }
        add_gap(from, c1);
    }
    out.gap_begin[static_cast<std::size_t>(r1 - r0)] = out.gaps.size();
}

inline void find_enclosures(const Components& cc, int connectivity, Enclosures& out) {
    const std::size_t n = cc.count();
    out.offsets.assign(n + 2, 0);
    out.ids.clear();
    out.inside.assign(n + 1, 0);
    std::vector<std::int64_t>& inside = out.inside;
    std::vector<std::uint32_t>& touched = out.touched;
    touched.clear();
    const bool diagonal_moves = connectivity == 4;  // complementary connectivity

    for (std::size_t b = 1; b <= n; ++b) {
        out.offsets[b] = out.ids.size();
        if (!cc.has_hole[b] || !box_holds_another_label(cc, b)) continue;
        detail::UnionFind uf(out.parent);  // id 0: the border
        join_gaps(cc, static_cast<std::uint32_t>(b), diagonal_moves, out, uf);
        const std::int32_t r0 = cc.row0[b];
        // A run of another component lies within one gap: its pixels are in b's holes
        // when that gap does not reach the border.
        for (std::int32_t r = r0; r < cc.row1[b]; ++r) {
            std::size_t g = out.gap_begin[static_cast<std::size_t>(r - r0)];
            const std::size_t g_end = out.gap_begin[static_cast<std::size_t>(r - r0) + 1];
            for (std::size_t k = cc.row_begin[static_cast<std::size_t>(r)];
                 k < cc.row_begin[static_cast<std::size_t>(r) + 1]; ++k) {
                const detail::Run& run = cc.runs[k];
                const std::uint32_t a = run.prov;
                if (cc.label[a] == cc.label[b]) continue;
                while (g < g_end && out.gaps[g].end <= run.start) ++g;
                if (g == g_end) break;
                if (out.gaps[g].start > run.start || uf.find(out.gaps[g].prov) == 0) continue;
                if (inside[a] == 0) touched.push_back(a);
                inside[a] += run.end - run.start;
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
