#!/usr/bin/env python3
"""Reference embeddings for Lightbox's MobileNetV2, computed independently with torch.

The network is torchvision's MobileNetV2 written out here (no torchvision wheel exists
for torch 2.13 on this machine), loaded from the same checkpoint with torch.load. Images
are decoded with Pillow, resized with torch's antialiased bilinear interpolation, and
normalised with ImageNet statistics: the preprocessing Lightbox documents.

Writes JSON: {"images": [{"path", "resize", "embedding": [1280], "top5": [[class, logit]]}]}
Paths are relative to the shared folder given with --shared (or absolute for photos
outside it). Run: python3 scripts/reference/mobilenet_v2_reference.py --checkpoint FILE.pth
"""
import argparse, json, math, os
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def conv_bn(inp, out, k, stride, groups=1, relu=True):
    layers = [nn.Conv2d(inp, out, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(out)]
    if relu:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, inp, out, stride, t):
        super().__init__()
        hidden = inp * t
        self.use_res = stride == 1 and inp == out
        layers = [] if t == 1 else [conv_bn(inp, hidden, 1, 1)]
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self):
        super().__init__()
        features = [conv_bn(3, 32, 3, 2)]
        c = 32
        for t, out, n, s in SETTING:
            for i in range(n):
                features.append(InvertedResidual(c, out, s if i == 0 else 1, t))
                c = out
        features.append(conv_bn(c, 1280, 1, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

    def forward(self, x):
        f = self.features(x)
        e = f.mean(dim=(2, 3))
        return e, self.classifier(e)


def load_rgb(path, policy="crop", size=224):
    """8-bit RGB as float; alpha composited over black in the stored values, as Lightbox does.
    JPEGs are decoded at 1/2, 1/4 or 1/8 scale when still large enough (Pillow's draft: the
    largest reduction s in 8, 4, 2 with s <= short side // size, or long side // size for pad)."""
    im = Image.open(path)
    if im.format == "JPEG":
        W, H = im.size
        request = (size, size) if policy != "pad" else ((size, 1) if W >= H else (1, size))
        im.draft(im.mode, request)
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        a = np.asarray(im, dtype=np.float64)
        return (a[..., :3] * (a[..., 3:4] / 255.0)).astype(np.float32)
    return np.asarray(im.convert("RGB"), dtype=np.float32)


def resize(hwc, w, h):
    t = torch.from_numpy(hwc).permute(2, 0, 1)[None].double()
    out = F.interpolate(t, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    return out[0].permute(1, 2, 0).numpy()


def preprocess(path, policy, size=224):
    img = load_rgb(path, policy, size)
    H, W = img.shape[:2]
    if policy == "crop":
        s = min(W, H)
        x0, y0 = (W - s) // 2, (H - s) // 2
        out = resize(np.ascontiguousarray(img[y0:y0 + s, x0:x0 + s]), size, size)
    elif policy == "stretch":
        out = resize(img, size, size)
    else:  # pad
        scale = size / max(W, H)
        w = min(size, max(1, int(math.floor(W * scale + 0.5))))
        h = min(size, max(1, int(math.floor(H * scale + 0.5))))
        out = np.zeros((size, size, 3))
        x0, y0 = (size - w) // 2, (size - h) // 2
        out[y0:y0 + h, x0:x0 + w] = resize(img, w, h)
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    x = (out / 255.0 - mean) / std
    return torch.from_numpy(x).permute(2, 0, 1).float()


# Real chest X-rays from the developer data set (relative to --shared), each format the
# data set holds, and every resize policy; plus a photograph for the ImageNet head.
IMAGES = [
    ("data/covid-chestxray/images/00870a9c.jpg", "crop"),            # JPEG, grayscale
    ("data/covid-chestxray/images/000001-2.jpg", "crop"),            # JPEG, RGB
    ("data/covid-chestxray/images/000001-12.jpg", "crop"),           # PNG RGBA named .jpg
    ("data/covid-chestxray/images/tpmd200203f2-a.png", "pad"),       # PNG palette
    ("data/covid-chestxray/images/10.1016-slash-j.crad.2020.04.002-b.png", "stretch"),  # PNG gray
    ("data/covid-chestxray/images/1-s2.0-S1521661620303314-gr1_lrg-a.png", "pad"),      # PNG RGB
    ("/usr/share/darknet/data/eagle.jpg", "crop"),                   # a photograph (Debian darknet)
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "../../../shared"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                  "../../Tests/LightboxModelsTests/Fixtures/reference_embeddings.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = MobileNetV2()
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    results = []
    with torch.no_grad():
        for rel, policy in IMAGES:
            path = rel if os.path.isabs(rel) else os.path.join(args.shared, rel)
            e, logits = model(preprocess(path, policy)[None])
            top = torch.topk(logits[0], 5)
            results.append({"path": rel, "resize": policy,
                            "embedding": [round(float(v), 7) for v in e[0]],
                            "top5": [[int(i), round(float(v), 5)] for v, i in zip(top.values, top.indices)]})
            print(rel, policy, "top1", int(top.indices[0]))
    with open(args.out, "w") as f:
        json.dump({"generator": "scripts/reference/mobilenet_v2_reference.py", "torch": torch.__version__,
                   "images": results}, f, indent=0)


if __name__ == "__main__":
    main()
