#include <cstdint>
#include <string>

#include "register.hpp"
#include "samed2d/mask_png.hpp"
#include "samed2d/up_filter.hpp"

namespace {

// PNG bytes of a 2D mask (any integer or bool dtype, any strides): non-zero -> 255.
py::bytes encode_mask_png(const py::array& mask) {
    const samed2d::Strided2D view = as_strided2d(mask);
    const auto kind = mask.dtype().kind();
    if (kind != 'b' && kind != 'u' && kind != 'i') {
        throw py::type_error("encode_mask_png: expected a bool or integer mask, got " + dtype_name(mask.dtype()));
    }
    const auto itemsize = static_cast<std::size_t>(mask.itemsize());
    const bool dense_bytes = itemsize == 1 && view.col_stride == 1;
    std::string png;
    {
        py::gil_scoped_release release;
        png = samed2d::png::encode_binary_png(view.rows, view.cols, [&](std::int64_t r, samed2d::png::MaskDeflater& d) {
            const char* row = view.data + r * view.row_stride;
            if (dense_bytes) {  // bool and uint8 masks: runs found 8 bytes at a time
                samed2d::push_byte_runs(d, reinterpret_cast<const unsigned char*>(row), view.cols);
                return;
            }
            samed2d::push_row_runs(d, view.cols, [&](std::int64_t c) {
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

// The Up-filtered rows of a 2D uint8 image (any strides), each pixel written `repeat`
// times (1 or 3): a (rows, cols * repeat + 1) uint8 array.
py::array up_filter_rows(const py::array& pixels, int repeat) {
    if (!pixels.dtype().is(py::dtype::of<std::uint8_t>())) {
        throw py::type_error("up_filter_rows: expected uint8 pixels, got " + dtype_name(pixels.dtype()));
    }
    if (repeat != 1 && repeat != 3) {
        throw py::value_error("up_filter_rows: repeat must be 1 or 3, got " + std::to_string(repeat));
    }
    const samed2d::Strided2D view = as_strided2d(pixels);
    py::array_t<std::uint8_t, py::array::c_style> out({view.rows, view.cols * repeat + 1});
    auto* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        if (repeat == 1) samed2d::up_filter_rows<1>(view, dst);
        else samed2d::up_filter_rows<3>(view, dst);
    }
    return out;
}

}  // namespace

void register_png(py::module_& m) {
    m.def("up_filter_rows", &up_filter_rows, py::arg("pixels"), py::arg("repeat") = 1,
          "PNG rows of a 2D uint8 image with the Up filter, each pixel written repeat (1 or 3) times.");
    m.def("encode_mask_png", &encode_mask_png, py::arg("mask"),
          "8-bit grey PNG of a 2D mask: non-zero pixels are 255, the others 0.");
}
