"""Miniatures of the MR data sets' recipes (see miniatures.py)."""

from miniatures import Label, Miniature, Other, Volume


def _brats_case(folder: str, case: str, ext: str, labels, image_dtype: str = "int16", seg: str = "_seg"):
    """The four images of a BraTS case folder, and its segmentation when ``labels`` is given.
    int16 images are a common choice (the sources read do not give the dtype)."""
    files = {f"{folder}{case}/{case}_{m}.{ext}": Volume(image_dtype) for m in ("flair", "t1", "t1ce", "t2")}
    if labels is not None:
        name = f"{case}{seg}" if seg.startswith("_") else seg
        files[f"{folder}{case}/{name}.{ext}"] = Label(tuple(labels))
    return files


MINIATURES = {
    # MICCAI_BraTS_2018_Data_Training: HGG/ and LGG/ case folders, .nii.gz as shipped.
    "brats2018": Miniature(
        files={
            **_brats_case("HGG/", "Brats18_2013_10_1", "nii.gz", (1, 2, 4)),
            **_brats_case("HGG/", "Brats18_TCIA01_131_1", "nii.gz", (2, 4)),
            **_brats_case("LGG/", "Brats18_2013_0_1", "nii.gz", (1, 2)),
            "survival_data.csv": Other("BraTS18ID,Age,Survival\n"),
        },
        cases=["Brats18_2013_0_1", "Brats18_2013_10_1", "Brats18_TCIA01_131_1"],
        modalities=["mr_flair", "mr_t1", "mr_t1ce", "mr_t2"],
        class_ids=["0001", "0002", "0004"],
    ),
    # MICCAI_BraTS_2019_Data_Training as Dataset043 reads it: decompressed .nii files.
    # (The CSV's name is not confirmed by a source: any unrelated file will do.)
    "brats2019": Miniature(
        files={
            **_brats_case("HGG/", "BraTS19_2013_10_1", "nii", (1, 2, 4)),
            **_brats_case("HGG/", "BraTS19_CBICA_AAB_1", "nii", (4,)),
            **_brats_case("LGG/", "BraTS19_2013_0_1", "nii", (1, 2)),
            "name_mapping.csv": Other("Grade,BraTS_2019_subject_ID\n"),
        },
        cases=["BraTS19_2013_0_1", "BraTS19_2013_10_1", "BraTS19_CBICA_AAB_1"],
        modalities=["mr_flair", "mr_t1", "mr_t1ce", "mr_t2"],
        class_ids=["0001", "0002", "0004"],
    ),
    # MICCAI_BraTS2020_TrainingData as the Kaggle copy ships it: .nii files, case 355's
    # segmentation misnamed W39_1998.09.19_Segm.nii, two CSVs next to the case folders.
    "brats2020": Miniature(
        files={
            **_brats_case("", "BraTS20_Training_001", "nii", (1, 2, 4)),
            **_brats_case("", "BraTS20_Training_002", "nii", (2,)),
            **_brats_case("", "BraTS20_Training_355", "nii", (1, 4), seg="W39_1998.09.19_Segm"),
            "name_mapping.csv": Other("Grade,BraTS_2017_subject_ID,BraTS_2018_subject_ID\n"),
            "survival_info.csv": Other("Brats20ID,Age,Survival_days,Extent_of_Resection\n"),
        },
        cases=["BraTS20_Training_001", "BraTS20_Training_002", "BraTS20_Training_355"],
        modalities=["mr_flair", "mr_t1", "mr_t1ce", "mr_t2"],
        class_ids=["0001", "0002", "0004"],
    ),
    # BraTS 2021 task 1 training data: case folders BraTS2021_NNNNN, .nii.gz files.
    "brats2021": Miniature(
        files={
            **_brats_case("", "BraTS2021_00000", "nii.gz", (1, 2, 4)),
            **_brats_case("", "BraTS2021_01666", "nii.gz", (2, 4)),
        },
        cases=["BraTS2021_00000", "BraTS2021_01666"],
        modalities=["mr_flair", "mr_t1", "mr_t1ce", "mr_t2"],
        class_ids=["0001", "0002", "0004"],
    ),
    # ACDC database/: training/ and testing/ patient folders; the annotated frames are the
    # cases, the 4D sequence, Info.cfg and the citation file are not. A testing frame
    # without _gt is unlabelled. Image dtype: int16 (not given by the sources read).
    "acdc": Miniature(
        files={
            "MANDATORY_CITATION.md": Other("cite Bernard et al. 2018\n"),
            "training/patient001/Info.cfg": Other("ED: 1\nES: 12\nGroup: DCM\n"),
            "training/patient001/MANDATORY_CITATION.md": Other("cite\n"),
            "training/patient001/patient001_4d.nii.gz": Volume("int16", channels=3),
            "training/patient001/patient001_frame01.nii.gz": Volume("int16"),
            "training/patient001/patient001_frame01_gt.nii.gz": Label((1, 2, 3)),
            "training/patient001/patient001_frame12.nii.gz": Volume("int16"),
            "training/patient001/patient001_frame12_gt.nii.gz": Label((1, 2, 3)),
            "training/patient002/patient002_frame01.nii.gz": Volume("int16"),
            "training/patient002/patient002_frame01_gt.nii.gz": Label((2, 3)),
            "testing/patient101/Info.cfg": Other("ED: 1\nES: 14\n"),
            "testing/patient101/patient101_4d.nii.gz": Volume("int16", channels=3),
            "testing/patient101/patient101_frame01.nii.gz": Volume("int16"),
        },
        cases=["patient001_frame01", "patient001_frame12", "patient002_frame01"],
        modalities=["mr_00"],
        class_ids=["0001", "0002", "0003"],
        unlabelled=1,
    ),
    # PROMISE12 as nnU-Net's Task024 finds it: train/ with CaseNN.mhd + .raw and
    # CaseNN_segmentation.mhd + .raw, test/ with images only (not matched: the test cases
    # reuse the CaseNN names). int16 images: a common choice, not given by the sources.
    "promise12": Miniature(
        files={
            "train/Case00.mhd": Volume("int16"),
            "train/Case00_segmentation.mhd": Label((1,)),
            "train/Case01.mhd": Volume("int16"),
            "train/Case01_segmentation.mhd": Label((1,)),
            "train/Case12.mhd": Volume("int16"),
            "train/Case12_segmentation.mhd": Label((1,)),
            "test/Case00.mhd": Volume("int16"),
        },
        cases=["Case00", "Case01", "Case12"],
        modalities=["mr_t2"],
        class_ids=["0001"],
    ),
    # 2018 Atrial Segmentation Challenge: one folder per patient with lgemri.nrrd and
    # laendo.nrrd (0 / 255). The test patients (MRI only) come in a download of their own,
    # so the training folder has no unlabelled image. uint8 images are assumed (the
    # challenge calls them grayscale; the dtype is not given).
    "la2018": Miniature(
        files={
            "06SR5RBREL16DQ6M8LWS/lgemri.nrrd": Volume("uint8"),
            "06SR5RBREL16DQ6M8LWS/laendo.nrrd": Label((255,)),
            "0RZDK210BSMWAA6467LU/lgemri.nrrd": Volume("uint8"),
            "0RZDK210BSMWAA6467LU/laendo.nrrd": Label((255,)),
        },
        cases=["06SR5RBREL16DQ6M8LWS", "0RZDK210BSMWAA6467LU"],
        modalities=["mr_00"],
        class_ids=["0255"],
    ),
}
