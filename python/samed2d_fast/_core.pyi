"""Types of the private compiled module (cpp/bindings)."""

from typing import TypedDict

import numpy as np
import numpy.typing as npt

class RawInstances(TypedDict, total=False):
    components: npt.NDArray[np.uint16] | npt.NDArray[np.uint32]  # with_components; uint16 below 65536 ids
    pngs: list[bytes]  # with_pngs
    component: npt.NDArray[np.uint32]
    label: npt.NDArray[np.uint32]
    union: npt.NDArray[np.bool_]
    area: npt.NDArray[np.int64]
    bbox: npt.NDArray[np.int32]
    member_offsets: npt.NDArray[np.int64]
    member_components: npt.NDArray[np.uint32]
    label_offsets: npt.NDArray[np.int64]
    member_labels: npt.NDArray[np.uint32]

# Each binding raises TypeError for a dtype outside its annotation (object, complex, structured...).
def normalize(array: npt.NDArray[np.integer | np.floating]) -> npt.NDArray[np.uint8]: ...
def display_slices(
    volume: npt.NDArray[np.bool_ | np.integer | np.floating], axis: int, start: int, stop: int
) -> npt.NDArray[np.bool_ | np.integer | np.floating]: ...
def slice_instances(
    label: npt.NDArray[np.integer],
    connectivity: int = 8,
    consolidate: str = "outer",
    min_area_ratio: float = 100 / 65536,
    with_components: bool = True,
    with_pngs: bool = False,
) -> RawInstances: ...
def encode_mask_png(mask: npt.NDArray[np.bool_ | np.integer]) -> bytes: ...
def paint_mask(
    mask: npt.NDArray[np.integer], labels: npt.NDArray[np.unsignedinteger], value: int
) -> tuple[int, int, int, int]: ...
