#!/usr/bin/env python3
"""Runs examples/ on a model Lightbox trains here, as a user would after `lightbox export`.

Trains on Teachable Machine's training images (../shared), exports Keras and ONNX, then runs
examples/keras_predict.py, examples/onnx_predict.py and examples/keras_notebook.ipynb (executed
with nbclient) on pictures already 224x224, and checks each against `lightbox predict --json`:
the same class, probabilities within 1e-4. Then the same on a calibrated copy of the model (its
manifest given a temperature, as a cross-fitted run records one, and an operating point that calls
some picture otherwise than the larger probability would): the examples must apply both as
`lightbox predict` does (ONNX: the temperature is in the graph; Keras: from the .h5's attributes).
Run with the Python that has TensorFlow, onnxruntime and nbclient (scripts/test.sh's venv):
    python Tests/examples/examples_check.py .build/debug/lightbox
Prints "examples: N passed, M failed".
"""
import json, os, shutil, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "support"))
from steps import Steps  # noqa: E402
IMAGES_DIR = os.path.join(ROOT, "..", "shared", "models", "teachable-machine-image", "training-images")
IMAGES = [os.path.abspath(os.path.join(IMAGES_DIR, c, f)) for c, f in
          (("Class 1", "0.png"), ("Class 1", "7.png"), ("Class 2", "4.png"), ("Class 2", "9.png"))]


def run(args, env=None):
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])}... exited {r.returncode}: {r.stderr[-2000:]}")
    return r.stdout


def lines(text):
    return [json.loads(l) for l in text.splitlines() if l.startswith("{")]


def compare(rows, reference):
    assert len(rows) == len(reference), (len(rows), len(reference))
    for row, ref in zip(rows, reference):
        assert os.path.samefile(row["path"], ref["path"]), (row["path"], ref["path"])
        assert row["predicted"] == ref["predicted"], (row, ref)
        worst = max(abs(row["probabilities"][c] - p) for c, p in ref["probabilities"].items())
        assert worst < 1e-4, f"{row['path']}: max |difference| {worst} against lightbox predict"


def check_examples(binary, model, work, label, step):
    """Exports `model` to Keras and ONNX and checks the three examples against lightbox predict."""
    folder = os.path.join(work, label.strip() or "plain")
    os.makedirs(folder, exist_ok=True)
    run([binary, "export", "--model", model, "--format", "keras", "--out", os.path.join(folder, "keras")])
    run([binary, "export", "--model", model, "--format", "onnx", "--out", os.path.join(folder, "model.onnx")])
    reference = json.loads(run([binary, "predict", "--model", model, "--json"] + IMAGES))["predictions"]

    step(label + "keras_predict.py", lambda: compare(lines(run([sys.executable, os.path.join(ROOT, "examples", "keras_predict.py"),
                                                                  os.path.join(folder, "keras")] + IMAGES)), reference))
    step(label + "onnx_predict.py", lambda: compare(lines(run([sys.executable, os.path.join(ROOT, "examples", "onnx_predict.py"),
                                                                 os.path.join(folder, "model.onnx")] + IMAGES)), reference))

    def notebook():
        import nbformat
        from nbclient import NotebookClient
        os.environ["LIGHTBOX_EXAMPLE_MODEL"] = os.path.join(folder, "keras")
        os.environ["LIGHTBOX_EXAMPLE_IMAGES"] = ":".join(IMAGES)
        nb = nbformat.read(os.path.join(ROOT, "examples", "keras_notebook.ipynb"), as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3").execute()
        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                       if o.get("output_type") == "stream")
        compare(lines(text), reference)

    step(label + "keras_notebook.ipynb", notebook)


def calibrated_copy(binary, model, work, temperature=2.5):
    """A copy of `model` whose manifest holds a temperature (what a cross-fitted run records) and an
    operating point between the two highest calibrated probabilities of the positive class: one
    picture called positive, so at least one picture is called otherwise than by the larger
    probability, and the examples' decisions are checked, not only their probabilities."""
    copy = os.path.join(work, "calibrated-model")
    shutil.copytree(model, copy)
    manifest_path = os.path.join(copy, "lightbox-model.json")
    manifest = json.load(open(manifest_path))
    manifest["format_version"] = 4
    manifest["calibration"] = {"method": "temperature", "temperature": temperature}
    manifest.pop("operating_point", None)
    json.dump(manifest, open(manifest_path, "w"), indent=2)
    before = json.loads(run([binary, "predict", "--model", model, "--json"] + IMAGES))["predictions"]
    document = json.loads(run([binary, "predict", "--model", copy, "--json"] + IMAGES))
    assert document.get("calibration") == {"method": "temperature", "temperature": temperature}, document.get("calibration")
    after = document["predictions"]
    positive = manifest["classes"][0]
    worst = max(abs(a["probabilities"][c] - b["probabilities"][c]) for a, b in zip(before, after) for c in a["probabilities"])
    assert worst > 1e-2, f"the temperature changes lightbox predict's probabilities (by {worst})"
    scores = sorted((p["probabilities"][positive] for p in after), reverse=True)
    threshold = (scores[0] + scores[1]) / 2
    manifest["operating_point"] = {"positive_class": positive, "threshold": threshold, "target_sensitivity": 0.85,
                                   "validation_sensitivity": 1, "validation_specificity": 1}
    json.dump(manifest, open(manifest_path, "w"), indent=2)
    decided = json.loads(run([binary, "predict", "--model", copy, "--json"] + IMAGES))["predictions"]
    by_argmax = [max(p["probabilities"], key=p["probabilities"].get) for p in decided]
    assert any(p["predicted"] != a for p, a in zip(decided, by_argmax)), \
        f"the operating point {threshold} calls some picture otherwise than argmax: {decided}"
    return copy


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "lightbox"))
    work = tempfile.mkdtemp(prefix="lightbox-examples-")
    steps = Steps()
    step = steps.step

    try:
        run([binary, "train", "--method", "head", "--data", IMAGES_DIR, "--epochs", "5", "--folds", "1", "--split", "60/20/20",
             "--out", os.path.join(work, "run")])
        model = os.path.join(work, "run", "model")
        check_examples(binary, model, work, "", step)
        calibrated = calibrated_copy(binary, model, work)
        check_examples(binary, calibrated, work, "calibrated ", step)
    except Exception:
        steps.fail("training and exporting the model")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(steps.summary("examples"))


if __name__ == "__main__":
    main()
