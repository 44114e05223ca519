#!/usr/bin/env python3
"""Reference probabilities for a Teachable Machine TF.js export, computed independently.

Reads model.json / weights.bin / metadata.json itself and runs the Keras layers with torch
ops as Keras defines them (ZeroPadding2D, Conv2D and DepthwiseConv2D with TensorFlow's
"same" padding, BatchNormalization with its epsilon, unfolded; ReLU max_value; Add;
GlobalAveragePooling2D; Dense), in float64. Images: Pillow decode, centre crop, resize to
224 (torch antialiased bilinear), x / 127.5 - 1.

Writes JSON {"labels": [...], "images": [{"path", "probabilities"}]} with paths relative to
the export folder. Run:
    python3 scripts/reference/tfjs_reference.py ../shared/models/teachable-machine-image
"""
import json, math, os, sys
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def load(export):
    model = json.load(open(os.path.join(export, "model.json")))
    weights = {}
    for group in model["weightsManifest"]:
        raw = b"".join(open(os.path.join(export, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            weights[w["name"]] = torch.from_numpy(np.frombuffer(raw, "<f4", n, offset).reshape(w["shape"]).astype(np.float64))
            offset += 4 * n
    labels = json.load(open(os.path.join(export, "metadata.json")))["labels"]
    return model["modelTopology"], weights, labels


def flatten(cfg, out):
    if cfg["class_name"] == "Sequential":
        layers = cfg["config"] if isinstance(cfg["config"], list) else cfg["config"]["layers"]
        for l in layers:
            flatten(l, out)
    else:
        out.append(cfg)
    return out


def same_pad(x, k, s):
    n = x.shape[2]
    out = math.ceil(n / s)
    total = max((out - 1) * s + k - n, 0)
    return F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))


def run_functional(model_cfg, weights, x):
    values = {}
    for layer in model_cfg["config"]["layers"]:
        cn, c, name = layer["class_name"], layer["config"], layer["name"]
        ins = [values[n[0]] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else [x]
        y = ins[0]
        if cn == "InputLayer":
            pass
        elif cn == "ZeroPadding2D":
            (t, b), (l, r) = c["padding"]
            y = F.pad(y, (l, r, t, b))
        elif cn in ("Conv2D", "DepthwiseConv2D"):
            k, s = c["kernel_size"][0], c["strides"][0]
            if c["padding"] == "same":
                y = same_pad(y, k, s)
            if cn == "Conv2D":
                w = weights[name + "/kernel"].permute(3, 2, 0, 1)  # HWIO -> OIHW
                y = F.conv2d(y, w, stride=s)
            else:
                w = weights[name + "/depthwise_kernel"].permute(2, 3, 0, 1)  # HWC1 -> C1HW
                y = F.conv2d(y, w, stride=s, groups=y.shape[1])
            if c.get("use_bias", True):
                y = y + weights[name + ("/bias" if cn == "Conv2D" else "/depthwise_bias")].view(1, -1, 1, 1)
        elif cn == "BatchNormalization":
            g, b = weights[name + "/gamma"], weights[name + "/beta"]
            m, v = weights[name + "/moving_mean"], weights[name + "/moving_variance"]
            y = (y - m.view(1, -1, 1, 1)) / torch.sqrt(v.view(1, -1, 1, 1) + c["epsilon"]) * g.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)
        elif cn == "ReLU":
            y = torch.clamp(y, min=0, max=c.get("max_value") or float("inf"))
        elif cn == "Add":
            y = sum(ins)
        else:
            raise SystemExit(f"unsupported layer {cn}")
        values[name] = y
    return values[model_cfg["config"]["output_layers"][0][0]]


def preprocess(path, size=224):
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    H, W = img.shape[:2]
    s = min(H, W)
    img = img[(H - s) // 2:(H - s) // 2 + s, (W - s) // 2:(W - s) // 2 + s]
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    if s != size:
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return t / 127.5 - 1


def main():
    export = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__),
                                                             "../../Tests/LightboxWorkflowsTests/Fixtures/tfjs_reference.json")
    topology, weights, labels = load(export)
    layers = flatten(topology.get("model_config", topology), [])
    images = []
    root = os.path.join(export, "training-images")
    for label in sorted(os.listdir(root)):
        for f in sorted(os.listdir(os.path.join(root, label))):
            if not f.endswith(".png"):
                continue
            x = preprocess(os.path.join(root, label, f))
            for layer in layers:
                cn, c = layer["class_name"], layer["config"]
                if cn in ("Model", "Functional"):
                    x = run_functional(layer, weights, x)
                elif cn == "GlobalAveragePooling2D":
                    x = x.mean(dim=(2, 3))
                elif cn == "Dense":
                    x = x @ weights[c["name"] + "/kernel"]
                    if c.get("use_bias", True):
                        x = x + weights[c["name"] + "/bias"]
                    x = torch.relu(x) if c["activation"] == "relu" else torch.softmax(x, 1) if c["activation"] == "softmax" else x
            images.append({"path": f"training-images/{label}/{f}", "label": label,
                           "probabilities": [float(v) for v in x[0]]})
            print(images[-1]["path"], [round(v, 4) for v in images[-1]["probabilities"]])
    json.dump({"generator": "scripts/reference/tfjs_reference.py", "labels": labels, "images": images}, open(out, "w"), indent=0)


if __name__ == "__main__":
    main()
