"""Miniatures of the CT data sets' recipes (see miniatures.py)."""

from miniatures import Label, Miniature, Other, Series, Volume

MINIATURES = {
    # kits19/data: case folders; the test cases (210 and above) have no segmentation.
    "kits19": Miniature(
        files={
            "case_00000/imaging.nii.gz": Volume("float32"),
            "case_00000/segmentation.nii.gz": Label((1, 2)),
            "case_00001/imaging.nii.gz": Volume("float32"),
            "case_00001/segmentation.nii.gz": Label((1,)),
            "case_00210/imaging.nii.gz": Volume("float32"),
            "kits.json": Other("[]\n"),
        },
        cases=["case_00000", "case_00001"],
        modalities=["ct_00"],
        class_ids=["0001", "0002"],
        unlabelled=1,
    ),
    # kits21/data (github.com/neheller/kits21): case folders; the label is the majority vote
    # aggregated_MAJ_seg.nii.gz; the OR/AND aggregates and the per-annotator files in
    # segmentations/ are left alone. Imaging dtype as the kits19 miniature (not confirmed);
    # label dtype uint8 (a common choice, not confirmed).
    "kits21": Miniature(
        files={
            "case_00000/imaging.nii.gz": Volume("float32"),
            "case_00000/aggregated_MAJ_seg.nii.gz": Label((1, 2, 3)),
            "case_00000/aggregated_OR_seg.nii.gz": Label((1, 2, 3)),
            "case_00000/aggregated_AND_seg.nii.gz": Label((1,)),
            "case_00000/segmentations/kidney_instance-1_annotation-1.nii.gz": Label((1,)),
            "case_00000/raw/kidney/00/delineation1/1615399706_helle246.json": Other("{}\n"),
            "case_00001/imaging.nii.gz": Volume("float32"),
            "case_00001/aggregated_MAJ_seg.nii.gz": Label((1, 2)),
            "kits.json": Other("[]\n"),
        },
        cases=["case_00000", "case_00001"],
        modalities=["ct_00"],
        class_ids=["0001", "0002", "0003"],
    ),
    # kits23/dataset (github.com/neheller/kits23): case folders; segmentation.nii.gz is
    # uint8 in the repository; instances/ and kits23.json are left alone. Imaging dtype as
    # the kits19 miniature (not confirmed).
    "kits23": Miniature(
        files={
            "case_00000/imaging.nii.gz": Volume("float32"),
            "case_00000/segmentation.nii.gz": Label((1, 2)),
            "case_00000/instances/kidney_instance-1_annotation-1.nii.gz": Label((1,)),
            "case_00400/imaging.nii.gz": Volume("float32"),
            "case_00400/segmentation.nii.gz": Label((1, 3)),
            "kits23.json": Other("[]\n"),
        },
        cases=["case_00000", "case_00400"],
        modalities=["ct_00"],
        class_ids=["0001", "0002", "0003"],
    ),
    # LiTS: volume-N.nii with segmentation-N.nii in one folder (flat, or in batch folders
    # at any depth); test-volume-N.nii has no label. Dtypes are common choices, not confirmed.
    "lits": Miniature(
        files={
            "Training Batch 1/volume-0.nii": Volume("int16"),
            "Training Batch 1/segmentation-0.nii": Label((1, 2)),
            "Training Batch 2/volume-28.nii": Volume("int16"),
            "Training Batch 2/segmentation-28.nii": Label((1,)),
            "volume-130.nii": Volume("int16"),
            "segmentation-130.nii": Label((1, 2)),
            "Test Data/test-volume-0.nii": Volume("int16"),
        },
        cases=["volume-0", "volume-130", "volume-28"],
        modalities=["ct_00"],
        class_ids=["0001", "0002"],
        unlabelled=1,
    ),
    # BTCV RawData/: Training/img + Training/label, test images in Testing/img (Test/img in
    # nnU-Net's script) without labels. Dtypes are common choices, not confirmed.
    "btcv": Miniature(
        files={
            "Training/img/img0001.nii.gz": Volume("int16"),
            "Training/label/label0001.nii.gz": Label(tuple(range(1, 14))),
            "Training/img/img0002.nii.gz": Volume("int16"),
            "Training/label/label0002.nii.gz": Label((1, 6, 11)),
            "Testing/img/img0061.nii.gz": Volume("int16"),
        },
        cases=["img0001", "img0002"],
        modalities=["ct_00"],
        class_ids=[f"{v:04d}" for v in range(1, 14)],
        unlabelled=1,
    ),
    # SegTHOR: train/P/P.nii.gz + train/P/GT.nii.gz, test/P.nii.gz without a label. The
    # Patient_NN names follow user code (nnU-Net's script takes any folder name); dtypes are
    # common choices, not confirmed.
    "segthor": Miniature(
        files={
            "train/Patient_01/Patient_01.nii.gz": Volume("int16"),
            "train/Patient_01/GT.nii.gz": Label((1, 2, 3, 4)),
            "train/Patient_02/Patient_02.nii.gz": Volume("int16"),
            "train/Patient_02/GT.nii.gz": Label((2, 4)),
            "test/Patient_41.nii.gz": Volume("int16"),
        },
        cases=["Patient_01", "Patient_02"],
        modalities=["ct_00"],
        class_ids=["0001", "0002", "0003", "0004"],
        unlabelled=1,
    ),
    # AMOS22 (zenodo 7262581, amos22/): imagesTr/labelsTr, imagesVa/labelsVa, imagesTs without
    # labels; numbers below 500 are CT, the others MRI. Dtypes are common choices, not confirmed.
    "amos22": Miniature(
        files={
            "imagesTr/amos_0001.nii.gz": Volume("int16"),
            "labelsTr/amos_0001.nii.gz": Label(tuple(range(1, 16))),
            "imagesTr/amos_0507.nii.gz": Volume("int16"),
            "labelsTr/amos_0507.nii.gz": Label((1, 6, 8)),
            "imagesVa/amos_0008.nii.gz": Volume("int16"),
            "labelsVa/amos_0008.nii.gz": Label((2, 3)),
            "imagesTs/amos_0002.nii.gz": Volume("int16"),
            "dataset.json": Other("{}\n"),
            "readme.md": Other("AMOS\n"),
        },
        cases=["amos_0001", "amos_0008", "amos_0507"],
        modalities=["ct_00", "mr_00"],
        class_ids=[f"{v:04d}" for v in range(1, 16)],
        unlabelled=1,
    ),
    # NIH Pancreas-CT (TCIA): DICOM series PANCREAS_NNNN/<study>/<series>/ below the download
    # folder, labels TCIA_pancreas_labels-02-05-2017/labelNNNN.nii.gz (here on the series'
    # grid; whether the real labels are is unconfirmed, see the recipe's notes). label0025 has
    # no series (removed from the collection): a label without an image. Folder names of
    # study and series are made up; label dtype is a common choice, not confirmed.
    "nih-pancreas": Miniature(
        files={
            "manifest-1599750808610/Pancreas-CT/PANCREAS_0001/11-24-2015-PANCREAS0001-Pancreas-18957/Pancreas-99667/": Series(),
            "manifest-1599750808610/Pancreas-CT/PANCREAS_0002/11-24-2015-PANCREAS0002-Pancreas-23046/Pancreas-63502/": Series(),
            "TCIA_pancreas_labels-02-05-2017/label0001.nii.gz": Label((1,)),
            "TCIA_pancreas_labels-02-05-2017/label0002.nii.gz": Label((1,)),
            "TCIA_pancreas_labels-02-05-2017/label0025.nii.gz": Label((1,)),
        },
        cases=["PANCREAS_0001", "PANCREAS_0002"],
        modalities=["ct_00"],
        class_ids=["0001"],
    ),
    # autoPET (FDG-PET-CT-Lesions in NIfTI): patient folders PETCT_*, study folders inside;
    # CTres.nii.gz and SUV.nii.gz (float32) on SEG.nii.gz's grid; CT.nii.gz and PET.nii.gz are
    # left alone. Patient and study folder names are made up; SEG dtype is a common choice.
    "autopet": Miniature(
        files={
            "PETCT_0011f3deaf/03-23-2003-NA-PET-CT Ganzkoerper primaer mit KM-10445/CTres.nii.gz": Volume("float32"),
            "PETCT_0011f3deaf/03-23-2003-NA-PET-CT Ganzkoerper primaer mit KM-10445/SUV.nii.gz": Volume("float32"),
            "PETCT_0011f3deaf/03-23-2003-NA-PET-CT Ganzkoerper primaer mit KM-10445/SEG.nii.gz": Label((1,)),
            "PETCT_0011f3deaf/03-23-2003-NA-PET-CT Ganzkoerper primaer mit KM-10445/CT.nii.gz": Volume("int16"),
            "PETCT_0011f3deaf/03-23-2003-NA-PET-CT Ganzkoerper primaer mit KM-10445/PET.nii.gz": Volume("float32"),
            "PETCT_0011f3deaf/10-11-2004-NA-PET-CT Ganzkoerper primaer mit KM-51233/CTres.nii.gz": Volume("float32"),
            "PETCT_0011f3deaf/10-11-2004-NA-PET-CT Ganzkoerper primaer mit KM-51233/SUV.nii.gz": Volume("float32"),
            "PETCT_0011f3deaf/10-11-2004-NA-PET-CT Ganzkoerper primaer mit KM-51233/SEG.nii.gz": Label((1,)),
            "PETCT_01140d52d8/08-13-2005-NA-PET-CT Ganzkoerper primaer mit KM-56839/CTres.nii.gz": Volume("float32"),
            "PETCT_01140d52d8/08-13-2005-NA-PET-CT Ganzkoerper primaer mit KM-56839/SUV.nii.gz": Volume("float32"),
            "PETCT_01140d52d8/08-13-2005-NA-PET-CT Ganzkoerper primaer mit KM-56839/SEG.nii.gz": Label((1,)),
        },
        cases=[
            "PETCT_0011f3deaf_03-23-2003-NA-PET-CT_Ganzkoerper_primaer_mit_KM-10445",
            "PETCT_0011f3deaf_10-11-2004-NA-PET-CT_Ganzkoerper_primaer_mit_KM-51233",
            "PETCT_01140d52d8_08-13-2005-NA-PET-CT_Ganzkoerper_primaer_mit_KM-56839",
        ],
        modalities=["ct_00", "pet_00"],
        class_ids=["0001"],
    ),
}
