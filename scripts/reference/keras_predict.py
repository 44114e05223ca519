#!/usr/bin/env python3
"""Runs a Lightbox export in real Keras and writes its probabilities: the check that an export
works for the program its users run, not only for Lightbox's own reader.

  keras_predict.py tfjs EXPORT_DIR PIXELS.npy OUT.npy
      Teachable Machine's TF.js layers format, loaded as tfjs-layers does it in tf_keras (Keras 2):
      the topology through model_from_json, every weight set from the manifest by its name
      ("<layer>/<weight>", the names Keras gives its layers' weights). Any model weight the
      manifest lacks, or manifest weight no layer takes, is an error.
  keras_predict.py h5-keras2 MODEL.h5 PIXELS.npy OUT.npy      tf_keras.models.load_model
  keras_predict.py h5-keras3 MODEL.h5 PIXELS.npy OUT.npy      keras.models.load_model (Keras 3)

PIXELS.npy: float32 [N, 224, 224, 3], Teachable Machine's input (RGB x / 127.5 - 1).
With --calibrated after OUT.npy, the export's own record of what follows the model is read as its
users would read it (TF.js: metadata.json's userMetadata "calibration" and "operatingPoint"; .h5:
the root attributes lightbox_calibration and lightbox_operating_point, JSON text, with h5py), the
temperature applied to the output (softmax(log(max(p, 1e-7)) / T)) before it is saved, and what was
read written to OUT.npy.metadata.json ({"calibration", "operating_point"}); an export without a
calibration is an error.
Needs tensorflow-cpu and tf_keras (scripts/test.sh installs them into a cached venv).
"""
import json, os, struct, sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import numpy as np


def all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def load_tfjs(folder):
    import tf_keras
    with open(os.path.join(folder, "model.json")) as f:
        model_json = json.load(f)
    topology = model_json["modelTopology"]
    config = topology.get("model_config", topology)
    model = tf_keras.models.model_from_json(json.dumps(config))
    values, offset = {}, 0
    for group in model_json["weightsManifest"]:
        blob = b"".join(open(os.path.join(folder, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            assert w["dtype"] == "float32", w
            values[w["name"]] = np.frombuffer(blob, dtype="<f4", count=count, offset=offset).reshape(w["shape"])
            offset += 4 * count
    used, missing = set(), []
    for layer in all_layers(model):
        if hasattr(layer, "layers"):
            continue
        weights = []
        for variable in layer.weights:
            short = variable.name.split("/")[-1].split(":")[0]
            name = f"{layer.name}/{short}"
            if name not in values:
                missing.append(name)
                weights.append(variable.numpy())
            else:
                used.add(name)
                weights.append(values[name])
        if weights:
            layer.set_weights(weights)
    unused = sorted(set(values) - used)
    if missing or unused:
        sys.exit(f"weights not matched: missing from the manifest {missing}, in the manifest but taken by no layer {unused}")
    return model


def recorded(kind, path):
    """(calibration, operating point) as the export records them (None when absent)."""
    if kind == "tfjs":
        user = json.load(open(os.path.join(path, "metadata.json")))["userMetadata"]
        return user.get("calibration"), user.get("operatingPoint")
    import h5py
    with h5py.File(path, "r") as f:
        def text(name):
            value = f.attrs.get(name)
            return None if value is None else json.loads(value.decode() if isinstance(value, bytes) else value)
        return text("lightbox_calibration"), text("lightbox_operating_point")


def main():
    kind, path, pixels_path, out_path = sys.argv[1:5]
    calibrated = sys.argv[5:] == ["--calibrated"]
    pixels = np.load(pixels_path)
    if kind == "tfjs":
        model = load_tfjs(path)
    elif kind == "h5-keras2":
        import tf_keras
        model = tf_keras.models.load_model(path, compile=False)
    elif kind == "h5-keras3":
        import keras
        assert keras.__version__.startswith("3"), keras.__version__
        model = keras.models.load_model(path, compile=False)
    else:
        sys.exit(f"unknown kind {kind}")
    probabilities = np.asarray(model.predict(pixels, verbose=0), dtype=np.float32)
    if calibrated:
        calibration, point = recorded(kind, path)
        if not calibration or calibration.get("method") != "temperature":
            sys.exit(f"{path}: no temperature calibration recorded ({calibration})")
        scaled = np.log(np.maximum(probabilities.astype(np.float64), 1e-7)) / calibration["temperature"]
        scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        probabilities = (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)
        json.dump({"calibration": calibration, "operating_point": point}, open(out_path + ".metadata.json", "w"))
    np.save(out_path, probabilities)


if __name__ == "__main__":
    main()
