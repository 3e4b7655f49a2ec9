#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "register.hpp"
#include "samed2d/normalize.hpp"
#include "samed2d/normalize_release.hpp"

namespace {

using samed2d::Simd;

constexpr Simd every_simd[] = {Simd::portable, Simd::sse2, Simd::avx2};

// The paths this CPU runs, slowest first.
py::list simd_paths() {
    py::list names;
    for (const Simd s : every_simd) {
        if (s <= samed2d::best_simd()) names.append(samed2d::simd_name(s));
    }
    return names;
}

// The best path this CPU runs, capped by SAMED2D_SIMD (portable, sse2 or avx2): tests
// run each path, and a user can rule out a vector path.
Simd chosen_simd() {
    const Simd best = samed2d::best_simd();
    const char* cap = std::getenv("SAMED2D_SIMD");
    if (cap == nullptr || *cap == '\0') return best;
    for (const Simd s : every_simd) {
        if (std::string(cap) == samed2d::simd_name(s)) return std::min(s, best);
    }
    throw py::value_error("SAMED2D_SIMD=" + std::string(cap) + ": expected portable, sse2 or avx2");
}

template <class T>
void run(const char* in, std::size_t n, std::uint8_t* out, bool swap, Simd simd) {
    if (swap) samed2d::normalize<T, true>(in, n, out, simd);
    else samed2d::normalize<T, false>(in, n, out, simd);
}

using Kernel = void (*)(const char*, std::size_t, std::uint8_t*, bool, Simd);

// Pick::get<T>() for the C++ type of a numpy dtype kind and item size (every integer,
// float16/32/64), or nullptr: the one dtype dispatch of both normalisations.
template <class Pick>
auto kernel_for(char kind, py::ssize_t size) -> decltype(Pick::template get<std::int8_t>()) {
    if (kind == 'i') {
        switch (size) {
            case 1: return Pick::template get<std::int8_t>();
            case 2: return Pick::template get<std::int16_t>();
            case 4: return Pick::template get<std::int32_t>();
            case 8: return Pick::template get<std::int64_t>();
        }
    } else if (kind == 'u') {
        switch (size) {
            case 1: return Pick::template get<std::uint8_t>();
            case 2: return Pick::template get<std::uint16_t>();
            case 4: return Pick::template get<std::uint32_t>();
            case 8: return Pick::template get<std::uint64_t>();
        }
    } else if (kind == 'f') {
        switch (size) {
            case 2: return Pick::template get<samed2d::Half>();
            case 4: return Pick::template get<float>();
            case 8: return Pick::template get<double>();
        }
    }
    return nullptr;
}

struct PickNormalize {
    template <class T>
    static Kernel get() { return run<T>; }
};

// The uint8 array normalize writes: a new one of a's shape and memory order, or `out`
// when it is one (writable, not sharing memory with a).
py::array output_for(const py::array& a, bool fortran, const py::object& out) {
    std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
    if (out.is_none()) {
        return fortran ? py::array(py::array_t<std::uint8_t, py::array::f_style>(shape))
                       : py::array(py::array_t<std::uint8_t, py::array::c_style>(shape));
    }
    const auto given = py::reinterpret_borrow<py::array>(out);
    const bool fits = py::isinstance<py::array>(out) && given.dtype().is(py::dtype::of<std::uint8_t>()) &&
                      std::vector<py::ssize_t>(given.shape(), given.shape() + given.ndim()) == shape &&
                      (given.flags() & (fortran ? py::array::f_style : py::array::c_style)) && given.writeable();
    if (!fits) {
        throw py::value_error(std::string("normalize: out must be a writable ") + (fortran ? "Fortran" : "C") +
                              "-ordered uint8 array of the input's shape " +
                              py::str(a.attr("shape")).cast<std::string>());
    }
    if (py::module_::import("numpy").attr("may_share_memory")(a, given).cast<bool>()) {
        throw py::value_error("normalize: out must not share memory with the input");
    }
    return given;
}

// Normalises a C- or Fortran-contiguous array into a uint8 array of the same
// shape and memory order; anything else is made C-contiguous first.
py::array normalize(py::array a, const py::object& out_arg) {
    const py::dtype dt = a.dtype();
    const Kernel kernel = kernel_for<PickNormalize>(dt.kind(), dt.itemsize());
    if (kernel == nullptr) {
        throw py::type_error("normalize: unsupported dtype " + dtype_name(dt) +
                             " (expected an integer or float16/32/64 array)");
    }
    const bool fortran = !(a.flags() & py::array::c_style) && (a.flags() & py::array::f_style);
    if (!(a.flags() & (py::array::c_style | py::array::f_style))) {
        a = py::array::ensure(a, py::array::c_style);
    }
    py::array out = output_for(a, fortran, out_arg);
    const bool swap = is_swapped(dt);
    const Simd simd = chosen_simd();
    const char* in = static_cast<const char*>(a.data());
    auto* dst = static_cast<std::uint8_t*>(out.mutable_data());
    const auto n = static_cast<std::size_t>(a.size());
    std::string overflow;
    {
        py::gil_scoped_release release;
        try {
            kernel(in, n, dst, swap, simd);
        } catch (const std::overflow_error& e) {
            overflow = e.what();
        }
    }
    if (!overflow.empty()) throw py::value_error("normalize: " + overflow);
    return out;
}

template <class T>
void run_release(const samed2d::Strided2D& in, double slope, double inter, std::uint8_t* out, bool swap, Simd simd) {
    if (swap) samed2d::normalize_release<T, true>(in, slope, inter, out, simd);
    else samed2d::normalize_release<T, false>(in, slope, inter, out, simd);
}

using ReleaseKernel = void (*)(const samed2d::Strided2D&, double, double, std::uint8_t*, bool, Simd);

struct PickRelease {
    template <class T>
    static ReleaseKernel get() { return run_release<T>; }
};

// The release preset's normalisation of a 2D slice (any strides, any integer or
// float dtype, either byte order) scaled by x * slope + inter: a C-contiguous uint8 array.
py::array normalize_release(const py::array& a, double slope, double inter) {
    const py::dtype dt = a.dtype();
    const ReleaseKernel kernel = kernel_for<PickRelease>(dt.kind(), dt.itemsize());
    if (kernel == nullptr) {
        throw py::type_error("normalize_release: unsupported dtype " + dtype_name(dt) +
                             " (expected an integer or float16/32/64 array)");
    }
    const samed2d::Strided2D view = as_strided2d(a);
    py::array_t<std::uint8_t, py::array::c_style> out({view.rows, view.cols});
    auto* dst = out.mutable_data();
    const bool swap = is_swapped(dt);
    const Simd simd = chosen_simd();
    std::string overflow;
    {
        py::gil_scoped_release release;
        try {
            kernel(view, slope, inter, dst, swap, simd);
        } catch (const std::overflow_error& e) {
            overflow = e.what();
        }
    }
    if (!overflow.empty()) throw py::value_error("normalize_release: " + overflow);
    return out;
}

}  // namespace

void register_normalize(py::module_& m) {
    m.def("normalize_release", &normalize_release, py::arg("slice"), py::arg("slope") = 1.0, py::arg("inter") = 0.0,
          "The release preset's per-slice normalisation (SPEC section 7) of a 2D slice of x * slope + inter, "
          "on the vector path simd_path() names.");
    m.def("normalize", &normalize, py::arg("array"), py::arg("out") = py::none(),
          "Self-Min-Max normalisation of a whole array to uint8 (SPEC section 2), into a new array or "
          "into out, on the vector path simd_path() names.");
    m.def("simd_paths", &simd_paths, "The normalisation paths this CPU runs, slowest first.");
    m.def("simd_path", [] { return std::string(samed2d::simd_name(chosen_simd())); },
          "The path normalize takes: the best in simd_paths(), capped by the SAMED2D_SIMD environment variable.");
}
