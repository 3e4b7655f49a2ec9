#include <cstdint>
#include <string>
#include <vector>

#include "register.hpp"
#include "samed2d/png.hpp"

namespace {

using samed2d::png::MaskDeflater;

// Pushes the 0/255 runs of one row of `width` values, `on(c)` telling which are set.
template <class On>
void push_row_runs(MaskDeflater& d, std::int64_t c0, std::int64_t c1, std::int64_t width, On&& on) {
    d.push(0, static_cast<std::uint64_t>(c0));
    std::int64_t c = c0;
    while (c < c1) {
        const bool v = on(c);
        std::int64_t end = c + 1;
        while (end < c1 && on(end) == v) ++end;
        d.push(v ? 255 : 0, static_cast<std::uint64_t>(end - c));
        c = end;
    }
    d.push(0, static_cast<std::uint64_t>(width - c1));
}

// PNG bytes of a 2D mask (any integer or bool dtype, any strides): non-zero -> 255.
py::bytes encode_mask_png(const py::array& mask) {
    const samed2d::Strided2D view = as_strided2d(mask);
    const auto kind = mask.dtype().kind();
    if (kind != 'b' && kind != 'u' && kind != 'i') {
        throw py::type_error("encode_mask_png: expected a bool or integer mask, got " + dtype_name(mask.dtype()));
    }
    const auto itemsize = static_cast<std::size_t>(mask.itemsize());
    std::string png;
    {
        py::gil_scoped_release release;
        png = samed2d::png::encode_binary_png(view.rows, view.cols, [&](std::int64_t r, MaskDeflater& d) {
            const char* row = view.data + r * view.row_stride;
            push_row_runs(d, 0, view.cols, view.cols, [&](std::int64_t c) {
                const char* p = row + c * view.col_stride;
                for (std::size_t k = 0; k < itemsize; ++k) {
                    if (p[k] != 0) return true;
                }
                return false;
            });
        });
    }
    return py::bytes(png);
}

// PNG bytes of every instance of a slice_instances result, built from the
// component id image and each instance's member components and box.
py::list instance_mask_pngs(const py::array_t<std::uint32_t, py::array::c_style>& components,
                                          const py::array_t<std::int64_t, py::array::c_style>& member_offsets,
                                          const py::array_t<std::uint32_t, py::array::c_style>& member_components,
                                          const py::array_t<std::int32_t, py::array::c_style>& bbox) {
    if (components.ndim() != 2 || bbox.ndim() != 2 || bbox.shape(1) != 4 || member_offsets.ndim() != 1 ||
        bbox.shape(0) + 1 != member_offsets.shape(0)) {
        throw py::value_error("instance_mask_pngs: inconsistent slice_instances arrays");
    }
    const std::int64_t rows = components.shape(0), cols = components.shape(1);
    const std::uint32_t* ids = components.data();
    const std::int64_t* offsets = member_offsets.data();
    const std::uint32_t* members = member_components.data();
    const std::int32_t* boxes = bbox.data();
    const auto n = static_cast<std::size_t>(bbox.shape(0));
    const auto n_members = static_cast<std::int64_t>(member_components.size());
    for (std::size_t i = 0; i < n; ++i) {
        const std::int32_t* b = boxes + 4 * i;
        if (offsets[i] < 0 || offsets[i] > offsets[i + 1] || offsets[i + 1] > n_members || b[0] < 0 ||
            b[1] < 0 || b[0] > b[2] || b[1] > b[3] || b[2] > rows || b[3] > cols) {
            throw py::value_error("instance_mask_pngs: instance box or members out of range");
        }
    }
    std::vector<std::string> pngs(n);
    {
        py::gil_scoped_release release;
        std::uint32_t max_id = 0;
        for (std::int64_t k = 0; k < n_members; ++k) max_id = std::max(max_id, members[k]);
        std::vector<std::uint8_t> is_member(static_cast<std::size_t>(max_id) + 1, 0);
        for (std::size_t i = 0; i < n; ++i) {
            const std::int32_t* b = boxes + 4 * i;
            for (std::int64_t k = offsets[i]; k < offsets[i + 1]; ++k) is_member[members[k]] = 1;
            auto on = [&](const std::uint32_t* row, std::int64_t c) {
                return row[c] <= max_id && is_member[row[c]] != 0;
            };
            pngs[i] = samed2d::png::encode_binary_png(rows, cols, [&](std::int64_t r, MaskDeflater& d) {
                if (r < b[0] || r >= b[2]) {
                    d.push(0, static_cast<std::uint64_t>(cols));
                    return;
                }
                const std::uint32_t* row = ids + r * cols;
                push_row_runs(d, b[1], b[3], cols, [&](std::int64_t c) { return on(row, c); });
            });
            for (std::int64_t k = offsets[i]; k < offsets[i + 1]; ++k) is_member[members[k]] = 0;
        }
    }
    py::list out;
    for (const std::string& p : pngs) out.append(py::bytes(p));
    return out;
}

}  // namespace

void register_png(py::module_& m) {
    m.def("encode_mask_png", &encode_mask_png, py::arg("mask"),
          "8-bit grey PNG of a 2D mask: non-zero pixels are 255, the others 0.");
    m.def("instance_mask_pngs", &instance_mask_pngs, py::arg("components"), py::arg("member_offsets"),
          py::arg("member_components"), py::arg("bbox"),
          "Mask PNGs of every instance of a slice_instances result, without building the masks.");
}
