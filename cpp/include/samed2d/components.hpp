// Connected components of every label of a 2D slice at once (SPEC section 4.1-4.2).
//
// Runs of one label, joined by union-find over provisional ids: neighbouring runs
// join when they carry the same non-zero label, so one labelling splits the
// slice into per-class foregrounds and their components together.
//
// Invariants the rest of the pipeline relies on:
// * Final ids run 1..n in the order of each component's first pixel in
//   row-major order; SPEC's output order is therefore the id order.
// * A set's root is its smallest provisional id, which was created at the
//   component's first pixel; that is what makes the id order above cheap.
// * Per component: label, area, half-open bounding box, and whether it has a hole
//   (its Euler number, counted with the component's connectivity against the
//   complementary one for the background): consolidation needs it, nothing else.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace samed2d {

namespace detail {

// A horizontal run of one non-zero label: columns [start, end) of its row.
struct Run {
    std::int32_t start, end;
    std::uint32_t label;
    std::uint32_t prov;   // provisional id, the final id once labelled
    std::uint32_t edges;  // same-label runs of the row above that it touches
};

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

// The end of the run of `v` that starts at column c of `row` (cols entries).
inline std::int64_t run_end(const std::uint32_t* row, std::int64_t c, std::int64_t cols, std::uint32_t v) {
    std::int64_t e = c + 1;
#if defined(__SSE2__)
    const __m128i want = _mm_set1_epi32(static_cast<int>(v));
    while (e + 4 <= cols) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + e));
        const int same = _mm_movemask_epi8(_mm_cmpeq_epi32(x, want));
        if (same != 0xffff) return e + __builtin_ctz(~same & 0xffff) / 4;
        e += 4;
    }
#endif
    while (e < cols && row[e] == v) ++e;
    return e;
}

// Calls fn(k) for each run k in [j, end) of the row above (sorted, disjoint) that
// touches columns [s, e): ps <= e - reach and s <= pe - reach (reach 0 lets a diagonal
// corner touch, 1 needs overlapping columns). Advances j past runs that end before s, so
// a row's runs, visited left to right, sweep the row above once.
template <class Fn>
void for_each_touching(const std::vector<Run>& runs, std::size_t& j, std::size_t end, std::int32_t s,
                       std::int32_t e, std::int32_t reach, Fn&& fn) {
    while (j < end && runs[j].end - reach < s) ++j;
    for (std::size_t k = j; k < end && runs[k].start <= e - reach; ++k) fn(k);
}

}  // namespace detail

struct Components {
    std::int64_t rows = 0;
    std::int64_t cols = 0;
    // Indexed by id; entry 0 is unused so that id can index directly.
    std::vector<std::uint32_t> label;
    std::vector<std::int64_t> area;
    std::vector<std::int32_t> row0, col0, row1, col1;
    std::vector<bool> has_hole;
    // The runs in raster order (prov holds the final id once labelled), and where
    // each row's runs begin (rows + 1 entries).
    std::vector<detail::Run> runs;
    std::vector<std::size_t> row_begin;
    // Labelling scratch, kept here so that a reused Components allocates nothing.
    std::vector<std::uint32_t> parent, final_id;
    std::vector<std::int64_t> euler;

    std::size_t count() const { return label.empty() ? 0 : label.size() - 1; }
};

// Labels a dense row-major slice of label values (0 = background) into `cc`,
// reusing its memory.
//
// Run-based: each row is cut into runs of one label, and a run joins the runs of the
// row above with its label that it touches (8-connectivity: overlapping columns or a
// diagonal corner; 4: overlapping columns). The pixel work is a scan for where the
// label changes; the union-find sees runs, not pixels, and the id image is written
// only when it is asked for (write_ids).
// Holes come from the same graph: a component's Euler number is its runs minus its
// touching run pairs (the run graph has one independent cycle per hole), so
// has_hole = pairs >= runs, the hole counted with the complementary connectivity.
inline void label_components(const std::uint32_t* lab, std::int64_t rows, std::int64_t cols, int connectivity,
                             Components& cc) {
    cc.rows = rows;
    cc.cols = cols;
    std::vector<detail::Run>& runs = cc.runs;
    std::vector<std::size_t>& row_begin = cc.row_begin;
    runs.clear();
    row_begin.assign(static_cast<std::size_t>(rows) + 1, 0);
    detail::UnionFind uf(cc.parent);
    const std::int32_t reach = connectivity == 8 ? 0 : 1;  // see for_each_touching

    for (std::int64_t r = 0; r < rows; ++r) {
        const std::uint32_t* row = lab + r * cols;
        const std::size_t above_begin = r > 0 ? row_begin[static_cast<std::size_t>(r - 1)] : 0;
        const std::size_t above_end = runs.size();
        row_begin[static_cast<std::size_t>(r)] = runs.size();
        std::size_t j = above_begin;  // the first run above that may touch the current one
        for (std::int64_t c = 0; c < cols;) {
            const std::uint32_t v = row[c];
            const std::int64_t e = detail::run_end(row, c, cols, v);
            if (v != 0) {
                detail::Run run{static_cast<std::int32_t>(c), static_cast<std::int32_t>(e), v, 0, 0};
                detail::for_each_touching(runs, j, above_end, run.start, run.end, reach, [&](std::size_t k) {
                    if (runs[k].label != v) return;
                    ++run.edges;
                    run.prov = run.prov ? uf.unite(run.prov, runs[k].prov) : runs[k].prov;
                });
                if (run.prov == 0) run.prov = uf.make();
                runs.push_back(run);
            }
            c = e;
        }
    }
    row_begin[static_cast<std::size_t>(rows)] = runs.size();

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
    std::vector<std::int64_t>& euler = cc.euler;  // runs minus touching pairs
    euler.assign(n + 1, 0);
    for (std::int64_t r = 0; r < rows; ++r) {
        for (std::size_t k = row_begin[static_cast<std::size_t>(r)]; k < row_begin[static_cast<std::size_t>(r + 1)]; ++k) {
            detail::Run& run = runs[k];
            const std::uint32_t x = final_id[run.prov];
            run.prov = x;  // from here on: the final id
            euler[x] += 1 - static_cast<std::int64_t>(run.edges);
            if (cc.area[x] == 0) {
                cc.label[x] = run.label;
                cc.row0[x] = static_cast<std::int32_t>(r);
                cc.col0[x] = run.start;
                cc.col1[x] = run.end;
            } else {
                cc.col0[x] = std::min(cc.col0[x], run.start);
                cc.col1[x] = std::max(cc.col1[x], run.end);
            }
            cc.row1[x] = static_cast<std::int32_t>(r + 1);
            cc.area[x] += run.end - run.start;
        }
    }
    cc.has_hole.assign(n + 1, false);
    for (std::size_t x = 1; x <= n; ++x) cc.has_hole[x] = euler[x] < 1;
}

// The component id image (rows x cols, row-major, 0 = background) into `out`; Id is
// wide enough for cc.count().
template <class Id>
void write_ids(const Components& cc, Id* out) {
    for (std::int64_t r = 0; r < cc.rows; ++r) {
        Id* row = out + r * cc.cols;
        std::int32_t filled = 0;
        for (std::size_t k = cc.row_begin[static_cast<std::size_t>(r)]; k < cc.row_begin[static_cast<std::size_t>(r) + 1];
             ++k) {
            const detail::Run& run = cc.runs[k];
            std::fill(row + filled, row + run.start, Id{0});
            std::fill(row + run.start, row + run.end, static_cast<Id>(run.prov));
            filled = run.end;
        }
        std::fill(row + filled, row + cc.cols, Id{0});
    }
}

}  // namespace samed2d
