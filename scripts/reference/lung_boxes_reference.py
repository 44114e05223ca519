#!/usr/bin/env python3
"""Reference lung boxes for Lightbox's lung locator, computed independently with torch.

The same locator file (safetensors: weights [62720, 4] over the NHWC-flattened last feature map,
bias [4]) applied to torchvision's MobileNetV2 (written out in mobilenet_v2_reference.py) on
each picture padded to 224 (Pillow decoding, torch's antialiased bilinear resize, ImageNet
statistics), the square's box mapped back onto the picture as Lightbox maps it.

  lung_boxes_reference.py --checkpoint FILE.pth --locator FILE.safetensors --out OUT.json IMAGE...

Writes {"pictures": [{"path", "width", "height", "box": [x0, y0, x1, y1] in pixels}],
"seconds": time for decoding, the network and the locator}.
"""
import argparse, json, math, os, struct, sys, time
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import mobilenet_v2_reference as R


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        a, b = entry["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(entry["shape"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--locator", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    locator = read_safetensors(args.locator)
    w = torch.from_numpy(locator["weights"].astype(np.float64))
    b = torch.from_numpy(locator["bias"].astype(np.float64))
    model = R.MobileNetV2()
    model.load_state_dict(torch.load(args.checkpoint, map_location="cpu", weights_only=True))
    model.eval()
    size = 224
    start = time.perf_counter()
    pictures = []
    with torch.no_grad():
        for path in args.images:
            W, H = Image.open(path).size  # EXIF orientation: the developer pictures have none
            x = R.preprocess(path, "pad", size)[None]
            maps = model.features(x).permute(0, 2, 3, 1).reshape(1, -1).double()  # NHWC, as Lightbox
            s = (maps @ w + b)[0].clamp(0, 1).tolist()
            # The picture's placement in the square, by Lightbox's integer rules (Preprocessor.placement).
            scale = size / max(W, H)
            iw = min(size, max(1, int(math.floor(W * scale + 0.5))))
            ih = min(size, max(1, int(math.floor(H * scale + 0.5))))
            left, top = (size - iw) // 2, (size - ih) // 2
            fx = [min(1, max(0, (v * size - left) / iw)) for v in (s[0], s[2])]
            fy = [min(1, max(0, (v * size - top) / ih)) for v in (s[1], s[3])]
            pictures.append({"path": path, "width": W, "height": H,
                             "box": [fx[0] * W, fy[0] * H, fx[1] * W, fy[1] * H]})
    seconds = time.perf_counter() - start
    json.dump({"pictures": pictures, "seconds": seconds, "torch": torch.__version__}, open(args.out, "w"))


if __name__ == "__main__":
    main()
