// Shared helpers of the binding files: casting and validating numpy buffers.
// Every check happens here, under the GIL, before a kernel releases it.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "samed2d/strided.hpp"

namespace py = pybind11;

void register_normalize(py::module_& m);
void register_slicing(py::module_& m);
void register_instances(py::module_& m);
void register_png(py::module_& m);
void register_paint(py::module_& m);

// True when the dtype's bytes are in the opposite order of this machine's.
inline bool is_swapped(const py::dtype& dt) {
    const char order = dt.byteorder();
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return order == '<';
#else
    return order == '>';
#endif
}

inline std::string dtype_name(const py::dtype& dt) { return py::str(dt).cast<std::string>(); }

// A 2D array as a strided window (byte strides, any sign).
inline samed2d::Strided2D as_strided2d(const py::array& a) {
    if (a.ndim() != 2) {
        throw py::value_error("expected a 2D array, got " + std::to_string(a.ndim()) + " dimensions");
    }
    samed2d::Strided2D s;
    s.data = static_cast<const char*>(a.data());
    s.rows = a.shape(0);
    s.cols = a.shape(1);
    s.row_stride = a.strides(0);
    s.col_stride = a.strides(1);
    return s;
}
