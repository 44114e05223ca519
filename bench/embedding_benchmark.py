#!/usr/bin/env python3
"""Embedding throughput of Lightbox vs torch eager vs ONNX Runtime, same inputs, same run.

Inputs: 16 real chest X-rays from ../shared, preprocessed once (224x224, ImageNet
normalisation) by the reference script's pipeline and handed to every engine.
Each engine: 2 threads, 3 warm-up passes, then passes for --seconds (at least 5); the median
pass time gives images per second (a pass slower than --seconds: 1 warm-up, 1 timed pass).
This machine is a 2-vCPU VM whose speed drifts by tens of percent from minute to minute,
so the engines take turns: --rounds rounds,
each running every engine once in a rotated order, and the table gives each engine's
median over the rounds and the median (and range) of the per-round ratios. Peers get their best setup: torch with glibc
malloc kept from returning memory to the kernel; ONNX Runtime with
intra_op_num_threads=2 and all graph optimisations.

bfloat16 and int8 rows (issue 27): Lightbox bf16 (oneDNN's AVX-512 BF16 kernels; on a CPU
without them lightbox-bench exits 3 and the row says so, with no number), Lightbox
bf16-emulated (bf16's numbers on fp32 kernels: an accuracy and cost reference, not a speed
claim), torch eager under torch.autocast("cpu", dtype=torch.bfloat16), and ONNX Runtime on
the same ONNX model quantised by onnxruntime.quantization.quantize_dynamic (int8 weights,
activations quantised per pass). Each engine's accuracy: the cosine similarity of its
embeddings of the same 16 preprocessed X-rays (its batch-16 passes) to torch fp32's, mean
and min (lightbox-bench writes Lightbox's where LIGHTBOX_BENCH_EMBEDDINGS says).

Run from the repository root after scripts/setup.sh, with a python that has torch 2.13,
onnxruntime and onnx (e.g. a venv with `pip install torch==2.13.0 onnxruntime onnx pillow numpy`):
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


def time_passes(run, seconds, first):
    """Median pass time after 3 warm-up passes, over at least 5 passes and `seconds`. A pass slower
    than `seconds` (torch's bf16 convolutions without AVX-512): its first pass, which took `first`
    seconds, is the only warm-up, then one timed pass."""
    slow = first > seconds
    for _ in range(0 if slow else 3):
        run()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < (1 if slow else 5):
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
    if engine in ("torch", "torch-bf16"):
        t = torch.from_numpy(x)
        def run():
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=engine == "torch-bf16"):
                return model(t)[0]
        t0 = time.perf_counter()
        out = run().float().numpy()
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
        if engine == "ort-int8":
            path = quantized(path)
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        run = lambda: sess.run(None, {"x": x})[0]
        t0 = time.perf_counter()
        out = run()
    first = time.perf_counter() - t0  # the first pass's time
    if batch == 16:  # for the accuracy columns
        np.save(os.path.join(os.path.dirname(inputs), f"embeddings-{engine}.npy"), out.astype(np.float32))
    median, n = time_passes(run, seconds, first)
    print(json.dumps({"batch": batch, "iterations": n, "median_s": median, "images_per_s": batch / median,
                      "checksum": float(out[0].sum())}))


def quantized(path):
    """The int8 dynamic quantisation of the fp32 ONNX model at `path` (made once, beside it).
    Int8 weights (QInt8) where this ONNX Runtime runs them for Conv (ConvInteger), else uint8."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    for weights in (QuantType.QInt8, QuantType.QUInt8):
        out = path.replace(".onnx", f".{weights.name.lower()}.onnx")
        if not os.path.exists(out):
            quantize_dynamic(path, out, weight_type=weights)
        try:
            sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
            sess.run(None, {"x": np.zeros((1, 3, 224, 224), np.float32)})
            return out
        except Exception as error:  # e.g. NOT_IMPLEMENTED: ConvInteger with int8 weights
            print(f"{weights.name} weights: {str(error).splitlines()[0]}", file=sys.stderr)
    sys.exit("quantize_dynamic: no weight type runs in this ONNX Runtime")


def child(args, env=None):
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def native_bf16(bench, inputs):
    """None when lightbox-bench runs bf16 here, else its reason (exit 3: no AVX-512 BF16)."""
    out = subprocess.run([bench, inputs, "1", "0.01", "2", "bf16"], capture_output=True, text=True)
    if out.returncode == 0:
        return None
    if out.returncode == 3:
        return out.stderr.strip().removeprefix("error: ")
    sys.exit(f"lightbox-bench bf16 failed ({out.returncode}):\n{out.stderr}")


def cosines(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    c = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return c.mean(), c.min()


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
    directory = os.path.dirname(inputs)
    lb = lambda precision: lambda b: child([bench, inputs, str(b), str(args.seconds), "2", precision], env=dict(
        os.environ, LIGHTBOX_BENCH_EMBEDDINGS=os.path.join(directory, f"embeddings-lightbox-{precision}-{b}.npy")))
    pe = lambda engine, env=None: lambda b: child([sys.executable, __file__, "--peer", engine, inputs, str(b),
                                                   str(args.seconds)], env=env)
    unavailable = native_bf16(bench, inputs)
    engines = {"lightbox": lb("fp32")}
    if unavailable is None:
        engines["lightbox bf16"] = lb("bf16")
    engines.update({
        "lightbox bf16-emulated": lb("bf16-emulated"),
        "torch eager": pe("torch", tuned),
        "torch autocast bf16": pe("torch-bf16", tuned),
        "onnxruntime": pe("ort"),
        "onnxruntime int8 dyn": pe("ort-int8"),
    })
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

    # Accuracy: cosine of each engine's embeddings of the 16 X-rays (batch 16) to torch fp32's.
    files = {"lightbox": "lightbox-fp32-16", "lightbox bf16": "lightbox-bf16-16",
             "lightbox bf16-emulated": "lightbox-bf16-emulated-16", "torch eager": "torch",
             "torch autocast bf16": "torch-bf16", "onnxruntime": "ort", "onnxruntime int8 dyn": "ort-int8"}
    embeddings = {e: np.load(os.path.join(directory, f"embeddings-{f}.npy")) for e, f in files.items() if e in names}
    accuracy = {e: cosines(x, embeddings["torch eager"]) for e, x in embeddings.items()}

    print(f"MobileNetV2 224x224 embeddings, 2 threads; {args.rounds} rounds of {args.seconds:g} s per engine "
          f"and batch; medians over rounds; cos: cosine to torch fp32's embeddings of the 16 X-rays (mean, min)")
    print(f"{'engine':<24}{'batch':>6}{'img/s':>10}{'ms/pass':>10}{'lightbox/engine':>17}{'(range)':>16}"
          f"{'cos mean':>10}{'cos min':>9}")
    for batch in (1, 16):
        ours = [x["images_per_s"] for x in results[("lightbox", batch)]]
        for engine in names:
            if engine == "lightbox bf16-emulated" and unavailable is not None:
                print(f"{'lightbox bf16':<24}{batch:>6}  unavailable on this CPU: {unavailable}")
            rows = results[(engine, batch)]
            rate = statistics.median(x["images_per_s"] for x in rows)
            ratios = [o / x["images_per_s"] for o, x in zip(ours, rows)]
            cos = f"{accuracy[engine][0]:>10.5f}{accuracy[engine][1]:>9.5f}" if engine in accuracy else ""
            print(f"{engine:<24}{batch:>6}{rate:>10.1f}{batch / rate * 1e3:>10.2f}{statistics.median(ratios):>17.2f}"
                  f"{f'({min(ratios):.2f}-{max(ratios):.2f})':>16}{cos}")
    sums = {e: round(results[(e, 1)][0]["checksum"], 3) for e in names}
    print("sum of image 0's embedding (fp32 engines must agree; bf16 and int8 show their error):", sums)
    own = {"lightbox bf16": "lightbox", "lightbox bf16-emulated": "lightbox", "torch autocast bf16": "torch eager",
           "onnxruntime int8 dyn": "onnxruntime"}
    for e, fp32 in own.items():
        if e in embeddings:
            mean, low = cosines(embeddings[e], embeddings[fp32])
            print(f"{e} against {fp32} (its own fp32): cosine mean {mean:.6f}, min {low:.6f}")

    # Whole-process latency of `lightbox embed` on one image (weights load included).
    if not os.path.exists(lightbox):
        return print(f"(no {lightbox}: `swift build -c release --product lightbox` for the whole-process latency)")
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
