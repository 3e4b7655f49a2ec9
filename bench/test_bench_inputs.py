"""The input readers (issue 11): one case read from each container, and a label set's
class files decompressed alone, then decompressed and painted by read_case.

The conftest's 96x96x48 case is written as .nii.gz, .nii, .mha, .nrrd, compressed .mha
and a DICOM series (tests/formats_helpers' writers); each read must give the arrays of
the .nii.gz. The label set is that case with 117 classes (TotalSegmentator's), one
gzipped uint8 file each; read_case must paint the label map they were split from.
Timings are reported (compare.py sets them against each other); nothing here asserts one.
"""

import numpy as np
import pytest

import checks
import inputs
from samed2d_fast.inputs import case_headers, read_case

ROUNDS = 5


@pytest.fixture(scope="module")
def containers(case, nifti_paths, tmp_path_factory):
    return inputs.write_containers(case, tmp_path_factory.mktemp("containers"), nifti=nifti_paths)


@pytest.fixture(scope="module")
def reference(case, containers):
    """The .nii.gz case as read_case gives it, checked against the case's own arrays."""
    spec = inputs.case_spec(*containers["nii.gz"], case.class_names)
    arrays = read_case(spec, case_headers(spec))
    channel = arrays.channels[0]
    assert np.array_equal(channel.ras(channel.data), inputs.ras(case.image, case.affine))
    assert np.array_equal(arrays.label, inputs.ras(case.labels, case.affine))
    return arrays


@pytest.mark.parametrize("container", list(inputs.CONTAINERS))
def test_read_case(benchmark, case, containers, reference, container):
    """case_headers + read_case + one pass over the arrays, as compare.py times it."""
    benchmark.group = f"read one case {'x'.join(map(str, case.image.shape))}"
    spec = inputs.case_spec(*containers[container], case.class_names)
    arrays = benchmark.pedantic(inputs.read_one_case, args=(spec,), rounds=ROUNDS, warmup_rounds=1)
    assert checks.same_case_arrays(arrays, reference)


@pytest.fixture(scope="module")
def label_set(case, tmp_path_factory):
    """(spec, headers, the label map in RAS+) of a 117-class label set of the case."""
    import nibabel as nib

    ls_case = inputs.label_set_case(case)
    folder = tmp_path_factory.mktemp("label_set")
    image = folder / "ct.nii"
    nib.save(nib.Nifti1Image(ls_case.image, ls_case.affine), image)
    files = inputs.write_label_set(ls_case, folder / "segmentations")
    spec = inputs.case_spec(image, files, ls_case.class_names)
    return spec, case_headers(spec), inputs.ras(ls_case.labels, ls_case.affine)


@pytest.mark.parametrize("threads", [1, 2])
def test_label_set_decompress_only(benchmark, label_set, threads):
    """The class files decompressed with the package's reader, nothing painted."""
    spec, headers, labels = label_set
    benchmark.group = f"label set: {len(headers.labels)} class files {'x'.join(map(str, labels.shape))}"
    benchmark.pedantic(inputs.decompress_class_files, args=(headers, threads), rounds=ROUNDS, warmup_rounds=1)
    # cheap: the files hold every labelled voxel once
    inside = sum(int(np.count_nonzero(h.fmt.read(h, label=True, scaled=False))) for h in headers.labels)
    assert inside == int(np.count_nonzero(labels))


@pytest.mark.parametrize("threads", [1, 2])
def test_label_set_read_case(benchmark, label_set, threads):
    """read_case on the label set: decompress and paint."""
    spec, headers, labels = label_set
    benchmark.group = f"label set: {len(headers.labels)} class files {'x'.join(map(str, labels.shape))}"
    arrays = benchmark.pedantic(read_case, args=(spec, headers), kwargs={"threads": threads},
                                rounds=ROUNDS, warmup_rounds=1)
    assert arrays.separate is None
    assert np.array_equal(arrays.label, labels)
