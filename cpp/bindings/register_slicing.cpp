#include <cstdint>
#include <vector>

#include "register.hpp"
#include "samed2d/slicing.hpp"

namespace {

using Copy = void (*)(const char*, const std::int64_t*, const std::ptrdiff_t*, int, std::int64_t, std::int64_t,
                      char*);

Copy copy_for(py::ssize_t itemsize) {
    switch (itemsize) {
        case 1: return samed2d::copy_display_slices<1>;
        case 2: return samed2d::copy_display_slices<2>;
        case 4: return samed2d::copy_display_slices<4>;
        case 8: return samed2d::copy_display_slices<8>;
    }
    return nullptr;
}

// Slices [start, stop) along `axis` of a 3D array, each S.T[::-1, ::-1] (SPEC
// section 3), as one dense (stop - start, rows, cols) array read through strides.
py::array display_slices(const py::array& volume, int axis, std::int64_t start, std::int64_t stop) {
    if (volume.ndim() != 3) {
        throw py::value_error("display_slices: expected a 3D array, got " + std::to_string(volume.ndim()) +
                              " dimensions");
    }
    if (axis < 0 || axis > 2) throw py::value_error("axis must be 0, 1 or 2");
    const std::int64_t shape[3] = {volume.shape(0), volume.shape(1), volume.shape(2)};
    if (start < 0 || stop > shape[axis] || start >= stop) {
        throw py::index_error("display_slices: need 0 <= start < stop <= " + std::to_string(shape[axis]));
    }
    // Bytes are copied as they are: only plain numbers may be, never object pointers
    // (reference counts) nor types the pipeline never slices.
    const char kind = volume.dtype().kind();
    const Copy copy = kind == 'b' || kind == 'i' || kind == 'u' || kind == 'f' ? copy_for(volume.itemsize()) : nullptr;
    if (copy == nullptr) {
        throw py::type_error("display_slices: unsupported dtype " + dtype_name(volume.dtype()) +
                             " (expected a bool, integer or float16/32/64 array)");
    }
    const std::ptrdiff_t strides[3] = {volume.strides(0), volume.strides(1), volume.strides(2)};
    const int p = axis == 0 ? 1 : 0, q = axis == 2 ? 1 : 2;
    py::array out(volume.dtype(), std::vector<py::ssize_t>{stop - start, shape[q], shape[p]});
    const char* base = static_cast<const char*>(volume.data());
    char* dst = static_cast<char*>(out.mutable_data());
    {
        py::gil_scoped_release release;
        copy(base, shape, strides, axis, start, stop, dst);
    }
    return out;
}

}  // namespace

void register_slicing(py::module_& m) {
    m.def("display_slices", &display_slices, py::arg("volume"), py::arg("axis"), py::arg("start"), py::arg("stop"),
          "Slices [start, stop) of V along axis, each as S.T[::-1, ::-1] (SPEC section 3), in one dense array.");
}
