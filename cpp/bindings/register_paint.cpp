#include <cstdint>
#include <string>
#include <tuple>

#include "register.hpp"
#include "samed2d/paint.hpp"

namespace {

using Result = std::tuple<std::uint64_t, std::uint64_t, py::object, py::object>;

template <class M, class L>
Result run(const py::array& mask, py::array& labels, std::uint64_t value) {
    const auto* m = static_cast<const M*>(mask.data());
    auto* l = static_cast<L*>(labels.mutable_data());
    const auto n = static_cast<std::size_t>(mask.size());
    samed2d::PaintResult<M> r;
    {
        py::gil_scoped_release release;
        r = samed2d::paint_mask<M, L>(m, l, n, static_cast<L>(value));
    }
    return {r.overlaps, r.painted, py::int_(r.lo), py::int_(r.hi)};
}

template <class L>
Result by_mask(const py::array& mask, py::array& labels, std::uint64_t value) {
    const py::dtype dt = mask.dtype();
    const char kind = dt.kind();
    switch (kind == 'i' ? -static_cast<int>(dt.itemsize()) : kind == 'u' ? static_cast<int>(dt.itemsize()) : 0) {
        case 1: return run<std::uint8_t, L>(mask, labels, value);
        case 2: return run<std::uint16_t, L>(mask, labels, value);
        case 4: return run<std::uint32_t, L>(mask, labels, value);
        case 8: return run<std::uint64_t, L>(mask, labels, value);
        case -1: return run<std::int8_t, L>(mask, labels, value);
        case -2: return run<std::int16_t, L>(mask, labels, value);
        case -4: return run<std::int32_t, L>(mask, labels, value);
        case -8: return run<std::int64_t, L>(mask, labels, value);
    }
    throw py::type_error("paint_mask: mask of dtype " + dtype_name(dt) + " (expected integers)");
}

// A contiguous array whose start is a multiple of its item size: every value is aligned.
bool aligned(const py::array& a) {
    return reinterpret_cast<std::uintptr_t>(a.data()) % static_cast<std::uintptr_t>(a.itemsize()) == 0;
}

bool same_layout(const py::array& a, const py::array& b) {
    if (a.ndim() != b.ndim()) return false;
    for (py::ssize_t k = 0; k < a.ndim(); ++k) {
        if (a.shape(k) != b.shape(k)) return false;
    }
    const auto c = py::array::c_style, f = py::array::f_style;
    return ((a.flags() & c) && (b.flags() & c)) || ((a.flags() & f) && (b.flags() & f));
}

// Paints ``value`` into ``labels`` where ``mask`` is not 0; returns (overlaps, painted, lo, hi).
// ``labels`` must be a numpy array already: a converted copy would take the paint and be lost.
Result paint_mask(const py::array& mask, const py::object& labels_object, std::uint64_t value) {
    if (!py::isinstance<py::array>(labels_object)) {
        throw py::type_error("paint_mask: labels must be a numpy array");
    }
    py::array labels = py::reinterpret_borrow<py::array>(labels_object);
    if (!aligned(mask) || !aligned(labels)) {
        throw py::value_error("paint_mask: arrays must be aligned to their item size");
    }
    if (!same_layout(mask, labels)) {
        throw py::value_error("paint_mask: mask and labels must have one shape and both be C- or both "
                              "Fortran-contiguous");
    }
    if (!labels.writeable()) throw py::value_error("paint_mask: labels must be writeable");
    if (is_swapped(mask.dtype()) || is_swapped(labels.dtype())) {
        throw py::value_error("paint_mask: arrays must be in this machine's byte order");
    }
    const py::dtype lt = labels.dtype();
    if (lt.kind() == 'u') {
        switch (lt.itemsize()) {
            case 1: if (value <= 0xFFu) return by_mask<std::uint8_t>(mask, labels, value); break;
            case 2: if (value <= 0xFFFFu) return by_mask<std::uint16_t>(mask, labels, value); break;
            case 4: if (value <= 0xFFFFFFFFu) return by_mask<std::uint32_t>(mask, labels, value); break;
        }
        throw py::value_error("paint_mask: value " + std::to_string(value) + " does not fit labels of dtype " +
                              dtype_name(lt));
    }
    throw py::type_error("paint_mask: labels of dtype " + dtype_name(lt) + " (expected uint8, uint16 or uint32)");
}

}  // namespace

void register_paint(py::module_& m) {
    m.def("paint_mask", &paint_mask, py::arg("mask"), py::arg("labels"), py::arg("value"),
          "Paints value into labels where mask is not 0 (SPEC section 8); returns (overlaps, painted, "
          "mask minimum, mask maximum).");
}
