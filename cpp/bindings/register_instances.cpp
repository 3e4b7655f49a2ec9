#include <cstdint>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "register.hpp"
#include "samed2d/instance_masks.hpp"
#include "samed2d/mask_png.hpp"

namespace {

using samed2d::Consolidate;

Consolidate parse_mode(const std::string& mode) {
    if (mode == "outer") return Consolidate::Outer;
    if (mode == "union") return Consolidate::Union;
    if (mode == "off") return Consolidate::Off;
    throw py::value_error("consolidate must be 'outer', 'union' or 'off', got '" + mode + "'");
}

using Densify = void (*)(const samed2d::Strided2D&, std::vector<std::uint32_t>&);

Densify densify_for(char kind, py::ssize_t size) {
    if (kind == 'i') {
        switch (size) {
            case 1: return samed2d::dense_labels<std::int8_t>;
            case 2: return samed2d::dense_labels<std::int16_t>;
            case 4: return samed2d::dense_labels<std::int32_t>;
            case 8: return samed2d::dense_labels<std::int64_t>;
        }
    } else if (kind == 'u') {
        switch (size) {
            case 1: return samed2d::dense_labels<std::uint8_t>;
            case 2: return samed2d::dense_labels<std::uint16_t>;
            case 4: return samed2d::dense_labels<std::uint32_t>;
            case 8: return samed2d::dense_labels<std::uint64_t>;
        }
    }
    return nullptr;
}

template <class T>
py::array_t<T> to_numpy(const std::vector<T>& v) {
    py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
    if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(T));
    return a;
}

// Per-thread buffers reused from slice to slice: a 512x512 slice needs a few
// MB of scratch, and fresh allocations of that size cost page faults each time.
struct Workspace {
    std::vector<std::uint32_t> dense;
    samed2d::SliceInstances result;
    std::vector<std::string> pngs;
    std::vector<std::uint8_t> is_member;
};

// Returns the compact result of samed2d::slice_instances as a dict of arrays:
// the component id image when `with_components`, each mask's PNG bytes when `with_pngs`.
py::dict slice_instances(py::array label, int connectivity, const std::string& consolidate,
                         double min_area_ratio, bool with_components, bool with_pngs) {
    if (label.ndim() != 2) {
        throw py::value_error("slice_instances: expected a 2D label slice, got " + std::to_string(label.ndim()) +
                              " dimensions");
    }
    if (connectivity != 4 && connectivity != 8) {
        throw py::value_error("connectivity must be 4 or 8, got " + std::to_string(connectivity));
    }
    if (!(min_area_ratio >= 0.0 && min_area_ratio <= 1.0)) {
        throw py::value_error("min_area_ratio must be within [0, 1]");
    }
    const Consolidate mode = parse_mode(consolidate);
    py::dtype dt = label.dtype();
    const Densify densify = densify_for(dt.kind(), dt.itemsize());
    if (densify == nullptr) {
        throw py::type_error("slice_instances: label slice must have an integer dtype, got " + dtype_name(dt));
    }
    if (is_swapped(dt)) {  // one small copy of one slice in native order
        label = label.attr("astype")(dt.attr("newbyteorder")("="));
    }
    const samed2d::Strided2D view = as_strided2d(label);
    thread_local Workspace ws;
    const samed2d::SliceInstances& r = ws.result;
    {
        py::gil_scoped_release release;
        densify(view, ws.dense);
        samed2d::slice_instances(ws.dense.data(), view.rows, view.cols, connectivity, mode, min_area_ratio,
                                 ws.result);
        if (with_pngs) {
            if (view.rows > 0 && view.cols > 0) samed2d::encode_instance_pngs(ws.result, ws.pngs, ws.is_member);
            else ws.pngs.clear();
        }
    }
    const auto n = static_cast<py::ssize_t>(r.instances.size());
    py::array_t<std::uint32_t> component(n), label_of(n);
    py::array_t<bool> is_union(n);
    py::array_t<std::int64_t> area(n), member_offsets(n + 1), label_offsets(n + 1);
    py::array_t<std::int32_t> bbox({n, py::ssize_t{4}});
    auto c = component.mutable_unchecked<1>();
    auto l = label_of.mutable_unchecked<1>();
    auto u = is_union.mutable_unchecked<1>();
    auto a = area.mutable_unchecked<1>();
    auto mo = member_offsets.mutable_unchecked<1>();
    auto lo = label_offsets.mutable_unchecked<1>();
    auto b = bbox.mutable_unchecked<2>();
    mo(0) = 0;
    lo(0) = 0;
    for (py::ssize_t i = 0; i < n; ++i) {
        const samed2d::Instance& inst = r.instances[static_cast<std::size_t>(i)];
        c(i) = inst.component;
        l(i) = inst.label;
        u(i) = inst.is_union;
        a(i) = inst.area;
        for (int k = 0; k < 4; ++k) b(i, k) = inst.bbox[k];
        mo(i + 1) = static_cast<std::int64_t>(inst.members_end);
        lo(i + 1) = static_cast<std::int64_t>(inst.labels_end);
    }
    py::dict out;
    if (with_components) {  // uint16 whenever the ids fit: half the bytes to allocate and fill
        const std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(view.rows), static_cast<py::ssize_t>(view.cols)};
        if (r.components.count() <= 0xffff) {
            py::array_t<std::uint16_t> components(shape);
            samed2d::write_ids(r.components, components.mutable_data());
            out["components"] = components;
        } else {
            py::array_t<std::uint32_t> components(shape);
            samed2d::write_ids(r.components, components.mutable_data());
            out["components"] = components;
        }
    }
    if (with_pngs) {
        py::list pngs;
        for (const std::string& p : ws.pngs) pngs.append(py::bytes(p));
        out["pngs"] = pngs;
    }
    out["component"] = component;
    out["label"] = label_of;
    out["union"] = is_union;
    out["area"] = area;
    out["bbox"] = bbox;
    out["member_offsets"] = member_offsets;
    out["member_components"] = to_numpy(r.member_components);
    out["label_offsets"] = label_offsets;
    out["member_labels"] = to_numpy(r.member_labels);
    return out;
}

// The boolean masks (n x rows x cols) of the instances of slice_instances' compact
// result: its component image (uint16 or uint32), member offsets and components, boxes.
py::array instance_masks(const py::array& components, const py::array_t<std::int64_t, py::array::c_style>& offsets,
                         const py::array_t<std::uint32_t, py::array::c_style>& members,
                         const py::array_t<std::int32_t, py::array::c_style>& bbox) {
    if (components.ndim() != 2 || !(components.flags() & py::array::c_style)) {
        throw py::value_error("instance_masks: expected the C-contiguous 2D component image");
    }
    const auto n = static_cast<std::size_t>(bbox.ndim() == 2 ? bbox.shape(0) : 0);
    if (bbox.ndim() != 2 || bbox.shape(1) != 4 || static_cast<std::size_t>(offsets.size()) != n + 1 ||
        (n > 0 && (offsets.at(0) != 0 || offsets.at(n) > members.size()))) {
        throw py::value_error("instance_masks: the offsets, members and boxes do not describe the same instances");
    }
    const py::dtype dt = components.dtype();
    const bool wide = dt.kind() == 'u' && dt.itemsize() == 4;
    if (!wide && !(dt.kind() == 'u' && dt.itemsize() == 2)) {
        throw py::type_error("instance_masks: the component image must be uint16 or uint32, got " + dtype_name(dt));
    }
    const std::int64_t rows = components.shape(0), cols = components.shape(1);
    for (std::size_t i = 0; i < n; ++i) {
        const std::int32_t* b = bbox.data() + 4 * i;
        if (b[0] < 0 || b[1] < 0 || b[0] > b[2] || b[1] > b[3] || b[2] > rows || b[3] > cols ||
            offsets.at(i) > offsets.at(i + 1)) {
            throw py::value_error("instance_masks: instance " + std::to_string(i) + " lies outside the slice");
        }
    }
    // numpy.zeros: calloc'ed, so the pages outside the instances' boxes are never touched
    py::array out = py::module_::import("numpy").attr("zeros")(
        py::make_tuple(static_cast<py::ssize_t>(n), rows, cols), py::dtype("bool"));
    auto* dst = static_cast<std::uint8_t*>(out.mutable_data());
    py::gil_scoped_release release;
    if (wide) {
        samed2d::instance_masks(static_cast<const std::uint32_t*>(components.data()), rows, cols, n, offsets.data(),
                                members.data(), bbox.data(), dst);
    } else {
        samed2d::instance_masks(static_cast<const std::uint16_t*>(components.data()), rows, cols, n, offsets.data(),
                                members.data(), bbox.data(), dst);
    }
    return out;
}

}  // namespace

void register_instances(py::module_& m) {
    m.def("instance_masks", &instance_masks, py::arg("components"), py::arg("member_offsets"),
          py::arg("member_components"), py::arg("bbox"),
          "Boolean masks (n x rows x cols) of the instances of slice_instances' compact result, in one call.");
    m.def("slice_instances", &slice_instances, py::arg("label"), py::arg("connectivity") = 8,
          py::arg("consolidate") = "outer", py::arg("min_area_ratio") = 100.0 / 65536.0,
          py::arg("with_components") = true, py::arg("with_pngs") = false,
          "Instances of one 2D label slice (SPEC section 4) in compact form: per instance its label, union "
          "flag, area, bbox and member components/labels; the component id image and the masks' PNG bytes "
          "on request.");
}
