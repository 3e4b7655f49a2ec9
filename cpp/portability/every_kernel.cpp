// Every kernel of cpp/include, instantiated for every type the bindings use, in one
// translation unit without Python: CI compiles it for aarch64 (Debian's
// g++-aarch64-linux-gnu) so that an x86-only construct cannot land. Nothing runs it.
#include <cstdint>
#include <string>
#include <vector>

#include "samed2d/components.hpp"
#include "samed2d/consolidate.hpp"
#include "samed2d/instance_masks.hpp"
#include "samed2d/instances.hpp"
#include "samed2d/mask_png.hpp"
#include "samed2d/normalize.hpp"
#include "samed2d/normalize_release.hpp"
#include "samed2d/normalize_release_simd.hpp"
#include "samed2d/normalize_simd.hpp"
#include "samed2d/paint.hpp"
#include "samed2d/png.hpp"
#include "samed2d/slicing.hpp"
#include "samed2d/strided.hpp"
#include "samed2d/up_filter.hpp"

namespace samed2d {

#define SAMED2D_VALUES(T)                                                                                  \
    template void normalize<T, false>(const char*, std::size_t, std::uint8_t*, Simd);                      \
    template void normalize<T, true>(const char*, std::size_t, std::uint8_t*, Simd);                       \
    template void normalize_release<T, false>(const Strided2D&, double, double, std::uint8_t*, Simd);      \
    template void normalize_release<T, true>(const Strided2D&, double, double, std::uint8_t*, Simd);
SAMED2D_VALUES(std::int8_t)
SAMED2D_VALUES(std::int16_t)
SAMED2D_VALUES(std::int32_t)
SAMED2D_VALUES(std::int64_t)
SAMED2D_VALUES(std::uint8_t)
SAMED2D_VALUES(std::uint16_t)
SAMED2D_VALUES(std::uint32_t)
SAMED2D_VALUES(std::uint64_t)
SAMED2D_VALUES(Half)
SAMED2D_VALUES(float)
SAMED2D_VALUES(double)

#define SAMED2D_LABELS(L) template void dense_labels<L>(const Strided2D&, std::vector<std::uint32_t>&);
SAMED2D_LABELS(std::int8_t)
SAMED2D_LABELS(std::int16_t)
SAMED2D_LABELS(std::int32_t)
SAMED2D_LABELS(std::int64_t)
SAMED2D_LABELS(std::uint8_t)
SAMED2D_LABELS(std::uint16_t)
SAMED2D_LABELS(std::uint32_t)
SAMED2D_LABELS(std::uint64_t)

#define SAMED2D_PAINT(M)                                                                              \
    template PaintResult<M> paint_mask<M, std::uint8_t>(const M*, std::uint8_t*, std::size_t, std::uint8_t);    \
    template PaintResult<M> paint_mask<M, std::uint16_t>(const M*, std::uint16_t*, std::size_t, std::uint16_t); \
    template PaintResult<M> paint_mask<M, std::uint32_t>(const M*, std::uint32_t*, std::size_t, std::uint32_t);
SAMED2D_PAINT(std::int8_t)
SAMED2D_PAINT(std::int16_t)
SAMED2D_PAINT(std::int32_t)
SAMED2D_PAINT(std::int64_t)
SAMED2D_PAINT(std::uint8_t)
SAMED2D_PAINT(std::uint16_t)
SAMED2D_PAINT(std::uint32_t)
SAMED2D_PAINT(std::uint64_t)

template void up_filter_rows<1>(const Strided2D&, std::uint8_t*);
template void up_filter_rows<3>(const Strided2D&, std::uint8_t*);

template void copy_display_slices<1>(const char*, const std::int64_t[3], const std::ptrdiff_t[3], int, std::int64_t,
                                     std::int64_t, char*);
template void copy_display_slices<2>(const char*, const std::int64_t[3], const std::ptrdiff_t[3], int, std::int64_t,
                                     std::int64_t, char*);
template void copy_display_slices<4>(const char*, const std::int64_t[3], const std::ptrdiff_t[3], int, std::int64_t,
                                     std::int64_t, char*);
template void copy_display_slices<8>(const char*, const std::int64_t[3], const std::ptrdiff_t[3], int, std::int64_t,
                                     std::int64_t, char*);

}  // namespace samed2d

// The non-template kernels, called once so that they are compiled.
int main() {
    using namespace samed2d;
    const std::uint32_t lab[4] = {0, 1, 1, 2};
    SliceInstances s;
    slice_instances(lab, 2, 2, 8, Consolidate::Union, 0.0, s);
    std::vector<std::string> pngs;
    std::vector<std::uint8_t> scratch;
    encode_instance_pngs(s, pngs, scratch);
    const std::int64_t offsets[2] = {0, 1};
    const std::uint32_t members[1] = {1};
    const std::int32_t box[4] = {0, 0, 2, 2};
    std::uint8_t masks[4] = {0, 0, 0, 0};
    std::uint32_t ids[4];
    write_ids(s.components, ids);
    instance_masks(ids, 2, 2, 1, offsets, members, box, masks);
    std::uint16_t small_ids[4];
    write_ids(s.components, small_ids);
    instance_masks(small_ids, 2, 2, 1, offsets, members, box, masks);
    const unsigned char row[4] = {0, 1, 1, 0};
    const std::string mask = png::encode_binary_png(1, 4, [&](std::int64_t, png::MaskDeflater& d) {
        push_byte_runs(d, row, 4);
    });
    return static_cast<int>(mask.size() + pngs.size()) > 0 ? 0 : 1;
}
