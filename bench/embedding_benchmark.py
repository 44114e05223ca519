#!/usr/bin/env python3
"""Embedding throughput of Lightbox vs torch eager vs ONNX Runtime, same inputs, same run.

Inputs: 16 real chest X-rays from ../shared, preprocessed once (224x224, ImageNet
normalisation) by the reference script's pipeline and handed to every engine.
Each engine: 2 threads, 3 warm-up passes, then passes for --seconds; the median
pass time gives images per second. This machine is a 2-vCPU VM whose speed drifts
by tens of percent from minute to minute, so the engines take turns: --rounds rounds,
each running every engine once in a rotated order, and the table gives each engine's
median over the rounds and the median (and range) of the per-round ratios. Peers get their best setup: torch with glibc
malloc kept from returning memory to the kernel; ONNX Runtime with
intra_op_num_threads=2 and all graph optimisations.

Run from the repository root after scripts/setup.sh:
    python3 bench/embedding_benchmark.py [--seconds 5] [--rounds 5] [--baseline OTHER/lightbox-bench]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench_support import tuned_environment  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "scripts", "reference"))
SHARED = os.path.join(ROOT, "..", "shared")
IMAGES = os.path.join(SHARED, "data", "covid-chestxray", "images")
HOME = os.environ.get("LIGHTBOX_HOME", os.path.expanduser("~/.cache/lightbox"))
CHECKPOINT = os.path.join(HOME, "weights", "mobilenet_v2-b0353104.pth")


def make_inputs(path):
    from mobilenet_v2_reference import preprocess
    files = sorted(f for f in os.listdir(IMAGES) if f.endswith((".jpg", ".jpeg", ".png")))[:16]
    x = np.stack([preprocess(os.path.join(IMAGES, f), "crop").permute(1, 2, 0).numpy() for f in files])
    np.save(path, x.astype(np.float32))  # NHWC


def time_passes(run, seconds):
    for _ in range(3):
        run()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def peer(engine, inputs, batch, seconds, checkpoint):
    """Runs inside a child process (so each engine gets its own allocator settings)."""
    import torch
    from mobilenet_v2_reference import MobileNetV2
    torch.set_num_threads(2)
    x = np.load(inputs)[:batch].transpose(0, 3, 1, 2).copy()  # NCHW
    model = MobileNetV2()
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    model.eval()
    if engine == "torch":
        t = torch.from_numpy(x)
        def run():
            with torch.no_grad():
                return model(t)[0]
        out = run().numpy()
    else:
        import onnxruntime as ort
        class Embed(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m
            def forward(self, x):
                return self.m(x)[0]
        path = os.path.join(os.path.dirname(inputs), "mobilenet_v2.onnx")
        if not os.path.exists(path):
            torch.onnx.export(Embed(model), torch.from_numpy(x), path, dynamo=False, input_names=["x"],
                              output_names=["e"], dynamic_axes={"x": {0: "n"}, "e": {0: "n"}})
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        run = lambda: sess.run(None, {"x": x})[0]
        out = run()
    median, n = time_passes(run, seconds)
    print(json.dumps({"batch": batch, "iterations": n, "median_s": median, "images_per_s": batch / median,
                      "checksum": float(out[0].sum())}))


def child(args, env=None):
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--peer", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--baseline", help="another build's lightbox-bench (e.g. of an earlier commit), run as one more engine")
    args = ap.parse_args()
    if args.peer:
        engine, inputs, batch, seconds = args.peer
        return peer(engine, inputs, int(batch), float(seconds), CHECKPOINT)

    if not os.path.exists(CHECKPOINT):
        sys.exit(f"{CHECKPOINT} missing: run scripts/setup.sh first (it keeps the .pth for references)")
    bench = os.path.join(ROOT, ".build", "release", "lightbox-bench")
    lightbox = os.path.join(ROOT, ".build", "release", "lightbox")
    inputs = os.path.join(tempfile.mkdtemp(), "inputs.npy")
    make_inputs(inputs)
    tuned = tuned_environment()
    engines = {
        "lightbox": lambda b: child([bench, inputs, str(b), str(args.seconds), "2"]),
        "torch eager": lambda b: child([sys.executable, __file__, "--peer", "torch", inputs, str(b), str(args.seconds)],
                                       env=tuned),
        "onnxruntime": lambda b: child([sys.executable, __file__, "--peer", "ort", inputs, str(b), str(args.seconds)]),
    }
    if args.baseline:
        engines["lightbox baseline"] = lambda b: child([args.baseline, inputs, str(b), str(args.seconds), "2"])
    names = list(engines)
    results = {(e, b): [] for e in names for b in (1, 16)}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for batch in (1, 16):
            for engine in order:
                results[(engine, batch)].append(engines[engine](batch))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    print(f"MobileNetV2 224x224 float32 embeddings, 2 threads; {args.rounds} rounds of {args.seconds:g} s per engine "
          f"and batch; medians over rounds")
    print(f"{'engine':<14}{'batch':>6}{'img/s':>10}{'ms/pass':>10}{'lightbox/engine':>17}{'(range)':>14}")
    for batch in (1, 16):
        ours = [x["images_per_s"] for x in results[("lightbox", batch)]]
        for engine in names:
            rows = results[(engine, batch)]
            rate = statistics.median(x["images_per_s"] for x in rows)
            ratios = [o / x["images_per_s"] for o, x in zip(ours, rows)]
            print(f"{engine:<14}{batch:>6}{rate:>10.1f}{batch / rate * 1e3:>10.2f}{statistics.median(ratios):>17.2f}"
                  f"{f'({min(ratios):.2f}-{max(ratios):.2f})':>14}")
    sums = {e: round(results[(e, 1)][0]["checksum"], 3) for e in names}
    print("sum of image 0's embedding (engines must agree):", sums)

    # Whole-process latency of `lightbox embed` on one image (weights load included).
    image = os.path.join(IMAGES, sorted(os.listdir(IMAGES))[0])
    out = os.path.join(tempfile.mkdtemp(), "one.npy")
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        subprocess.run([lightbox, "embed", "--out", out, image], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    print(f"lightbox embed, one image, whole process: median {statistics.median(times) * 1e3:.0f} ms "
          f"(min {min(times) * 1e3:.0f}, max {max(times) * 1e3:.0f}) over 10 runs")


if __name__ == "__main__":
    main()
