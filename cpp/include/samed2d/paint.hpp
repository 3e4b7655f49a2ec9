// Painting a label set (SPEC section 8): each class's mask file is painted into one
// label map, labels[i] = value wherever mask[i] != 0.
//
// One pass per class file does all the work the file needs: it paints, counts the voxels
// that already hold another class's value (an overlap: the case fails, or its classes are
// converted separately), counts the voxels painted, and returns the mask's minimum and
// maximum so the caller checks the label rules (no negative value, none above 2^32-1)
// without a second pass. Class files of a whole-body CT are mostly zeros: blocks whose
// values are all zero are told by a vectorisable OR and skipped, so a pass runs at
// memory speed. Both buffers are flat, in the same memory order (the caller's duty).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace samed2d {

template <class M>
struct PaintResult {
    std::uint64_t overlaps = 0;  // voxels inside the mask that held another value
    std::uint64_t painted = 0;   // voxels inside the mask
    M lo = 0, hi = 0;            // the mask's smallest and largest value (0 and 0 when empty)
};

template <class M, class L>
PaintResult<M> paint_mask(const M* mask, L* labels, std::size_t n, L value) {
    constexpr std::size_t kBlock = 256;
    PaintResult<M> r;
    if (n == 0) return r;
    M lo = mask[0], hi = mask[0];
    std::size_t start = 0;
    while (start < n) {
        const std::size_t stop = std::min(n, start + kBlock);
        M any = 0, block_lo = mask[start], block_hi = mask[start];
        for (std::size_t i = start; i < stop; ++i) {  // vectorised: OR, min, max
            const M v = mask[i];
            any |= v;
            block_lo = v < block_lo ? v : block_lo;
            block_hi = v > block_hi ? v : block_hi;
        }
        lo = block_lo < lo ? block_lo : lo;
        hi = block_hi > hi ? block_hi : hi;
        if (any != 0) {
            for (std::size_t i = start; i < stop; ++i) {
                if (mask[i] != 0) {
                    const L old = labels[i];
                    r.overlaps += (old != 0 && old != value);
                    ++r.painted;
                    labels[i] = value;
                }
            }
        }
        start = stop;
    }
    r.lo = lo;
    r.hi = hi;
    return r;
}

}  // namespace samed2d
