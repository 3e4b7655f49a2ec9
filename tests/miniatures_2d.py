"""Miniatures of the 2D data sets' recipes (see miniatures.py)."""

from miniatures import Image2D, Mask2D, Miniature, Other

# DRIVE's GIFs as the release ships them: a 256-entry grey palette holding indices 0 and
# 255, which Pillow reads back as mode L with values 0 and 255 (checked on a copy of the
# release: training/test 1st_manual and the FOV masks).
DRIVE_GIF = (("optimize", False),)

MINIATURES = {
    # ISIC 2016 Part 1: four unpacked zips, _Segmentation.png masks (0/255 L PNG).
    "isic2016": Miniature(
        files={
            "ISBI2016_ISIC_Part1_Training_Data/ISIC_0000000.jpg": Image2D("RGB"),
            "ISBI2016_ISIC_Part1_Training_Data/ISIC_0000001.jpg": Image2D("RGB"),
            "ISBI2016_ISIC_Part1_Training_GroundTruth/ISIC_0000000_Segmentation.png": Mask2D((255,)),
            "ISBI2016_ISIC_Part1_Training_GroundTruth/ISIC_0000001_Segmentation.png": Mask2D((255,)),
            "ISBI2016_ISIC_Part1_Test_Data/ISIC_0000003.jpg": Image2D("RGB"),
            "ISBI2016_ISIC_Part1_Test_GroundTruth/ISIC_0000003_Segmentation.png": Mask2D((255,)),
        },
        cases=["ISIC_0000000", "ISIC_0000001", "ISIC_0000003"],
        modalities=["dermoscopy_00"],
        class_ids=["0001"],
    ),
    # ISIC 2017 Part 1: superpixel maps and a metadata CSV beside the images, lower-case
    # _segmentation.png masks. (Image ids other than ISIC_0000000 are illustrative.)
    "isic2017": Miniature(
        files={
            "ISIC-2017_Training_Data/ISIC_0000000.jpg": Image2D("RGB"),
            "ISIC-2017_Training_Data/ISIC_0000000_superpixels.png": Image2D("RGB"),
            "ISIC-2017_Training_Data/ISIC_0000001.jpg": Image2D("RGB"),
            "ISIC-2017_Training_Data/ISIC_0000001_superpixels.png": Image2D("RGB"),
            "ISIC-2017_Training_Data/ISIC-2017_Training_Data_metadata.csv": Other("image_id,age_approximate,sex\n"),
            "ISIC-2017_Training_Part1_GroundTruth/ISIC_0000000_segmentation.png": Mask2D((255,)),
            "ISIC-2017_Training_Part1_GroundTruth/ISIC_0000001_segmentation.png": Mask2D((255,)),
            "ISIC-2017_Validation_Data/ISIC_0001769.jpg": Image2D("RGB"),
            "ISIC-2017_Validation_Data/ISIC_0001769_superpixels.png": Image2D("RGB"),
            "ISIC-2017_Validation_Part1_GroundTruth/ISIC_0001769_segmentation.png": Mask2D((255,)),
            "ISIC-2017_Test_v2_Data/ISIC_0012086.jpg": Image2D("RGB"),
            "ISIC-2017_Test_v2_Data/ISIC_0012086_superpixels.png": Image2D("RGB"),
            "ISIC-2017_Test_v2_Part1_GroundTruth/ISIC_0012086_segmentation.png": Mask2D((255,)),
        },
        cases=["ISIC_0000000", "ISIC_0000001", "ISIC_0001769", "ISIC_0012086"],
        modalities=["dermoscopy_00"],
        class_ids=["0001"],
    ),
    # ISIC 2018 Task 1: six unpacked zips (Task1-2 inputs, Task1 ground truth).
    "isic2018": Miniature(
        files={
            "ISIC2018_Task1-2_Training_Input/ISIC_0000000.jpg": Image2D("RGB"),
            "ISIC2018_Task1-2_Training_Input/ISIC_0000001.jpg": Image2D("RGB"),
            "ISIC2018_Task1_Training_GroundTruth/ISIC_0000000_segmentation.png": Mask2D((255,)),
            "ISIC2018_Task1_Training_GroundTruth/ISIC_0000001_segmentation.png": Mask2D((255,)),
            "ISIC2018_Task1-2_Validation_Input/ISIC_0012255.jpg": Image2D("RGB"),
            "ISIC2018_Task1_Validation_GroundTruth/ISIC_0012255_segmentation.png": Mask2D((255,)),
            "ISIC2018_Task1-2_Test_Input/ISIC_0012169.jpg": Image2D("RGB"),
            "ISIC2018_Task1_Test_GroundTruth/ISIC_0012169_segmentation.png": Mask2D((255,)),
        },
        cases=["ISIC_0000000", "ISIC_0000001", "ISIC_0012169", "ISIC_0012255"],
        modalities=["dermoscopy_00"],
        class_ids=["0001"],
    ),
    # Kvasir-SEG: JPEG images and JPEG masks of the same name, bounding boxes in JSON.
    "kvasir-seg": Miniature(
        files={
            "images/cju0qkwl35piu0993l0dewei2.jpg": Image2D("RGB"),
            "images/cju0qoxqj9q6s0835b43399p4.jpg": Image2D("RGB"),
            "masks/cju0qkwl35piu0993l0dewei2.jpg": Mask2D((255,)),
            "masks/cju0qoxqj9q6s0835b43399p4.jpg": Mask2D((255,)),
            "kavsir_bboxes.json": Other('{"cju0qkwl35piu0993l0dewei2": {"height": 32, "width": 40, "bbox": []}}\n'),
        },
        cases=["cju0qkwl35piu0993l0dewei2", "cju0qoxqj9q6s0835b43399p4"],
        modalities=["endoscopy_00"],
        class_ids=["0001"],
    ),
    # CVC-ClinicDB: Original/N.tif with Ground Truth/N.tif (masks written as 0/255 L TIFF,
    # a common choice: the sources read do not give the mode), README.txt beside them.
    "cvc-clinicdb": Miniature(
        files={
            "Original/1.tif": Image2D("RGB"),
            "Original/2.tif": Image2D("RGB"),
            "Original/26.tif": Image2D("RGB"),
            "Ground Truth/1.tif": Mask2D((255,)),
            "Ground Truth/2.tif": Mask2D((255,)),
            "Ground Truth/26.tif": Mask2D((255,)),
            "README.txt": Other("CVC-ClinicDB\n"),
        },
        cases=["1", "2", "26"],
        modalities=["endoscopy_00"],
        class_ids=["0001"],
    ),
    # BUSI: one folder per class; a benign image with a second lesion mask (_mask_1),
    # a normal image whose mask is empty (a case without output masks).
    "busi": Miniature(
        files={
            "benign/benign (1).png": Image2D("RGB"),
            "benign/benign (1)_mask.png": Mask2D((255,)),
            "benign/benign (4).png": Image2D("RGB"),
            "benign/benign (4)_mask.png": Mask2D((255,)),
            "benign/benign (4)_mask_1.png": Mask2D((0, 0, 0, 0, 0, 255)),
            "malignant/malignant (1).png": Image2D("RGB"),
            "malignant/malignant (1)_mask.png": Mask2D((255,)),
            "normal/normal (1).png": Image2D("RGB"),
            "normal/normal (1)_mask.png": Mask2D(()),
        },
        cases=["benign__1_", "benign__4_", "malignant__1_"],  # cleaned: "benign (1)" -> "benign__1_"
        modalities=["ultrasound_00"],
        class_ids=["0001", "0002"],
    ),
    # DRIVE as grand-challenge ships it: training images with 1st_manual GIFs and FOV
    # masks; test images and FOV masks without annotations.
    "drive": Miniature(
        files={
            "training/images/21_training.tif": Image2D("RGB"),
            "training/images/22_training.tif": Image2D("RGB"),
            "training/1st_manual/21_manual1.gif": Mask2D((255,), save=DRIVE_GIF),
            "training/1st_manual/22_manual1.gif": Mask2D((255,), save=DRIVE_GIF),
            "training/mask/21_training_mask.gif": Mask2D((255,), save=DRIVE_GIF),
            "training/mask/22_training_mask.gif": Mask2D((255,), save=DRIVE_GIF),
            "test/images/01_test.tif": Image2D("RGB"),
            "test/mask/01_test_mask.gif": Mask2D((255,), save=DRIVE_GIF),
        },
        cases=["21_training", "22_training"],
        modalities=["fundus_photography"],
        class_ids=["0001"],
        unlabelled=1,
    ),
    # Kvasir-Instrument once images.tar.gz and masks.tar.gz are unpacked: JPEG images,
    # PNG masks (0/255 L, a common choice: the mode is not confirmed), split lists.
    # (The image names are illustrative: the sources read do not list any.)
    "kvasir-instrument": Miniature(
        files={
            "images/ckcu8ty6z00003b5yzfaezbs5.jpg": Image2D("RGB"),
            "images/ckcu8y0ec00023b5yx9ckh0bb.jpg": Image2D("RGB"),
            "masks/ckcu8ty6z00003b5yzfaezbs5.png": Mask2D((255,)),
            "masks/ckcu8y0ec00023b5yx9ckh0bb.png": Mask2D((255,)),
            "bboxes.json": Other("{}\n"),
            "train.txt": Other("ckcu8ty6z00003b5yzfaezbs5\n"),
            "test.txt": Other("ckcu8y0ec00023b5yx9ckh0bb\n"),
        },
        cases=["ckcu8ty6z00003b5yzfaezbs5", "ckcu8y0ec00023b5yx9ckh0bb"],
        modalities=["endoscopy_00"],
        class_ids=["0001"],
    ),
}
