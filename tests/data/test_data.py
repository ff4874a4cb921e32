"""Image folders: layouts, pixel modes, bad files, reproducible sampling."""

import csv

import numpy as np
import pytest
from PIL import Image

from rnnviz.common.errors import UsageError
from rnnviz.data.builtin import load_builtin_sample
from rnnviz.data.images import Preprocess, Selection, load_image, to_rgb
from rnnviz.data.stream import load_folder
from rnnviz.models.labels import imagenet_labels

PREP = Preprocess(size=32, resize=36)
FLAMINGO, GOLDFISH = 130, 1


def photo(path, mode="RGB", size=(48, 40), value=128):
    arr = np.full((size[1], size[0], 3), value, dtype=np.uint8)
    arr[:, : size[0] // 2] = 255 - value
    img = Image.fromarray(arr)
    img = img.convert(mode) if mode != "RGB" else img
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


@pytest.mark.parametrize("folder", ["n02007558", "flamingo", "130"])
def test_class_folders_by_synset_name_or_index(tmp_path, folder):
    for i in range(3):
        photo(tmp_path / folder / f"img{i}.jpg")
    photo(tmp_path / "n01443537" / "fish.jpg")  # goldfish: another class, not asked for
    s = load_folder(tmp_path, imagenet_labels(), Selection([FLAMINGO], 10, 0), PREP)
    assert s.images.shape == (3, 3, 32, 32) and set(s.labels.tolist()) == {FLAMINGO}
    assert 0 <= s.images.min() and s.images.max() <= 1


def test_imagenet100_subset_keeps_1000_class_indices(tmp_path):
    photo(tmp_path / "n01443537" / "a.jpg")
    photo(tmp_path / "n02007558" / "b.jpg")
    s = load_folder(tmp_path, imagenet_labels(), Selection([GOLDFISH, FLAMINGO], 5, 0), PREP)
    assert sorted(s.labels.tolist()) == [GOLDFISH, FLAMINGO]


def test_flat_folder_with_labels_csv_and_own_photos(tmp_path):
    photo(tmp_path / "x.png")
    photo(tmp_path / "y.png")
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([["file", "label"], ["x.png", "flamingo"], ["y.png", "n01443537"]])
    s = load_folder(tmp_path, imagenet_labels(), Selection([FLAMINGO], 5, 0), PREP)
    assert s.labels.tolist() == [FLAMINGO]
    own = tmp_path / "own"
    photo(own / "p1.jpg")
    photo(own / "p2.jpg")
    assert (
        load_folder(own, imagenet_labels(), Selection([FLAMINGO], 5, 0, "flamingo"), PREP).labels.tolist()
        == [FLAMINGO] * 2
    )


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16", "1", "LA"])
def test_pixel_modes_become_rgb(tmp_path, mode):
    ext = "tiff" if mode in ("CMYK",) else "png"
    if mode == "I;16":
        path = tmp_path / "deep.png"
        Image.fromarray((np.arange(48 * 40).reshape(40, 48) * 30).astype(np.uint16)).save(path)
    else:
        path = photo(tmp_path / f"img.{ext}", mode)
    t = load_image(path, PREP)
    assert t.shape == (3, 32, 32) and 0 <= t.min() and t.max() <= 1 and t.max() > 0


def test_transparency_goes_onto_white():
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert np.asarray(to_rgb(img)).min() == 255


def test_tiny_image_is_upscaled(tmp_path):
    path = photo(tmp_path / "dot.png", size=(1, 1))
    assert load_image(path, PREP).shape == (3, 32, 32)


def test_unreadable_files_are_skipped_and_listed_once(tmp_path):
    photo(tmp_path / "flamingo" / "good.jpg")
    (tmp_path / "flamingo" / "bad.jpg").write_bytes(b"not a jpeg at all")
    full = photo(tmp_path / "full.jpg", size=(64, 64))
    (tmp_path / "flamingo" / "cut.jpg").write_bytes(full.read_bytes()[:40])
    with pytest.warns(UserWarning, match="skipped 2 unreadable") as record:
        s = load_folder(tmp_path, imagenet_labels(), Selection([FLAMINGO], 10, 0), PREP)
    assert len(s) == 1 and len(record) == 1 and len(s.skipped) == 2


def test_empty_missing_or_imageless_folders_are_clear_errors(tmp_path):
    with pytest.raises(UsageError, match="no images of class 'flamingo'.*n02007558"):
        load_folder(tmp_path, imagenet_labels(), Selection([FLAMINGO], 5, 0), PREP)
    (tmp_path / "flamingo").mkdir()
    (tmp_path / "flamingo" / "notes.txt").write_text("hello")
    with pytest.raises(UsageError, match="no images"):
        load_folder(tmp_path, imagenet_labels(), Selection([FLAMINGO], 5, 0), PREP)
    with pytest.raises(UsageError, match="not found"):
        load_folder(tmp_path / "nope", imagenet_labels(), Selection([FLAMINGO], 5, 0), PREP)


def test_sampling_is_reproducible_and_seeded(tmp_path):
    for i in range(12):
        photo(tmp_path / "flamingo" / f"{i:02d}.jpg", value=10 * i)
    a = load_folder(tmp_path, imagenet_labels(), Selection([FLAMINGO], 4, 0), PREP).sources
    b = load_folder(tmp_path, imagenet_labels(), Selection([FLAMINGO], 4, 0), PREP).sources
    c = load_folder(tmp_path, imagenet_labels(), Selection([FLAMINGO], 4, 1), PREP).sources
    assert a == b and a != c and len(a) == 4


def test_builtin_sample():
    s = load_builtin_sample([7, 8], 5, 0)
    assert s.images.shape == (10, 3, 28, 28) and s.labels.tolist() == [7] * 5 + [8] * 5
    assert load_builtin_sample([7], 5, 0).sources == load_builtin_sample([7], 5, 0).sources


def test_a_truncated_image_stays_unreadable_after_weasyprint_is_imported(tmp_path):
    """WeasyPrint sets Pillow's global LOAD_TRUNCATED_IMAGES at import; rnnviz decodes strictly anyway."""
    import weasyprint  # noqa: F401 - its import is the point
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES  # the global WeasyPrint leaves behind
    path = tmp_path / "half.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:400])
    with pytest.raises(OSError, match="truncated"):
        load_image(path, Preprocess(32))
