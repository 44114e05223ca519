#!/usr/bin/env python3
"""Fine-tuning's augmentation computed with torch in float64, for the Swift tests to compare
against (Lightbox's augmentation kernel (AugmentationKernel.swift) must match it within 1e-4 after normalisation).

Reads CASES_DIR/cases.json, {"cases": [{"name", "width", "height", "rotation", "shift_x",
"shift_y", "zoom", "brightness", "contrast"}], "mean": [3], "std": [3]}, and for each case the
8-bit RGB picture NAME.input.u8 (height x width x 3, row-major). Writes NAME.expected.f32: the
normalised float32 output, height x width x 3.

The geometry is torch.nn.functional.grid_sample (bilinear, zeros padding, align_corners=True,
so -1 and 1 are the centres of the edge pixels) on the inverse affine map about the picture's
centre: output pixel (x, y) samples the source at
  sx = cos(a)/zoom * ox + sin(a)/zoom * oy + cx,  sy = -sin(a)/zoom * ox + cos(a)/zoom * oy + cy,
  ox = x - cx - shift_x * width,  oy = y - cy - shift_y * height,  (cx, cy) = ((w-1)/2, (h-1)/2);
then v = clip((v/255 - mean) * contrast + mean + brightness, 0, 1), mean being the warped
picture's mean in 0..1 units; then (v - mean_c) / std_c.

  python scripts/reference/augment_reference.py CASES_DIR
"""
import json, math, os, sys
import numpy as np
import torch
import torch.nn.functional as F


def augment(image, case, mean_c, std_c):
    h, w = image.shape[:2]
    a = math.radians(case["rotation"])
    c, s = math.cos(a) / case["zoom"], math.sin(a) / case["zoom"]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    ox, oy = xs - cx - case["shift_x"] * w, ys - cy - case["shift_y"] * h
    sx, sy = c * ox + s * oy + cx, -s * ox + c * oy + cy
    grid = torch.stack([2 * sx / (w - 1) - 1, 2 * sy / (h - 1) - 1], dim=-1)[None]
    source = torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)[None]
    warped = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=True)[0].permute(1, 2, 0)
    mean = warped.mean() / 255
    v = torch.clamp((warped / 255 - mean) * case["contrast"] + mean + case["brightness"], 0, 1)
    return ((v - torch.tensor(mean_c, dtype=torch.float64)) / torch.tensor(std_c, dtype=torch.float64)).numpy()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: augment_reference.py CASES_DIR")
    folder = sys.argv[1]
    spec = json.load(open(os.path.join(folder, "cases.json")))
    for case in spec["cases"]:
        h, w = case["height"], case["width"]
        if w < 2 or h < 2:
            sys.exit(f"augment_reference.py: error: {case['name']}: grid_sample with align_corners needs 2 pixels a side")
        raw = np.fromfile(os.path.join(folder, case["name"] + ".input.u8"), dtype=np.uint8)
        if raw.size != h * w * 3:
            sys.exit(f"augment_reference.py: error: {case['name']}.input.u8 has {raw.size} bytes, not {h * w * 3}")
        out = augment(raw.reshape(h, w, 3), case, spec["mean"], spec["std"])
        out.astype(np.float32).tofile(os.path.join(folder, case["name"] + ".expected.f32"))


if __name__ == "__main__":
    main()
