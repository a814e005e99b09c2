"""Seeded stand-in tensors for a network: He-normal weights, zero biases, a natural image.

They are used when no real model is given. Zeros in the activations then come from running
the network on an input that looks like a photograph, not from white noise: a 1/f^alpha
amplitude spectrum (Field 1987; alpha = 1.2, the average over 135 photographs in Tolhurst,
Tadmor & Chao 1992, so power falls as f^-2.4) with random phases, one luminance field shared
by all channels plus weaker per-channel chroma (so channels correlate as R, G and B do),
rendered as 8-bit pixels in [0, 1] and normalised with the ImageNet channel statistics, as a
real image would be before entering the network.

Every array is a pure function of ``(seed, what it is)``: the input has its own stream and
each layer's weights come from a stream keyed by the seed and the layer's *name*, so adding,
removing or reshaping one layer leaves every other layer's weights bit-identical. Treat the
arrays as read-only; they are not copied for each consumer.

Real inputs replace the seeded image with :func:`load_input`: a ``.npy`` array (already
preprocessed), an image file, or ``sample:NAME``, a photograph that ships inside an
installed package (``sample:grace_hopper`` with matplotlib; ``sample:china`` and
``sample:flower`` with scikit-learn). Images are resized to cover the network input,
centre-cropped, rounded to 8 bits and normalised per channel like the seeded image.
``provenance`` says where every tensor came from and which transforms changed it.

Every :class:`NetworkTensors` checks its values when it is made (:func:`values_problem`): no
NaN or infinity, and magnitudes the 16-bit fixed point of any arch can hold (a tensor's
scale, a bias in the int64 accumulator), so a bad model fails in one line, not in the
middle of a run with arbitrary integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from accelsim import fixedpoint
from accelsim.errors import AccelsimError
from accelsim.workload.layer import Layer
from accelsim.workload.network import Network
from accelsim.workload.precision import LayerPrecision

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_MEAN, GRAY_STD = 0.5, 0.25
"""Pixel statistics for inputs that do not have 3 channels (each channel gets these)."""
CHROMA_WEIGHT = 0.35
"""Per-channel field amplitude relative to the shared luminance: the cross-channel
correlation is 1 / (1 + CHROMA_WEIGHT**2), about 0.89, close to that of RGB photographs."""
SPECTRUM_EXPONENT = 1.2
"""Amplitude ~ 1/f**SPECTRUM_EXPONENT. Exactly 1/f would make neighbouring pixels of a
224x224 image correlate only ~0.78; 1.2 gives ~0.9, as in photographs."""
PIXEL_LEVELS = 255
"""Pixels are quantised to 8 bits, as a decoded image file is."""

_INPUT_STREAM, _WEIGHT_STREAM = 0, 1


@dataclass(frozen=True)
class NetworkTensors:
    """A network's input, weights and biases, and where each came from."""

    input: np.ndarray
    """float32, ``network.input_shape`` (C, H, W)."""
    weights: dict[str, np.ndarray]
    """Layer name -> float32 ``Layer.weight_shape`` (M, C/G, R, S), for conv and fc layers."""
    biases: dict[str, np.ndarray]
    """Layer name -> float32 (M,), for conv and fc layers."""
    provenance: dict[str, str]
    """``weights``, ``biases``, ``input`` -> how they were made; ``transforms`` -> what changed
    them since (absent if nothing did). Recorded in every Result."""
    precision: dict[str, LayerPrecision] = field(default_factory=dict)
    """Layer name -> the bits its operands are held in (:mod:`accelsim.workload.precision`),
    set by the precision and binarize transforms; empty: every layer at the arch's precision."""

    def __post_init__(self) -> None:
        problem = values_problem(self)
        if problem:
            raise AccelsimError(problem)


MIN_SCALE = 2.0 ** -100
"""The smallest non-zero peak magnitude a weight or input tensor may have: fixed16 scales a
tensor by ``2**frac`` with ``frac = 15 - exponent(peak)``, and that scale must stay a finite
float32 (below ``2**-112`` it overflows and the int16 codes saturate)."""
ACTIVATION_FRAC_BITS = 16
"""Fraction bits a layer's fixed16 input has when its largest magnitude is at least 0.25
(more only for smaller activations): what the bias bound leaves room for."""
ACCUMULATOR_BITS = 62
"""A bias code may use this many bits of the int64 accumulator; the rest is room for the
sum of the products (each below ``2**30``)."""


def values_problem(tensors: NetworkTensors) -> str | None:
    """Why the tensors cannot run on every precision, or None: a NaN or infinity anywhere,
    a weight or input tensor whose peak is below :data:`MIN_SCALE`, or a bias that does not
    fit fixed16's int64 accumulator. Checked when tensors are made (whatever the arch), so
    the same tensors run on every arch of a comparison."""
    peaks: dict[tuple[str, str], float] = {}
    for key, arrays in (("input", {"": tensors.input}), ("weights", tensors.weights),
                        ("biases", tensors.biases)):
        for name, array in arrays.items():
            what = f"layer {name!r} {key}" if name else "the input"
            source = f" ({tensors.provenance.get(key, key)})"
            low, high = (float(np.min(array)), float(np.max(array))) if np.size(array) \
                else (0.0, 0.0)
            if not (np.isfinite(low) and np.isfinite(high)):
                return f"{what}: NaN or infinite values{source}"
            peak = peaks[key, name] = max(-low, high)
            if key != "biases" and 0 < peak < MIN_SCALE:
                return (f"{what}: the largest magnitude, {peak:.3g}, is below 2**-100, too "
                        f"small for fixed16's per-tensor scale{source}")
    for name in tensors.biases:
        weights_frac = fixedpoint.frac_bits_for(peaks.get(("weights", name), 0.0))
        exponent = ACCUMULATOR_BITS - ACTIVATION_FRAC_BITS - weights_frac
        if peaks["biases", name] >= 2.0 ** exponent:
            return (f"layer {name!r}: bias {peaks['biases', name]:.4g} cannot be represented "
                    f"in fixed16: a bias joins the int64 accumulator at the weights' "
                    f"{weights_frac} plus up to {ACTIVATION_FRAC_BITS} activation fraction "
                    f"bits, so |bias| must be below 2**{exponent} = {2.0 ** exponent:.4g} "
                    f"({tensors.provenance.get('biases', 'biases')})")
    return None


def make_tensors(network: Network, seed: int = 0) -> NetworkTensors:
    """Seeded tensors for every layer with weights; same seed, bit-identical arrays.

    Biases are zero, as He initialisation sets them; real biases arrive with imported models.
    """
    image = seeded_input(network.input_shape, seed)
    weights: dict[str, np.ndarray] = {}
    biases: dict[str, np.ndarray] = {}
    for layer in network.layers:
        if layer.has_weights:
            weights[layer.name] = he_normal(layer, layer_rng(seed, layer.name))
            biases[layer.name] = np.zeros(layer.out_channels, dtype=np.float32)
    provenance = {"weights": f"he-normal(seed={seed})", "biases": "zeros",
                  "input": f"natural-image(seed={seed})"}
    return NetworkTensors(input=image, weights=weights, biases=biases, provenance=provenance)


def seeded_input(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """The seeded natural-image input of a network with this input shape."""
    _check_seed(seed)
    return natural_image(shape, np.random.default_rng([seed, _INPUT_STREAM]))


def layer_rng(seed: int, layer_name: str) -> np.random.Generator:
    """The random stream of one layer, keyed by seed and name (not by position).

    The name's UTF-8 bytes, read as one integer, are part of the SeedSequence entropy, so
    distinct names always give distinct streams (no hash collisions).
    """
    name_key = int.from_bytes(layer_name.encode("utf-8"), "little")
    return np.random.default_rng([seed, _WEIGHT_STREAM, name_key])


def he_normal(layer: Layer, rng: np.random.Generator) -> np.ndarray:
    """He-normal weights (He et al., ICCV 2015): N(0, 2 / fan_in), fan_in = C/G * R * S.

    Keeps activations at a stable scale through ReLU layers, so the zero fraction of each
    layer's output stays near one half instead of vanishing or exploding with depth.
    """
    if not layer.has_weights:
        raise ValueError(f"layer {layer.name!r} is a {layer.kind} layer and has no weights")
    fan_in = int(np.prod(layer.weight_shape[1:]))   # C/G * (T *) R * S
    std = np.float32(np.sqrt(2.0 / fan_in))
    return rng.standard_normal(layer.weight_shape, dtype=np.float32) * std


def natural_image(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """A (C, H, W) float32 image with photograph statistics, normalised per channel.

    Pixels have the ImageNet channel means and deviations (3 channels) or mean 0.5 and
    deviation 0.25 (any other channel count), are clipped to [0, 1] and rounded to 8 bits,
    then normalised with those same statistics, so each channel is roughly zero-mean and
    unit-variance, as after a torchvision ``Normalize``.
    """
    channels, height, width = (int(v) for v in shape)
    fields = _pink_fields(channels + 1, height, width, rng)
    luminance, chroma = fields[0], fields[1:]
    mixed = (luminance + CHROMA_WEIGHT * chroma) / np.hypot(1.0, CHROMA_WEIGHT)
    mean, std = _pixel_stats(channels)
    pixels = np.clip(mean + std * mixed, 0.0, 1.0)
    pixels = np.round(pixels * PIXEL_LEVELS) / PIXEL_LEVELS
    return ((pixels - mean) / std).astype(np.float32)


def _pink_fields(count: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` independent (H, W) fields, amplitude 1/f^alpha, random phase, unit RMS."""
    freq_y = np.fft.fftfreq(height)[:, None]
    freq_x = np.fft.rfftfreq(width)[None, :]
    radius = np.hypot(freq_y, freq_x)
    amplitude = np.zeros_like(radius)
    np.divide(1.0, radius**SPECTRUM_EXPONENT, out=amplitude, where=radius > 0)
    if height * width == 1:
        amplitude[0, 0] = 1.0  # a 1x1 image has only its mean: keep it random
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(count, *radius.shape))
    fields = np.fft.irfft2(amplitude * np.exp(1j * phase), s=(height, width), axes=(-2, -1))
    rms = np.sqrt(np.mean(fields**2, axis=(-2, -1), keepdims=True))
    return fields / np.where(rms > 0, rms, 1.0)


def _pixel_stats(channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel pixel mean and deviation, shaped (C, 1, 1) to broadcast over H, W."""
    if channels == 3:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = (GRAY_MEAN,) * channels, (GRAY_STD,) * channels
    return (np.asarray(mean, dtype=np.float64)[:, None, None],
            np.asarray(std, dtype=np.float64)[:, None, None])


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise AccelsimError(f"seed must be an integer >= 0, got {seed!r}")


# ---- real inputs ---------------------------------------------------------------------------

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
SAMPLE_IMAGES = {
    "grace_hopper": ("matplotlib", "grace_hopper.jpg"),
    "china": ("sklearn", "china.jpg"),
    "flower": ("sklearn", "flower.jpg"),
}
"""``sample:NAME`` photographs: (package that ships it, file name)."""


@dataclass(frozen=True)
class Normalization:
    """Per-channel pixel mean and deviation (pixels in [0, 1]) a network expects."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def default(cls, channels: int) -> Normalization:
        """ImageNet statistics for 3 channels, mean 0.5 / deviation 0.25 otherwise."""
        mean, std = _pixel_stats(channels)
        return cls(tuple(mean.ravel().tolist()), tuple(std.ravel().tolist()))


def load_input(source: str | Path, shape: tuple[int, int, int],
               normalization: Normalization | None = None) -> tuple[np.ndarray, str]:
    """A network input from a ``.npy`` file, an image file or ``sample:NAME``.

    Returns the float32 ``C x H x W`` array and a provenance line. A ``.npy`` must already
    have the network's input shape (a leading batch of 1 is allowed); images are resized.
    """
    channels, height, width = (int(v) for v in shape)
    text = str(source)
    if text.startswith("sample:"):
        path, what = _sample_image(text[len("sample:"):]), f"sample image {text[7:]}"
    else:
        path, what = Path(source), f"image {source}"
        if not path.is_file():
            raise AccelsimError(f"{source}: input file not found")
        if path.suffix.lower() == ".npy":
            return _npy_input(path, (channels, height, width)), f"array {source}"
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise AccelsimError(f"{source}: input must be a .npy array or an image "
                                f"({', '.join(IMAGE_SUFFIXES)}), or sample:NAME")
    norm = normalization or Normalization.default(channels)
    if len(norm.mean) not in (1, channels) or len(norm.std) not in (1, channels):
        raise AccelsimError(f"{source}: normalization has {len(norm.mean)} means for a "
                            f"{channels}-channel input")
    pixels = _image_pixels(path, channels, height, width, str(source))
    mean = np.asarray(norm.mean, dtype=np.float64).reshape(-1, 1, 1)
    std = np.asarray(norm.std, dtype=np.float64).reshape(-1, 1, 1)
    array = ((pixels / PIXEL_LEVELS - mean) / std).astype(np.float32)
    return array, (f"{what}, resized and cropped to {height}x{width}, normalized "
                   f"(mean {_fmt(norm.mean)}, std {_fmt(norm.std)})")


def with_input(tensors: NetworkTensors, array: np.ndarray, description: str) -> NetworkTensors:
    """The same tensors with another network input (its shape must not change)."""
    if array.shape != tensors.input.shape:
        raise AccelsimError(f"{description}: input shape {array.shape} differs from the "
                            f"network's {tensors.input.shape}")
    return replace(tensors, input=np.ascontiguousarray(array, dtype=np.float32),
                   provenance={**tensors.provenance, "input": description})


def with_transform_note(tensors: NetworkTensors, note: str, **changes) -> NetworkTensors:
    """``replace(tensors, **changes)`` with ``note`` appended to ``provenance["transforms"]``
    (and the weights' or biases' provenance marked as transformed when they change)."""
    done = tensors.provenance.get("transforms")
    provenance = {**tensors.provenance, "transforms": f"{done}; {note}" if done else note}
    for key in ("weights", "biases"):
        if key in changes and not provenance.get(key, "").endswith(", transformed"):
            provenance[key] = f"{provenance.get(key, '?')}, transformed"
    return replace(tensors, provenance=provenance, **changes)


def _fmt(values: tuple[float, ...]) -> str:
    return "/".join(f"{v:.4g}" for v in values)


def _npy_input(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    try:   # allow_pickle=False: a pickle could run code; an .npz is not one array
        array = np.load(path, allow_pickle=False)
        if not isinstance(array, np.ndarray):
            raise ValueError("an .npz archive, not one .npy array")
    except (ValueError, OSError, EOFError) as err:
        raise AccelsimError(f"{path}: not a readable .npy array ({err})") from None
    if array.shape == (1, *shape):
        array = array[0]
    if array.shape != shape or not np.issubdtype(array.dtype, np.number) or (
            np.issubdtype(array.dtype, np.complexfloating)):
        raise AccelsimError(f"{path}: expected a real numeric array of shape {list(shape)} "
                            f"(C, H, W), got {array.dtype} {list(array.shape)}")
    if not np.all(np.isfinite(array)):
        raise AccelsimError(f"{path}: the array holds NaN or infinite values")
    return np.ascontiguousarray(array, dtype=np.float32)


def _image_pixels(path: Path, channels: int, height: int, width: int, where: str) -> np.ndarray:
    """8-bit pixels ``C x H x W`` (float64): resized to cover H x W, centre-cropped."""
    from PIL import Image, UnidentifiedImageError

    if channels not in (1, 3):
        raise AccelsimError(f"{where}: images feed 1- or 3-channel inputs, the network "
                            f"takes {channels} channels (give a .npy array instead)")
    try:
        with Image.open(path) as opened:
            image = opened.convert("L" if channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise AccelsimError(f"{where}: not a readable image ({err})") from None
    scale = max(height / image.height, width / image.width)
    size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    if size != image.size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    image = image.crop((left, top, left + width, top + height))
    pixels = np.asarray(image, dtype=np.float64)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def _sample_image(name: str) -> Path:
    if name not in SAMPLE_IMAGES:
        raise AccelsimError(f"sample:{name}: unknown sample image; known: "
                            f"{', '.join(SAMPLE_IMAGES)}")
    package, filename = SAMPLE_IMAGES[name]
    if package == "matplotlib":
        from matplotlib import cbook

        return Path(cbook.get_sample_data(filename, asfileobj=False))
    try:
        from sklearn import datasets
    except ImportError:
        raise AccelsimError(f"sample:{name}: ships with scikit-learn, which is not installed "
                            "(pip install scikit-learn)") from None
    return Path(datasets.__file__).parent / "images" / filename
