#!/usr/bin/env python3
"""`lightbox train` end to end vs an equivalent PyTorch script, same images, same run.

Lightbox runs twice on the developer data set with default options: cold (a fresh
embedding cache) and warm (the same cache again). The PyTorch script then does the same
job on the same images and the same patient-level split (read from Lightbox's split.csv):
decode and preprocess every image (Pillow, torch's antialiased resize, ImageNet
normalisation), embed them with the same frozen MobileNetV2 (batch 16, 2 threads, malloc
tuned as for the embedding benchmark), train the same head (Dense(100, relu), Dense(2, no
bias), softmax cross-entropy, Adam lr 0.001 eps 1e-7, 50 epochs, batch 16) and report
test accuracy. Wall time and peak memory (max RSS) of each process are measured from here.

Run from the repository root after scripts/setup.sh (needs torch, pillow):
    python3 bench/training_benchmark.py [--data ../shared/data/covid-chestxray] [--repeats 5]

The ratio column is the median of the per-round ratios (each round runs all three jobs
back to back), with their range.
"""
import argparse, csv, json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench_support import tuned_environment, timed  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "scripts", "reference"))
HOME = os.environ.get("LIGHTBOX_HOME", os.path.expanduser("~/.cache/lightbox"))
CHECKPOINT = os.path.join(HOME, "weights", "mobilenet_v2-b0353104.pth")


def torch_job(split_csv):
    import numpy as np
    import torch
    from mobilenet_v2_reference import MobileNetV2, preprocess
    torch.set_num_threads(2)
    torch.manual_seed(42)
    rows = list(csv.DictReader(open(split_csv)))
    classes = sorted({r["label"] for r in rows})
    model = MobileNetV2()
    model.load_state_dict(torch.load(CHECKPOINT, map_location="cpu", weights_only=True))
    model.eval()
    embeddings = []
    with torch.no_grad():
        for i in range(0, len(rows), 16):
            x = torch.stack([preprocess(r["path"], "crop") for r in rows[i:i + 16]])
            embeddings.append(model(x)[0])
    e = torch.cat(embeddings)
    y = torch.tensor([classes.index(r["label"]) for r in rows])
    part = [r["split"] for r in rows]
    tr = torch.tensor([p == "train" for p in part])
    te = torch.tensor([p == "test" for p in part])
    head = torch.nn.Sequential(torch.nn.Linear(1280, 100), torch.nn.ReLU(), torch.nn.Linear(100, len(classes), bias=False))
    opt = torch.optim.Adam(head.parameters(), lr=1e-3, eps=1e-7)
    xt, yt = e[tr], y[tr]
    for epoch in range(50):
        order = torch.randperm(len(yt))
        for i in range(0, len(yt), 16):
            b = order[i:i + 16]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(head(xt[b]), yt[b])
            loss.backward()
            opt.step()
    with torch.no_grad():
        accuracy = (head(e[te]).argmax(1) == y[te]).float().mean().item()
    print(json.dumps({"images": len(rows), "test_accuracy": accuracy}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "covid-chestxray"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--torch-job", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_job:
        return torch_job(args.torch_job)

    lightbox = os.path.join(ROOT, ".build", "release", "lightbox")
    tuned = tuned_environment()
    cold, warm, peer, peaks = [], [], [], {"cold": 0, "warm": 0, "torch": 0}
    for r in range(args.repeats):
        home = tempfile.mkdtemp()  # fresh cache; the weights are shared by a link
        os.symlink(os.path.join(HOME, "weights"), os.path.join(home, "weights"))
        env = dict(os.environ, LIGHTBOX_HOME=home)
        run = os.path.join(home, "run")
        s, m, out = timed([lightbox, "train", "--method", "head", "--data", args.data, "--out", run], env)
        cold.append(s); peaks["cold"] = max(peaks["cold"], m)
        s, m, out = timed([lightbox, "train", "--method", "head", "--data", args.data, "--out", run + "-warm"], env)
        warm.append(s); peaks["warm"] = max(peaks["warm"], m)
        lightbox_line = [l for l in out.splitlines() if l.startswith("test")][0]
        s, m, out = timed([sys.executable, __file__, "--torch-job", os.path.join(run, "split.csv")], tuned)
        peer.append(s); peaks["torch"] = max(peaks["torch"], m)
        torch_result = json.loads(out.strip().splitlines()[-1])
        print(f"round {r + 1}: lightbox cold {cold[-1]:.2f} s, warm {warm[-1]:.2f} s, torch {peer[-1]:.2f} s", file=sys.stderr)

    med = statistics.median
    print(f"train on {args.data} ({torch_result['images']} images), default options, {args.repeats} rounds, medians")
    print(f"{'job':<34}{'wall s':>8}{'peak MiB':>10}{'torch / job':>13}{'(range)':>14}")
    for name, times, peak in [("lightbox train, cold cache", cold, peaks["cold"]),
                              ("lightbox train, warm cache", warm, peaks["warm"]),
                              ("PyTorch script (same job)", peer, peaks["torch"])]:
        ratios = [p / t for p, t in zip(peer, times)]  # per round: the machine's speed drifts
        print(f"{name:<34}{med(times):>8.2f}{peak / 1024:>10.0f}{med(ratios):>13.2f}"
              f"{f'({min(ratios):.2f}-{max(ratios):.2f})':>14}")
    print(f"lightbox: {lightbox_line}")
    print(f"torch: test accuracy {torch_result['test_accuracy']:.3f} on the same test split")


if __name__ == "__main__":
    main()
