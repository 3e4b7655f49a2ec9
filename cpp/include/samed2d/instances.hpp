// The masks of one 2D label slice (SPEC section 4), in one call:
// labelling, containment, the small-mask filter and the output order.
//
// Output is compact: the component id image plus, per emitted instance, the
// component ids whose union is its mask. Callers build a boolean mask (or
// encode a PNG) from that only when they need it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "components.hpp"
#include "consolidate.hpp"
#include "strided.hpp"

namespace samed2d {

enum class Consolidate { Outer, Union, Off };

struct Instance {
    std::uint32_t component;  // the original component the instance grows from
    std::uint32_t label;
    bool is_union;            // the extra united instance of mode Union
    std::int64_t area;
    std::int32_t bbox[4];     // row0, col0, row1, col1 (half-open)
    std::size_t members_begin, members_end;  // into SliceInstances::member_components
    std::size_t labels_begin, labels_end;    // into SliceInstances::member_labels
};

// The result of one slice; a reused SliceInstances allocates (almost) nothing.
struct SliceInstances {
    Components components;
    std::vector<Instance> instances;
    std::vector<std::uint32_t> member_components;  // own component first, then enclosed ascending
    std::vector<std::uint32_t> member_labels;      // own label first, then enclosed labels ascending, unique
    Enclosures enclosures;                         // scratch
    std::vector<std::uint32_t> labels;             // scratch
};

// Copies a strided label slice into dense uint32, rejecting values outside [0, 2^32-1].
template <class L>
void dense_labels(const Strided2D& view, std::vector<std::uint32_t>& out) {
    out.resize(static_cast<std::size_t>(view.rows * view.cols));
    std::size_t i = 0;
    for (std::int64_t r = 0; r < view.rows; ++r) {
        const char* row = view.data + r * view.row_stride;
        for (std::int64_t c = 0; c < view.cols; ++c) {
            const L v = load<L, false>(row + c * view.col_stride);
            if constexpr (std::is_signed_v<L>) {
                if (v < 0) throw std::invalid_argument("negative label value " + std::to_string(v));
            }
            if constexpr (sizeof(L) > 4) {
                if (static_cast<std::uint64_t>(v) > std::numeric_limits<std::uint32_t>::max()) {
                    throw std::invalid_argument("label value " + std::to_string(v) + " above 2^32-1");
                }
            }
            out[i++] = static_cast<std::uint32_t>(v);
        }
    }
}

inline void slice_instances(const std::uint32_t* lab, std::int64_t rows, std::int64_t cols, int connectivity,
                            Consolidate mode, double min_area_ratio, SliceInstances& out) {
    label_components(lab, rows, cols, connectivity, out.components);
    out.instances.clear();
    out.member_components.clear();
    out.member_labels.clear();
    Enclosures& enc = out.enclosures;
    if (mode != Consolidate::Off) find_enclosures(out.components, connectivity, enc);
    const Components& cc = out.components;
    const double min_area = min_area_ratio * static_cast<double>(rows * cols);
    std::vector<std::uint32_t>& labels = out.labels;

    auto emit = [&](std::uint32_t b, bool is_union, const std::uint32_t* extra, std::size_t n_extra) {
        std::int64_t area = cc.area[b];
        for (std::size_t k = 0; k < n_extra; ++k) area += cc.area[extra[k]];
        if (static_cast<double>(area) < min_area) return;
        Instance inst;
        inst.component = b;
        inst.label = cc.label[b];
        inst.is_union = is_union;
        inst.area = area;
        // Enclosed pixels lie in b's holes, so b's box is the united mask's box.
        inst.bbox[0] = cc.row0[b];
        inst.bbox[1] = cc.col0[b];
        inst.bbox[2] = cc.row1[b];
        inst.bbox[3] = cc.col1[b];
        inst.members_begin = out.member_components.size();
        out.member_components.push_back(b);
        out.member_components.insert(out.member_components.end(), extra, extra + n_extra);
        inst.members_end = out.member_components.size();
        labels.clear();
        for (std::size_t k = 0; k < n_extra; ++k) labels.push_back(cc.label[extra[k]]);
        std::sort(labels.begin(), labels.end());
        labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
        inst.labels_begin = out.member_labels.size();
        out.member_labels.push_back(cc.label[b]);
        out.member_labels.insert(out.member_labels.end(), labels.begin(), labels.end());
        inst.labels_end = out.member_labels.size();
        out.instances.push_back(inst);
    };

    // Ids are in first-pixel order, which is SPEC's output order.
    for (std::uint32_t b = 1; b <= cc.count(); ++b) {
        const std::uint32_t* extra = nullptr;
        std::size_t n_extra = 0;
        if (mode != Consolidate::Off) {
            extra = enc.ids.data() + enc.offsets[b];
            n_extra = enc.offsets[b + 1] - enc.offsets[b];
        }
        if (mode == Consolidate::Outer) {
            emit(b, false, extra, n_extra);
        } else {
            emit(b, false, nullptr, 0);
            if (n_extra > 0) emit(b, true, extra, n_extra);
        }
    }
}

}  // namespace samed2d
