"""The streamed sample: exactly load_folder's / load_builtin_sample's images, in shards, with the same skips."""

import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from rnnviz.common.errors import UsageError
from rnnviz.common.shards import shard
from rnnviz.data.builtin import load_builtin_sample, stream_builtin
from rnnviz.data.images import Preprocess, Selection, check_image, read_image, select_files, to_tensor
from rnnviz.data.lazy import ImageKeeper, LazyImages, lazy_set
from rnnviz.data.stream import CheckPlan, find_unreadable, load_folder, stream_folder
from rnnviz.models.labels import imagenet_labels

PREP = Preprocess(size=32, resize=36)
FLAMINGO, GOLDFISH = 130, 1
CLASSES = [FLAMINGO, GOLDFISH]


def picture(path, seed, size=(48, 40)):
    """A noisy picture (every pixel differs, so a wrong order or crop shows)."""
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def folder(tmp_path):
    """Two ImageNet synset folders, JPEG and PNG, odd sizes, one unreadable file; 6 images per class
    make 6 of the 7 flamingos (sampled, seed 3) and all 5 readable goldfish: 11 images."""
    root = tmp_path / "val"
    for i in range(7):
        picture(root / "n02007558" / f"f{i}.{'png' if i % 3 == 0 else 'jpg'}", i, (40 + 7 * i, 60 - 3 * i))
    for i in range(5):
        picture(root / "n01443537" / f"g{i}.jpg", 100 + i, (50 + i, 38))
    (root / "n01443537" / "g9.jpg").write_bytes(b"not a jpeg at all")
    picture(root / "n01530575" / "other.jpg", 999)  # a class not asked for
    return root


def read_both(root, n_per_class=6, seed=3, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chosen = Selection(CLASSES, n_per_class, seed)
        whole = load_folder(root, imagenet_labels(), chosen, PREP)
        stream = stream_folder(root, imagenet_labels(), chosen, PREP, check=CheckPlan(**kw))
    return whole, stream, [str(w.message) for w in caught]


def concat(batches):
    batches = list(batches)
    return torch.cat([b.images for b in batches]), torch.cat([b.labels for b in batches]), batches


@pytest.mark.parametrize(("workers", "batch_size"), [(0, 1), (0, 4), (0, 64), (2, 3), (2, 64)])
def test_stream_is_load_folder_batch_by_batch(folder, workers, batch_size):
    whole, stream, _ = read_both(folder)
    assert len(whole) == len(stream) == 11 and whole.skipped == stream.skipped == ["g9.jpg (UnidentifiedImageError)"]
    images, labels, batches = concat(stream.batches(batch_size, workers=workers))
    assert torch.equal(images, whole.images) and torch.equal(labels, whole.labels)
    assert torch.equal(stream.labels, whole.labels) and stream.sources == whole.sources
    assert [b.start for b in batches] == list(range(0, 11, batch_size))
    assert stream.description == whole.description and stream.count(FLAMINGO) == whole.count(FLAMINGO) == 6


@pytest.mark.parametrize("world", [1, 2, 3])
def test_shards_cover_every_index_once_without_padding(folder, world):
    _, stream, _ = read_both(folder)
    whole_images, whole_labels, _ = concat(stream.batches(4))
    seen, parts = [], []
    for rank in range(world):
        block = stream.shard(rank, world)
        for b in stream.batches(4, workers=2 if rank == 1 else 0, shard=(rank, world)):
            assert block.start <= b.start and b.start + len(b.images) <= block.stop  # never crosses a shard
            seen += range(b.start, b.start + len(b.images))
            parts.append(b)
    assert seen == list(range(11))  # every index once, in order, nothing padded
    assert torch.equal(torch.cat([b.images for b in parts]), whole_images)
    assert torch.equal(torch.cat([b.labels for b in parts]), whole_labels)
    sizes = [len(stream.shard(r, world)) for r in range(world)]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 11


def test_the_shard_rule_is_array_split():
    for n in range(0, 23):
        for world in range(1, 7):
            expected = [a.tolist() for a in np.array_split(np.arange(n), world)]
            assert [list(shard(n, r, world)) for r in range(world)] == expected
    with pytest.raises(ValueError):
        shard(5, 2, 2)


def test_builtin_sample_through_the_stream():
    for classes, n, seed in [([7, 8], 5, 0), ([0, 3], 130, 2)]:  # 130 > the 100 shipped per class: notes
        whole = load_builtin_sample(classes, n, seed)
        stream = stream_builtin(classes, n, seed)
        images, labels, _ = concat(stream.batches(7))
        assert torch.equal(images, whole.images) and torch.equal(labels, whole.labels)
        assert (
            stream.sources == whole.sources and stream.notes == whole.notes and stream.description == whole.description
        )
    assert stream.notes and len(stream) == 200


def test_unreadable_files_are_skipped_exactly_as_load_folder_skips_them(folder):
    full = picture(folder / "big.jpg", 5, (64, 64)).read_bytes()
    (folder / "n01443537" / "g0.jpg").write_bytes(full[:300])  # truncated JPEG
    png = picture(folder / "big.png", 6, (64, 64)).read_bytes()
    (folder / "n01443537" / "g2.jpg").write_bytes(png[: len(png) // 2])  # truncated PNG behind a .jpg name
    (folder / "n01443537" / "g3.jpg").unlink()
    os.mkfifo(folder / "n01443537" / "g3.jpg")  # not a file: neither lists it
    (folder / "n01443537" / "g4.jpg").write_bytes(b"")
    whole, stream, messages = read_both(folder, workers=2)
    assert len(whole.skipped) == 4 and stream.skipped == whole.skipped
    assert messages[0] == messages[1] and messages[0].startswith("skipped 4 unreadable")
    images, labels, _ = concat(stream.batches(3))
    assert torch.equal(images, whole.images) and torch.equal(labels, whole.labels) and stream.sources == whole.sources


def test_a_fifo_named_in_labels_csv_is_skipped_unopened(tmp_path):
    picture(tmp_path / "a.png", 1)
    os.mkfifo(tmp_path / "pipe.png")  # opening it would block forever
    picture(tmp_path / "b.jpg", 2)
    (tmp_path / "labels.csv").write_text("file,label\na.png,flamingo\npipe.png,flamingo\nb.jpg,n02007558\n")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        whole = load_folder(tmp_path, imagenet_labels(), Selection([FLAMINGO], 5, 0), PREP)
        stream = stream_folder(
            tmp_path, imagenet_labels(), Selection([FLAMINGO], 5, 0), PREP, check=CheckPlan(workers=2)
        )
    assert stream.skipped == whole.skipped == ["pipe.png (OSError)"] and stream.sources == whole.sources
    assert torch.equal(concat(stream.batches(8))[0], whole.images)


@pytest.mark.parametrize(
    "suffix, size, progressive",
    [("jpg", (70, 50), False), ("png", (70, 50), False), ("jpg", (520, 390), False), ("jpg", (520, 390), True)],
)
def test_the_check_fails_exactly_where_reading_fails(tmp_path, suffix, size, progressive):
    """The up-front check skips the resize and crop and decodes a JPEG at 1/8 scale; on every
    truncation of a file (baseline and progressive JPEG, PNG) it agrees with a full read."""
    whole = picture(tmp_path / f"whole.{suffix}", 1, size)
    if progressive:
        Image.open(whole).save(whole, format="JPEG", progressive=True, quality=90)
    data = whole.read_bytes()
    prep = PREP if size[0] < 100 else Preprocess(size=224, resize=256)  # 520x390 is read at full scale
    path = tmp_path / f"cut.{suffix}"
    outcomes = set()
    for cut in sorted({*range(0, len(data), max(1, len(data) // 40)), len(data) - 2, len(data) - 1, len(data)}):
        path.write_bytes(data[:cut])
        results = []
        for fn in (read_image, check_image):
            try:
                fn(path, prep)
                results.append(None)
            except Exception as err:
                results.append(type(err))
        assert results[0] == results[1], (cut, results)
        outcomes.add(results[0])
    assert None in outcomes and len(outcomes) > 1  # both kinds of file were seen


def test_a_class_with_no_readable_file_is_the_same_error(folder):
    for i in range(5):
        (folder / "n01443537" / f"g{i}.jpg").write_bytes(b"junk")
    with pytest.raises(UsageError, match="none of the 6 image file") as a, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_folder(folder, imagenet_labels(), Selection(CLASSES, 6, 3), PREP)
    with pytest.raises(UsageError, match="none of the 6 image file") as b:
        stream_folder(folder, imagenet_labels(), Selection(CLASSES, 6, 3), PREP)
    assert str(a.value) == str(b.value)
    with pytest.raises(UsageError, match="no images of class 'tench'"):
        stream_folder(folder, imagenet_labels(), Selection([0], 5, 3), PREP)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_file_broken_after_the_check_stops_the_run(folder, workers):
    _, stream, _ = read_both(folder)
    (folder / "n01443537" / "g1.jpg").write_bytes(b"gone bad")
    with pytest.raises(UsageError, match=r"no longer be read: g1\.jpg"):
        list(stream.batches(4, workers=workers))


def test_ranks_check_their_own_share_of_files(folder):
    """Each rank checks 1/world of the files; gathered, every rank builds the whole index and skip list."""
    whole, _, _ = read_both(folder)
    paths = [p for c in select_files(folder, imagenet_labels(), Selection(CLASSES, 6, 3)) for p in c.files]
    found_by_rank = [find_unreadable(paths, PREP, shard=(r, 3)) for r in range(3)]
    assert [len(f) for f in found_by_rank] == [0, 0, 1]  # g9 is the selection's last file

    def gather(local):
        assert local == found_by_rank[1]  # what this rank (1 of 3) checked itself
        return found_by_rank

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sharded = stream_folder(
            folder, imagenet_labels(), Selection(CLASSES, 6, 3), PREP, check=CheckPlan(shard=(1, 3), gather=gather)
        )
    assert sharded.skipped == whole.skipped and sharded.sources == whole.sources
    with pytest.raises(ValueError, match="needs gather"):
        CheckPlan(shard=(0, 2))


def test_under_torchrun_the_pipeline_checks_one_share_of_the_files_per_rank(folder):
    """``load_images`` with a rank's context checks that rank's share and builds the whole index."""
    from rnnviz.models.loading import load_model
    from rnnviz.pipeline.load import load_images
    from rnnviz.settings.config import build_config
    from rnnviz.sweep.distributed import Distributed

    model = load_model("random:resnet18")
    cfg = build_config(
        {"preset": "imagenet", "classes": ",".join(map(str, CLASSES)), "n_images": 6, "seed": 3, "data": str(folder)}
    )
    prep = Preprocess(model.input_size, model.resize)
    paths = [p for c in select_files(folder, imagenet_labels(), Selection(CLASSES, 6, 3)) for p in c.files]
    seen = []

    def all_gather(local):
        seen.append(local)
        return [find_unreadable(paths, prep, shard=(r, 3)) for r in range(3)]

    ctx = Distributed(rank=2, world=3)
    ctx.all_gather = all_gather  # type: ignore[method-assign]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sharded = load_images(cfg, model, lazy=True, ctx=ctx)
        whole = load_images(cfg, model, lazy=True)
    assert seen == [find_unreadable(paths, prep, shard=(2, 3))] and len(seen[0]) == 1  # rank 2 checked g9 itself
    assert sharded.sources == whole.sources and sharded.skipped == whole.skipped and len(whole.skipped) == 1


def test_examples_are_kept_on_the_way_and_by_index(folder):
    whole, stream, _ = read_both(folder)
    chosen = [0, 4, 5, 10]
    keepers = []
    for rank in range(3):
        keeper = ImageKeeper(chosen)
        for b in stream.batches(2, shard=(rank, 3)):
            keeper.add(b)
        keepers.append(keeper)
    with pytest.raises(ValueError, match="never in a batch"):
        keepers[0].stacked()
    kept = keepers[0].merge(keepers[1]).merge(keepers[2]).stacked()
    assert sorted(kept) == chosen and all(torch.equal(kept[i], whole.images[i]) for i in chosen)
    assert torch.equal(stream.images_at(chosen), whole.images[chosen])


def test_to_tensor_is_bit_identical_to_torch_float_division():
    """data.to_tensor divides in numpy; every possible 8-bit value gives torch's ``.float() / 255.0``."""
    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    expected = torch.from_numpy(values.copy()).permute(2, 0, 1).float() / 255.0
    assert torch.equal(to_tensor(Image.fromarray(values)), expected)


# ------------------------------------------------------------------ the lazy view the pipeline feeds the engine


def passes(view, batch_size):
    """What every engine pass reads: consecutive slices ``[a, a + batch_size)``, the last one short."""
    return [view[a : a + batch_size] for a in range(0, len(view), batch_size)]


@pytest.mark.parametrize("workers", [0, 2])
def test_lazy_view_reads_exactly_as_the_tensor(folder, workers):
    whole, stream, _ = read_both(folder)
    x, view = whole.images, LazyImages(stream, batch_size=3, workers=workers)
    assert len(view) == len(x) == 11
    for _ in range(2):  # a second pass starts over
        assert torch.equal(torch.cat(passes(view, 3)), x)
    assert torch.equal(view[0:3], x[0:3]) and torch.equal(view[6:9], x[6:9])  # a pass that skips a batch
    assert torch.equal(view[3:6], x[3:6])  # out of order: decoded directly
    assert torch.equal(view[:1], x[:1]) and torch.equal(view[2:7], x[2:7]) and torch.equal(view[::4], x[::4])
    assert torch.equal(view[4], x[4]) and torch.equal(view[-1], x[-1]) and torch.equal(view[np.int64(2)], x[2])
    assert torch.equal(view[[9, 0, 9]], x[[9, 0, 9]]) and torch.equal(view[torch.tensor([5, 1])], x[[5, 1]])
    assert torch.equal(view[torch.arange(11) % 3 == 0], x[torch.arange(11) % 3 == 0])
    assert view[5:5].shape == x[5:5].shape
    with pytest.raises(IndexError):
        view[11]
    part = view.shard(range(4, 9))
    assert len(part) == 5 and torch.equal(torch.cat(passes(part, 3)), x[4:9]) and torch.equal(part[[0, -1]], x[[4, 8]])


class Counting(torch.utils.data.Dataset):
    """A stream's dataset that counts the images it decodes."""

    def __init__(self, inner):
        self.inner, self.decoded = inner, 0

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, i):
        self.decoded += 1
        return self.inner[i]


def test_lazy_view_decodes_only_what_is_asked_for():
    """Never more than the request (at most a batch) is decoded, so memory is flat in the images."""
    stream = stream_builtin([7, 8, 9], 10, 0)
    stream.dataset = counting = Counting(stream.dataset)
    view = LazyImages(stream, batch_size=4)
    for _ in range(2):
        for a in range(0, 30, 4):
            before = counting.decoded
            assert len(view[a : a + 4]) == counting.decoded - before == min(4, 30 - a)
        assert view._ahead is None  # the pass is over: its loader is gone
    before = counting.decoded
    view[[3, 17]], view[5], view[:1]
    assert counting.decoded - before == 4
    assert counting.decoded == 2 * 30 + 4


def test_lazy_set_is_the_image_set():
    whole, stream = load_builtin_sample([7, 8], 5, 0), stream_builtin([7, 8], 5, 0)
    lazy = lazy_set(stream, batch_size=4)
    assert isinstance(lazy.images, LazyImages) and torch.equal(lazy.images[0:4], whole.images[0:4])
    assert torch.equal(lazy.labels, whole.labels) and lazy.sources == whole.sources and len(lazy) == len(whole)


def test_workers_give_the_same_results(offline):
    """A run decoding in 2 worker processes writes the numbers of a run decoding in its own."""
    import json

    import rnnviz

    tiny = {
        "preset": "fashion",
        "classes": "sneaker,bag",
        "n_images": 5,  # 10 images in batches of 4, 4, 2
        "batch_size": 4,
        "eps": "0,0.1",
        "attack": "fgsm",
        "bootstrap": 20,
        "patch": "none",
        "transfer": False,
        "fgsm_grid": 0,
        "exemplars": 2,
        "n_examples": 1,
        "top_k": 2,
        "quality": "none",
    }
    got = []
    for workers in (0, 2):
        out = rnnviz.run(rnnviz.build_config({**tiny, "workers": workers, "out": f"w{workers}"}), progress=False)
        results = json.loads((out / "results.json").read_text())
        assert results["config"].pop("workers") == workers
        got.append({k: v for k, v in results.items() if k not in {"timings", "created", "environment", "out"}})
    assert got[0] == got[1]
