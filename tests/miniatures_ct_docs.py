"""Miniatures of CT (and TotalSegmentator MRI) recipes checked against the data sets' own
documentation (see miniatures.py). Image dtypes are a common choice (int16) where the
sources read do not give them."""

from miniatures import Label, Mask, Miniature, Other, Volume

# Two LUNA16 series UIDs (subset0 cases as listed in MONAI's LUNA16 data split).
_UID_A = "1.3.6.1.4.1.14519.5.2.1.6279.6001.979083010707182900091062408058"
_UID_B = "1.3.6.1.4.1.14519.5.2.1.6279.6001.154677396354641150280013275227"

MINIATURES = {
    # Totalsegmentator_dataset_v201: sNNNN/ct.nii.gz + sNNNN/segmentations/<class>.nii.gz, meta.csv
    # beside the cases. Masks overlap in the real data (issues #8, #440): s0000's hip_left and
    # urinary_bladder, s0011's vertebrae_T5 and vertebrae_T6 share voxels here too: the
    # recipe sets overlap separate, so they convert without --overlap. Most class files of a case are empty (brain here).
    "totalsegmentator": Miniature(
        files={
            "s0000/ct.nii.gz": Volume("int16"),
            "s0000/segmentations/kidney_right.nii.gz": Mask(0),
            "s0000/segmentations/kidney_left.nii.gz": Mask(1),
            "s0000/segmentations/urinary_bladder.nii.gz": Mask(2),
            "s0000/segmentations/hip_left.nii.gz": Mask(2),
            "s0000/segmentations/brain.nii.gz": Mask(3, value=0),
            "s0011/ct.nii.gz": Volume("int16"),
            "s0011/segmentations/spleen.nii.gz": Mask(0),
            "s0011/segmentations/liver.nii.gz": Mask(1),
            "s0011/segmentations/vertebrae_T5.nii.gz": Mask(4),
            "s0011/segmentations/vertebrae_T6.nii.gz": Mask(4),
            "meta.csv": Other("image_id;age;gender;institute;study_type;split\ns0000;60;m;A;ct abdomen;train\n"),
        },
        cases=["s0000", "s0011"],
        modalities=["ct_00"],
        class_ids=["0001", "0002", "0003", "0005", "0021", "0038", "0039", "0077"],
    ),
    # TotalsegmentatorMRI_dataset_v100: <case>/mri.nii.gz + <case>/segmentations/<class>.nii.gz
    # (Dataset227). The case folder names are not confirmed (sNNNN is a guess); no class is
    # declared, so ids follow the sorted class names: liver 1, spleen 2, vertebrae 3.
    "totalsegmentator-mri": Miniature(
        files={
            "s0001/mri.nii.gz": Volume("int16"),
            "s0001/segmentations/liver.nii.gz": Mask(0),
            "s0001/segmentations/spleen.nii.gz": Mask(1),
            "s0001/segmentations/vertebrae.nii.gz": Mask(2, value=0),
            "s0002/mri.nii.gz": Volume("int16"),
            "s0002/segmentations/liver.nii.gz": Mask(0),
            "s0002/segmentations/spleen.nii.gz": Mask(1, value=0),
            "s0002/segmentations/vertebrae.nii.gz": Mask(2),
        },
        cases=["s0001", "s0002"],
        modalities=["mr_00"],
        class_ids=["0001", "0002", "0003"],
    ),
    # CT-ORG: volume-N.nii.gz + labels-N.nii.gz, all 32-bit floats (README); cases 0-20 are the
    # test split, the brain (6) only on some scans.
    "ct-org": Miniature(
        files={
            "volume-0.nii.gz": Volume("float32"),
            "labels-0.nii.gz": Label((1, 2, 3, 4, 5, 6), dtype="float32"),
            "volume-21.nii.gz": Volume("float32"),
            "labels-21.nii.gz": Label((1, 2, 3, 4, 5), dtype="float32"),
        },
        cases=["volume-0", "volume-21"],
        modalities=["ct_00"],
        class_ids=["0001", "0002", "0003", "0004", "0005", "0006"],
    ),
    # WORD-V0.1.0: images{Tr,Val,Ts}/word_NNNN.nii.gz, labels{Tr,Val}/ (uint8, values 1-16 as in
    # the released labelsTs); labelsTs comes from the GitHub repository's zip, absent here, so
    # the test image has no label.
    "word": Miniature(
        files={
            "imagesTr/word_0002.nii.gz": Volume("int16"),
            "labelsTr/word_0002.nii.gz": Label(tuple(range(1, 17))),
            "imagesVal/word_0001.nii.gz": Volume("int16"),
            "labelsVal/word_0001.nii.gz": Label((1, 2, 3, 4, 5, 6, 7, 8)),
            "imagesTs/word_0014.nii.gz": Volume("int16"),
        },
        cases=["word_0001", "word_0002"],
        modalities=["ct_00"],
        class_ids=[f"{v:04d}" for v in range(1, 17)],
        unlabelled=1,
    ),
    # FLARE22Train (Zenodo 7860267): images/FLARE22_Tr_NNNN_0000.nii.gz + labels/FLARE22_Tr_NNNN.nii.gz,
    # all 50 labelled.
    "flare22": Miniature(
        files={
            "images/FLARE22_Tr_0001_0000.nii.gz": Volume("int16"),
            "labels/FLARE22_Tr_0001.nii.gz": Label(tuple(range(1, 14))),
            "images/FLARE22_Tr_0002_0000.nii.gz": Volume("int16"),
            "labels/FLARE22_Tr_0002.nii.gz": Label((1, 3, 4, 9)),
        },
        cases=["FLARE22_Tr_0001", "FLARE22_Tr_0002"],
        modalities=["ct_00"],
        class_ids=[f"{v:04d}" for v in range(1, 14)],
    ),
    # LUNA16: subsetN/<seriesuid>.mhd (+ .raw) and the separately downloaded
    # seg-lungs-LUNA16/<seriesuid>.mhd masks (3, 4 the lungs, 5 the airway); the CSV files lie
    # beside them. (The real masks' data files are .zraw; the writer makes .raw.)
    "luna16": Miniature(
        files={
            f"subset0/{_UID_A}.mhd": Volume("int16"),
            f"seg-lungs-LUNA16/{_UID_A}.mhd": Label((3, 4, 5)),
            f"subset0/{_UID_B}.mhd": Volume("int16"),
            f"seg-lungs-LUNA16/{_UID_B}.mhd": Label((3, 4)),
            "annotations.csv": Other(f"seriesuid,coordX,coordY,coordZ,diameter_mm\n{_UID_A},-100.5,67.2,-231.8,6.4\n"),
            "candidates_V2.csv": Other(f"seriesuid,coordX,coordY,coordZ,class\n{_UID_A},-100.5,67.2,-231.8,1\n"),
        },
        cases=[_UID_B, _UID_A],
        modalities=["ct_00"],
        class_ids=["0003", "0004", "0005"],
    ),
}
