// The private compiled module samed2d_fast._core. One register_* file per area.
#include <pybind11/pybind11.h>

#include "register.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() = "C++ kernels of samed2d_fast (private; use the samed2d_fast package)";
    register_normalize(m);
    register_slicing(m);
    register_instances(m);
    register_png(m);
    register_paint(m);
}
