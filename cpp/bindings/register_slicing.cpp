#include <cstdint>

#include "register.hpp"
#include "samed2d/slicing.hpp"

namespace {

// Copies the display-oriented slice k along `axis` of a 3D array (SPEC section 3).
py::array display_slice(const py::array& volume, int axis, std::int64_t k) {
    if (volume.ndim() != 3) {
        throw py::value_error("display_slice: expected a 3D array, got " + std::to_string(volume.ndim()) +
                              " dimensions");
    }
    const std::int64_t shape[3] = {volume.shape(0), volume.shape(1), volume.shape(2)};
    const std::ptrdiff_t strides[3] = {volume.strides(0), volume.strides(1), volume.strides(2)};
    const samed2d::Strided2D view =
        samed2d::display_slice(static_cast<const char*>(volume.data()), shape, strides, axis, k);
    py::array out(volume.dtype(), std::vector<py::ssize_t>{view.rows, view.cols});
    char* dst = static_cast<char*>(out.mutable_data());
    const auto itemsize = static_cast<std::size_t>(volume.itemsize());
    {
        py::gil_scoped_release release;
        samed2d::copy_window(view, itemsize, dst);
    }
    return out;
}

}  // namespace

void register_slicing(py::module_& m) {
    m.def("display_slice", &display_slice, py::arg("volume"), py::arg("axis"), py::arg("index"),
          "Copy of V[k,:,:], V[:,k,:] or V[:,:,k] as S.T[::-1, ::-1] (SPEC section 3), read through strides.");
}
