#!/usr/bin/env python3
"""OpenCV's contrast equalisation of 8-bit grey images, for the Swift tests to compare against
(Lightbox's Equalization must match it exactly, pixel for pixel).

For a fixed, deterministic set of grey images (seeded noise, gradients, blocks, a constant
image, tiny and one-pixel-thin images, sizes that are and are not multiples of the 8x8 tile
grid, and with --xray a real X-ray at several sizes) writes to OUT_DIR:
  NAME.input.u8       the grey image, raw bytes, row-major (width * height bytes)
  NAME.histogram.u8   cv2.equalizeHist(input)
  NAME.clahe.u8       cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(input)
  index.json          {"cv2": version, "images": [{"name", "width", "height"}]}

The X-ray is read with cv2.imread(IMREAD_GRAYSCALE) and resized with cv2.resize(INTER_AREA);
its decoding may differ between OpenCV builds, which does not matter: the comparison uses
the input bytes written here.

Needs numpy and opencv-python-headless:
  python scripts/reference/equalize_reference.py OUT_DIR [--xray ../shared/data/covid-chestxray/images/000001-12.jpg]
"""
import argparse, json, os, sys
import numpy as np
import cv2


def fail(message):
    sys.exit(f"equalize_reference.py: error: {message}")


def synthetic():
    """(name, uint8 array of shape (height, width)) for the generated images."""
    def noise(seed, w, h, low=0, high=256):
        return np.random.default_rng(seed).integers(low, high, size=(h, w), dtype=np.int64).astype(np.uint8)

    def ramp(w, h):  # diagonal gradient over the full range
        y, x = np.mgrid[0:h, 0:w]
        return np.rint((x + y) * 255.0 / max(w + h - 2, 1)).astype(np.uint8)

    images = [
        ("noise_64x48", noise(0, 64, 48)),
        # Normal around 110: a peaked histogram, so tiles are clipped.
        ("normal_224x224", np.clip(np.random.default_rng(1).normal(110, 25, (224, 224)), 0, 255).round().astype(np.uint8)),
        # Twelve levels only: heavy clipping, the clipped remainder spread bin by bin.
        ("lowcontrast_100x80", noise(2, 100, 80, 100, 112)),
        ("fourlevels_256x64", noise(3, 256, 64, 0, 4)),
        ("hramp_256x64", np.tile(np.arange(256, dtype=np.uint8), (64, 1))),
        ("ramp_97x61", ramp(97, 61)),
        # Width a multiple of 8, height not: OpenCV still extends the width by 8 columns.
        ("blocks_64x50", ((np.mgrid[0:50, 0:64][0] // 7 * 37 + np.mgrid[0:50, 0:64][1] // 5 * 11) % 256).astype(np.uint8)),
        ("sparse_33x47", np.where(noise(4, 33, 47) > 240, 255, 0).astype(np.uint8)),
        ("constant_50x40", np.full((40, 50), 128, np.uint8)),
        ("tiny_1x1", np.full((1, 1), 77, np.uint8)),
        ("tiny_2x2", np.array([[10, 200], [90, 90]], np.uint8)),
        ("tiny_7x5", noise(5, 7, 5)),
        ("odd_9x17", noise(6, 9, 17)),
        ("thin_1x300", (np.arange(300) * 255 // 299).astype(np.uint8).reshape(300, 1) ^ noise(7, 1, 300, 0, 8)),
        ("thin_300x1", noise(8, 300, 1)),
        ("thin_2x300", noise(9, 2, 300, 60, 180)),
    ]
    return images


def xray_images(path):
    gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if gray is None:
        fail(f"cannot read the X-ray {path}")
    images = [("xray_full", gray)]
    for w, h in [(224, 224), (225, 199), (800, 600)]:  # 800x600: above equalizeHist's parallel threshold
        images.append((f"xray_{w}x{h}", cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA)))
    return images


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="folder to write into (created)")
    ap.add_argument("--xray", help="a real X-ray to include, resized to several sizes")
    args = ap.parse_args()

    images = synthetic() + (xray_images(args.xray) if args.xray else [])
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    os.makedirs(args.out, exist_ok=True)
    index = []
    for name, gray in images:
        gray = np.ascontiguousarray(gray, dtype=np.uint8)
        height, width = gray.shape
        outputs = {"input": gray, "histogram": cv2.equalizeHist(gray), "clahe": clahe.apply(gray)}
        for kind, array in outputs.items():
            assert array.dtype == np.uint8 and array.shape == gray.shape, (name, kind, array.dtype, array.shape)
            with open(os.path.join(args.out, f"{name}.{kind}.u8"), "wb") as f:
                f.write(np.ascontiguousarray(array).tobytes())
        index.append({"name": name, "width": width, "height": height})
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump({"cv2": cv2.__version__, "images": index}, f, indent=1)
    print(f"wrote {len(index)} images with cv2 {cv2.__version__} to {args.out}")


if __name__ == "__main__":
    main()
