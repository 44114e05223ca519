#!/usr/bin/env python3
"""Times the same commands with two lightbox builds (a baseline and the current one), alternating
runs in one session so both see the same machine, and prints the median wall times and their
ratio. Used to check that a refactor is no slower (BENCHMARKS.md, "Refactors").

    bench/build_comparison_benchmark.py OLD_BINARY NEW_BINARY [--repeats 3] [--data DIR]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

parser = argparse.ArgumentParser()
parser.add_argument("old")
parser.add_argument("new")
parser.add_argument("--repeats", type=int, default=3)
parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../shared/data/covid-chestxray"))
args = parser.parse_args()
data = os.path.abspath(args.data)
images = sorted(os.path.join(data, "images", f) for f in os.listdir(os.path.join(data, "images")))
work = tempfile.mkdtemp(prefix="lightbox-build-bench-")
cache = os.path.join(work, "cache")


def run(binary, arguments, env_extra=None):
    env = dict(os.environ, LIGHTBOX_THREADS="2")
    env.update(env_extra or {})
    started = time.perf_counter()
    subprocess.run([binary] + arguments, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


# Models to evaluate and predict with, trained once by the old build.
models = {k: os.path.join(work, f"model-{k}") for k in ("head", "finetune")}
run(args.old, ["train", "--method", "head", "--data", data, "--out", models["head"]])
run(args.old, ["train", "--data", data, "--out", models["finetune"]])

jobs = {
    "train --method finetune (default)": lambda b, o: ["train", "--data", data, "--out", o],
    "train --method head (cached embeddings)": lambda b, o: ["train", "--method", "head", "--data", data, "--out", o],
    "evaluate, fine-tuned ensemble (no cache)": lambda b, o: ["evaluate", "--model", models["finetune"] + "/model", "--data", data,
                                                              "--out", o + ".json", "--no-cache"],
    "predict, fine-tuned ensemble, %d images" % len(images): lambda b, o: ["predict", "--model", models["finetune"] + "/model", "--json"] + images,
    "predict, head, %d images" % len(images): lambda b, o: ["predict", "--model", models["head"] + "/model", "--json"] + images,
    "embed %d images" % len(images): lambda b, o: ["embed", "--out", o + ".npy"] + images,
}
print(f"{'job':52} {'old s':>8} {'new s':>8} {'new/old':>8}")
for name, arguments in jobs.items():
    times = {"old": [], "new": []}
    for r in range(args.repeats):
        for label, binary in (("old", args.old), ("new", args.new)):
            out = os.path.join(work, f"{label}-{r}")
            shutil.rmtree(out, ignore_errors=True)
            times[label].append(run(binary, arguments(binary, out)))
    old, new = statistics.median(times["old"]), statistics.median(times["new"])
    print(f"{name:52} {old:8.2f} {new:8.2f} {new / old:8.3f}", flush=True)
shutil.rmtree(work, ignore_errors=True)
