// Connected components of every label of a 2D slice at once (SPEC section 4.1-4.2).
//
// Two raster passes with union-find over provisional ids: neighbouring pixels
// join when they carry the same non-zero label, so one labelling splits the
// slice into per-class foregrounds and their components together.
//
// Invariants the rest of the pipeline relies on:
// * Final ids run 1..n in the order of each component's first pixel in
//   row-major order; SPEC's output order is therefore the id order.
// * A set's root is its smallest provisional id, which was created at the
//   component's first pixel; that is what makes the id order above cheap.
// * Per component: label, area, half-open bounding box,
//   and whether it has a hole (Gray's bit-quad Euler number, counted with the
//   component's connectivity against the complementary one for the background),
//   the last only when mark_holes is called: consolidation needs it, nothing else.
#pragma once

#include <cstdint>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace samed2d {

struct Components {
    std::int64_t rows = 0;
    std::int64_t cols = 0;
    std::vector<std::uint32_t> id;      // rows*cols, 0 = background
    // Indexed by id; entry 0 is unused so that id can index directly.
    std::vector<std::uint32_t> label;
    std::vector<std::int64_t> area;
    std::vector<std::int32_t> row0, col0, row1, col1;
    std::vector<bool> has_hole;         // filled by mark_holes
    // Labelling scratch, kept here so that a reused Components allocates nothing.
    std::vector<std::uint32_t> parent, final_id;
    std::vector<std::int64_t> quads;

    std::size_t count() const { return label.empty() ? 0 : label.size() - 1; }
};

namespace detail {

// Union-find over provisional ids stored in `parent` (id 0 is background).
class UnionFind {
public:
    explicit UnionFind(std::vector<std::uint32_t>& parent) : parent_(parent) { parent_.assign(1, 0); }
    std::uint32_t make() {
        parent_.push_back(static_cast<std::uint32_t>(parent_.size()));
        return parent_.back();
    }
    std::uint32_t find(std::uint32_t x) {
        while (parent_[x] != x) {
            parent_[x] = parent_[parent_[x]];
            x = parent_[x];
        }
        return x;
    }
    // The smaller root wins, so a root is always the earliest id of its set.
    std::uint32_t unite(std::uint32_t a, std::uint32_t b) {
        a = find(a);
        b = find(b);
        if (a == b) return a;
        if (a < b) {
            parent_[b] = a;
            return a;
        }
        parent_[a] = b;
        return b;
    }
    std::size_t size() const { return parent_.size(); }

private:
    std::vector<std::uint32_t>& parent_;
};

// Adds the bit-quad pattern of every component present in one 2x2 window.
inline void count_quads(const std::uint32_t q[4], std::int64_t* quads, std::int64_t diag) {
    for (int k = 0; k < 4; ++k) {
        const std::uint32_t x = q[k];
        if (x == 0) continue;
        bool seen = false;
        for (int j = 0; j < k; ++j) seen |= q[j] == x;
        if (seen) continue;
        const int bits = (q[0] == x) | (q[1] == x) << 1 | (q[2] == x) << 2 | (q[3] == x) << 3;
        static constexpr int kBitCount[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};
        const int count = kBitCount[bits];
        if (count == 1) quads[x] += 1;
        else if (count == 3) quads[x] -= 1;
        else if (count == 2 && (bits == 0b1001 || bits == 0b0110)) quads[x] += diag;
    }
}

}  // namespace detail

// Marks the components whose Euler number is below 1 (they have a hole), from
// Gray's bit-quad counts over every 2x2 window of the zero-padded id image:
// 4E = Q1 - Q3 - 2QD for 8-connected masks, Q1 - Q3 + 2QD for 4-connected ones.
inline void mark_holes(Components& cc, int connectivity) {
    const std::size_t n = cc.count();
    std::vector<std::int64_t>& quads = cc.quads;  // 4E per component
    quads.assign(n + 1, 0);
    const std::int64_t diag = connectivity == 8 ? -2 : 2;
    const std::int64_t R = cc.rows, C = cc.cols;
    const std::uint32_t* id = cc.id.data();
    auto at = [&](std::int64_t r, std::int64_t c) -> std::uint32_t {
        return (r < 0 || c < 0 || r >= R || c >= C) ? 0u : id[r * C + c];
    };
    auto window = [&](std::int64_t r, std::int64_t c) {
        const std::uint32_t q[4] = {at(r, c), at(r, c + 1), at(r + 1, c), at(r + 1, c + 1)};
        if (q[0] == q[1] && q[1] == q[2] && q[2] == q[3]) return;
        detail::count_quads(q, quads.data(), diag);
    };
    // The padded border: windows that hang over the image edge.
    for (std::int64_t c = -1; c < C; ++c) {
        window(-1, c);
        window(R - 1, c);
    }
    for (std::int64_t r = 0; r + 1 < R; ++r) {
        window(r, -1);
        window(r, C - 1);
    }
    // The interior, without bounds checks; most windows are uniform and skipped,
    // four at a time where SSE2 is there.
    for (std::int64_t r = 0; r + 1 < R; ++r) {
        const std::uint32_t* a = id + r * C;
        const std::uint32_t* b = a + C;
        for (std::int64_t c = 0; c + 1 < C; ++c) {
#if defined(__SSE2__)
            if (c + 5 <= C) {
                const __m128i a0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + c));
                const __m128i a1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + c + 1));
                const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + c));
                const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + c + 1));
                const __m128i same = _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi32(a0, a1), _mm_cmpeq_epi32(b0, b1)),
                                                   _mm_cmpeq_epi32(a0, b0));
                if (_mm_movemask_epi8(same) == 0xffff) {  // windows c..c+3 all uniform
                    c += 3;
                    continue;
                }
            }
#endif
            if (a[c] == a[c + 1] && b[c] == b[c + 1] && a[c] == b[c]) continue;
            const std::uint32_t q[4] = {a[c], a[c + 1], b[c], b[c + 1]};
            detail::count_quads(q, quads.data(), diag);
        }
    }
    cc.has_hole.assign(n + 1, false);
    for (std::size_t x = 1; x <= n; ++x) cc.has_hole[x] = quads[x] < 4;
}


// Labels a dense row-major slice of label values (0 = background) into `cc`,
// reusing its memory.
inline void label_components(const std::uint32_t* lab, std::int64_t rows, std::int64_t cols, int connectivity,
                             Components& cc) {
    cc.rows = rows;
    cc.cols = cols;
    cc.id.resize(static_cast<std::size_t>(rows * cols));  // every entry is written below
    detail::UnionFind uf(cc.parent);
    std::uint32_t* prov = cc.id.data();

    for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t c = 0; c < cols; ++c) {
            const std::int64_t i = r * cols + c;
            const std::uint32_t v = lab[i];
            if (v == 0) {
                prov[i] = 0;
                continue;
            }
            const bool w = c > 0 && lab[i - 1] == v;
            const bool nn = r > 0 && lab[i - cols] == v;
            std::uint32_t cur = 0;
            if (connectivity == 8) {
                // Decision tree: N touches W, NW and NE, and W touches NW, so
                // only W/NW with NE can be separate sets needing a union.
                const bool nw = r > 0 && c > 0 && lab[i - cols - 1] == v;
                const bool ne = r > 0 && c + 1 < cols && lab[i - cols + 1] == v;
                if (nn) cur = prov[i - cols];
                else if (w) cur = ne ? uf.unite(prov[i - 1], prov[i - cols + 1]) : prov[i - 1];
                else if (nw) cur = ne ? uf.unite(prov[i - cols - 1], prov[i - cols + 1]) : prov[i - cols - 1];
                else if (ne) cur = prov[i - cols + 1];
            } else {
                if (nn && w) cur = uf.unite(prov[i - cols], prov[i - 1]);
                else if (nn) cur = prov[i - cols];
                else if (w) cur = prov[i - 1];
            }
            prov[i] = cur ? cur : uf.make();
        }
    }

    // Provisional ids were made in raster order, so numbering the roots in
    // that order numbers components by their first pixel.
    std::vector<std::uint32_t>& final_id = cc.final_id;
    final_id.assign(uf.size(), 0);
    std::uint32_t n = 0;
    for (std::size_t k = 1; k < uf.size(); ++k) {
        const std::uint32_t root = uf.find(static_cast<std::uint32_t>(k));
        final_id[k] = root == k ? ++n : final_id[root];
    }

    cc.label.assign(n + 1, 0);
    cc.area.assign(n + 1, 0);
    cc.row0.assign(n + 1, 0);
    cc.col0.assign(n + 1, 0);
    cc.row1.assign(n + 1, 0);
    cc.col1.assign(n + 1, 0);
    for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t c = 0; c < cols; ++c) {
            const std::int64_t i = r * cols + c;
            if (prov[i] == 0) continue;
            const std::uint32_t x = final_id[prov[i]];
            prov[i] = x;
            if (cc.area[x]++ == 0) {
                cc.label[x] = lab[i];
                cc.row0[x] = static_cast<std::int32_t>(r);
                cc.row1[x] = static_cast<std::int32_t>(r + 1);
                cc.col0[x] = static_cast<std::int32_t>(c);
                cc.col1[x] = static_cast<std::int32_t>(c + 1);
            } else {
                cc.row1[x] = static_cast<std::int32_t>(r + 1);
                if (c < cc.col0[x]) cc.col0[x] = static_cast<std::int32_t>(c);
                if (c + 1 > cc.col1[x]) cc.col1[x] = static_cast<std::int32_t>(c + 1);
            }
        }
    }
}

}  // namespace samed2d
