#!/usr/bin/env python3
"""Classify pictures with a Lightbox ONNX export in ONNX Runtime.

    lightbox export --model runs/RUN/model --format onnx --out model.onnx
    python3 examples/onnx_predict.py model.onnx IMAGE...

Needs `pip install onnxruntime pillow numpy`. The model takes RGB pixels 0-255 as
[N, 3, 224, 224] (normalisation is inside it) and gives class probabilities (a calibrated
model's calibration is inside it too); its classes, preprocessing and operating point are in its
metadata. A two-class model with an operating point calls its positive class when that class's
probability reaches the threshold, as `lightbox predict` does, not at 0.5. Prints one JSON line
per picture. Educational and research software: not a diagnosis.
"""
import json, sys

import numpy as np
import onnxruntime
from PIL import Image, ImageOps


def decide(probabilities, class_names, point):
    """The predicted class: the operating point's rule when the model has one, else the largest probability."""
    if point and len(class_names) == 2 and point["positive_class"] in class_names:
        k = class_names.index(point["positive_class"])
        # Compared in double precision, as lightbox predict compares it.
        return class_names[k] if float(probabilities[k]) >= point["threshold"] else class_names[1 - k]
    return class_names[int(np.argmax(probabilities))]


def main():
    model_path, images = sys.argv[1], sys.argv[2:]
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    class_names = json.loads(metadata["classes"])
    # {"positive_class", "threshold", ...}; absent: argmax.
    point = json.loads(metadata["operating_point"]) if "operating_point" in metadata else None
    size = session.get_inputs()[0].shape[2]
    for path in images:
        image = Image.open(path).convert("RGB")
        image = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)  # centre crop, as the model was trained
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[np.newaxis]
        probabilities = session.run(None, {session.get_inputs()[0].name: pixels})[0][0]
        print(json.dumps({"path": path, "predicted": decide(probabilities, class_names, point),
                          "probabilities": {c: float(p) for c, p in zip(class_names, probabilities)}}))


if __name__ == "__main__":
    main()
