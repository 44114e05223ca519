#!/usr/bin/env python3
"""Classify pictures with a Lightbox ONNX export in ONNX Runtime.

    lightbox export --model runs/RUN/model --format onnx --out model.onnx
    python3 examples/onnx_predict.py model.onnx IMAGE...

Needs `pip install onnxruntime pillow numpy`. The model takes RGB pixels 0-255 as
[N, 3, 224, 224] (normalisation is inside it) and gives class probabilities; its classes and
preprocessing are in its metadata. Prints one JSON line per picture. Educational and research
software: not a diagnosis.
"""
import json, sys

import numpy as np
import onnxruntime
from PIL import Image, ImageOps


def main():
    model_path, images = sys.argv[1], sys.argv[2:]
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    class_names = json.loads(metadata["classes"])
    size = session.get_inputs()[0].shape[2]
    for path in images:
        image = Image.open(path).convert("RGB")
        image = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)  # centre crop, as the model was trained
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[np.newaxis]
        probabilities = session.run(None, {session.get_inputs()[0].name: pixels})[0][0]
        best = int(np.argmax(probabilities))
        print(json.dumps({"path": path, "predicted": class_names[best],
                          "probabilities": {c: float(p) for c, p in zip(class_names, probabilities)}}))


if __name__ == "__main__":
    main()
