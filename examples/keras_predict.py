#!/usr/bin/env python3
"""Classify pictures with a Lightbox Keras export, as Teachable Machine's Keras snippet does.

    lightbox export --model runs/RUN/model --format keras --out my_model
    python3 examples/keras_predict.py my_model IMAGE...

Needs TensorFlow and Keras (`pip install tensorflow-cpu`; Keras 3 comes with it, and tf_keras
works the same). Prints one JSON line per picture. Educational and research software: not a
diagnosis.
"""
import json, os, sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
from keras.models import load_model
from PIL import Image, ImageOps


def main():
    folder, images = sys.argv[1], sys.argv[2:]
    model = load_model(os.path.join(folder, "keras_model.h5"), compile=False)
    # labels.txt: "0 COVID-19" lines, as Teachable Machine writes them.
    class_names = [line.strip().split(" ", 1)[1] for line in open(os.path.join(folder, "labels.txt")) if line.strip()]
    for path in images:
        # Teachable Machine's preprocessing: centre crop to a square, 224x224, RGB scaled to [-1, 1].
        image = Image.open(path).convert("RGB")
        image = ImageOps.fit(image, (224, 224), Image.Resampling.BILINEAR)
        data = (np.asarray(image, dtype=np.float32) / 127.5 - 1)[np.newaxis]
        probabilities = model.predict(data, verbose=0)[0]
        best = int(np.argmax(probabilities))
        print(json.dumps({"path": path, "predicted": class_names[best],
                          "probabilities": {c: float(p) for c, p in zip(class_names, probabilities)}}))


if __name__ == "__main__":
    main()
