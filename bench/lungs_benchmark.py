#!/usr/bin/env python3
"""`lightbox lungs` against torch on the same pictures and the same locator: pictures per second
of each (whole process: start, weights, decoding, the network, the locator), and how closely the
boxes agree (IoU of Lightbox's box with torch's, per picture).

  python3 bench/lungs_benchmark.py [--binary .build/release/lightbox] [--images DIR] [--limit N]

Both run on every core this machine gives (torch.set_num_threads(os.cpu_count())); they take
turns, twice each, and the faster of the two runs counts.
"""
import argparse, glob, json, os, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from bench_support import timed, tuned_environment

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(REPO, ".build/release/lightbox"))
    ap.add_argument("--images", default=os.path.join(REPO, "../shared/data/covid-chestxray/images"))
    ap.add_argument("--python", default=os.path.expanduser("~/.cache/lightbox/test-data/torch-venv/bin/python"))
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    images = sorted(glob.glob(os.path.join(args.images, "*.jpg")) + glob.glob(os.path.join(args.images, "*.jpeg"))
                    + glob.glob(os.path.join(args.images, "*.png")))
    if args.limit:
        images = images[:args.limit]
    work = tempfile.mkdtemp()
    locator = os.path.join(REPO, "Sources/LightboxModels/Lungs/Resources/lung-locator.safetensors")
    checkpoint = os.path.expanduser("~/.cache/lightbox/weights/mobilenet_v2-b0353104.pth")
    listing = os.path.join(work, "list.txt")
    env = tuned_environment()
    runs = {"lightbox": [], "torch": []}
    for _ in range(2):
        s, peak, out = timed([args.binary, "lungs", "--json"] + images, env=env)
        runs["lightbox"].append((s, peak))
        ours = json.loads(out)["pictures"]
        ref_out = os.path.join(work, "ref.json")
        s, peak, _ = timed([args.python, os.path.join(REPO, "scripts/reference/lung_boxes_reference.py"), "--checkpoint", checkpoint,
                            "--locator", locator, "--out", ref_out, "--threads", str(os.cpu_count())] + images, env=env)
        runs["torch"].append((s, peak))
        theirs = json.load(open(ref_out))["pictures"]
    agreement = sorted(iou(a["box"], b["box"]) for a, b in zip(ours, theirs))
    n = len(images)
    best = {k: min(v) for k, v in runs.items()}
    print(f"{n} pictures ({os.cpu_count()} cores)")
    for k, (s, peak) in best.items():
        print(f"{k:8s} {s:6.2f} s  {n / s:6.1f} pictures/s  peak {peak / 1024:.0f} MiB")
    print(f"lightbox / torch speed: {best['torch'][0] / best['lightbox'][0]:.2f}x")
    print(f"box agreement (IoU, lightbox vs torch): mean {sum(agreement) / n:.4f}, min {agreement[0]:.4f}, "
          f"10th percentile {agreement[n // 10]:.4f}")


if __name__ == "__main__":
    main()
