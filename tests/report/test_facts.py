"""The report's data section says how the training samples were made (mcl_caffe/report/facts.py)."""
from mcl_caffe.data.augment import AugmentConfig
from mcl_caffe.report.facts import augmentation_words


def test_augmentation_words_name_the_rotation_range_and_the_crop_source():
    import dataclasses
    aug = dataclasses.asdict(AugmentConfig(rotations=5, max_angle=30.0, crop_from="box"))
    words = augmentation_words(aug)
    assert words.startswith("5 rotations within +-30 deg, 2 boxes each")
    assert "mirrored" in words and words.endswith("crops from the face's detector box")
    assert "at random" in augmentation_words(dict(aug, flip="random"))
    aug.update(max_angle=15.0, flip="none", crop_from="landmarks")
    words = augmentation_words(aug)
    assert "+-15 deg" in words and "mirrored" not in words and words.endswith("landmarks' tight box")
    # a meta.json from before the augmentation was recorded
    assert augmentation_words({}) == "augmentation"
