#!/usr/bin/env python3
"""Classify pictures with a Lightbox Keras export, as Teachable Machine's Keras snippet does.

    lightbox export --model runs/RUN/model --format keras --out my_model
    python3 examples/keras_predict.py my_model IMAGE...

Needs TensorFlow and Keras (`pip install tensorflow-cpu`; Keras 3 comes with it, and tf_keras
works the same; h5py comes with them). What `lightbox predict` does after the model is recorded
in the .h5 file's attributes, and done here too: a calibrated model's temperature
(`lightbox_calibration`: the probabilities become softmax(log(p) / T)), then a two-class model's
operating point (`lightbox_operating_point`: the positive class when its probability reaches the
threshold, not at 0.5). Prints one JSON line per picture. Educational and research software: not
a diagnosis.
"""
import json, os, sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import h5py
import numpy as np
from keras.models import load_model
from PIL import Image, ImageOps


def recorded(model_file, name):
    """A JSON attribute Lightbox writes on the .h5 file's root, or None."""
    with h5py.File(model_file, "r") as f:
        value = f.attrs.get(name)
    return None if value is None else json.loads(value.decode() if isinstance(value, bytes) else value)


def calibrate(probabilities, calibration):
    """softmax(log(p) / T), the temperature scaling lightbox predict applies; unchanged without one."""
    if not calibration:
        return probabilities
    z = np.log(np.maximum(probabilities.astype(np.float64), 1e-7)) / calibration["temperature"]
    e = np.exp(z - z.max())
    return (e / e.sum()).astype(np.float32)


def decide(probabilities, class_names, point):
    """The predicted class: the operating point's rule when the model has one, else the largest probability."""
    if point and len(class_names) == 2 and point["positive_class"] in class_names:
        k = class_names.index(point["positive_class"])
        # Compared in double precision, as lightbox predict compares it.
        return class_names[k] if float(probabilities[k]) >= point["threshold"] else class_names[1 - k]
    return class_names[int(np.argmax(probabilities))]


def main():
    folder, images = sys.argv[1], sys.argv[2:]
    model_file = os.path.join(folder, "keras_model.h5")
    model = load_model(model_file, compile=False)
    calibration, point = recorded(model_file, "lightbox_calibration"), recorded(model_file, "lightbox_operating_point")
    # labels.txt: "0 COVID-19" lines, as Teachable Machine writes them.
    class_names = [line.strip().split(" ", 1)[1] for line in open(os.path.join(folder, "labels.txt")) if line.strip()]
    for path in images:
        # Teachable Machine's preprocessing: centre crop to a square, 224x224, RGB scaled to [-1, 1].
        image = Image.open(path).convert("RGB")
        image = ImageOps.fit(image, (224, 224), Image.Resampling.BILINEAR)
        data = (np.asarray(image, dtype=np.float32) / 127.5 - 1)[np.newaxis]
        probabilities = calibrate(model.predict(data, verbose=0)[0], calibration)
        print(json.dumps({"path": path, "predicted": decide(probabilities, class_names, point),
                          "probabilities": {c: float(p) for c, p in zip(class_names, probabilities)}}))


if __name__ == "__main__":
    main()
