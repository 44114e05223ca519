#!/usr/bin/env python3
"""The whole default fine-tuning job: `lightbox train` vs the same job in torch, same run.

Lightbox runs its default job (`lightbox train --data D`: three members, features.14-18 and a
linear head, six epochs, batch 16). A torch 2.13 script then does the same job on the same
patient-level split (read from Lightbox's split.csv), as a torch user would write it: decode
and resize every training picture once (Pillow, the reference preprocessing), compute the
validation and test pictures' frozen features (features.0-13) once, then for each member in
turn and each epoch, reshuffle, augment every training picture afresh (the recipe's rotation,
shift, zoom, brightness and contrast, as one affine_grid/grid_sample on the batch), run the
frozen modules without gradients and the trained ones with batch statistics, dropout 0.2,
the linear head, class-weighted cross-entropy, AdamW (3e-4 backbone, 1e-3 head, weight decay
0.01) with cosine decay over the steps, and score the validation split after every epoch;
last, the test split's ensemble probabilities. Torch has 2 threads and glibc malloc kept from
returning memory (its best setup, as in the other benchmarks).

Both report the train stage (from the decoded split to the test probabilities) in
milliseconds per image per member per epoch, and the whole process's wall time. The ratio is
the median of the per-round ratios (engines take turns every round), with their range.

Run from the repository root after scripts/setup.sh, with torch installed (the test venv
scripts/test.sh makes has it):
    ~/.cache/lightbox/test-data/torch-venv/bin/python bench/finetune_job_benchmark.py [--rounds 3]
"""
import argparse, csv, json, math, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench_support import tuned_environment, timed  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "scripts", "reference"))
HOME = os.environ.get("LIGHTBOX_HOME", os.path.expanduser("~/.cache/lightbox"))
CHECKPOINT = os.path.join(HOME, "weights", "mobilenet_v2-b0353104.pth")
MEMBERS, EPOCHS, BATCH = 3, 6, 16


def auc(scores, positives):
    """ROC AUC by ranks (ties averaged)."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    p = sum(positives)
    n = len(positives) - p
    return (sum(r for r, y in zip(ranks, positives) if y) - p * (p + 1) / 2) / (p * n)


def torch_job(split_csv):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from mobilenet_v2_reference import MobileNetV2, preprocess
    torch.set_num_threads(2)
    rows = list(csv.DictReader(open(split_csv)))
    classes = sorted({r["label"] for r in rows})
    by_split = {s: [r for r in rows if r["split"] == s] for s in ("train", "validation", "test")}
    net = MobileNetV2()
    net.load_state_dict(torch.load(CHECKPOINT, map_location="cpu", weights_only=True))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    started = time.perf_counter()

    frozen = net.features[:14].eval()
    # Training pictures decoded once, kept in 0..1 (the augmentation works in those units).
    squares = torch.stack([preprocess(r["path"], "crop") for r in by_split["train"]]) * std[0] + mean[0]
    labels = torch.tensor([classes.index(r["label"]) for r in by_split["train"]])

    def frozen_features(part):
        out = []
        with torch.no_grad():
            for i in range(0, len(part), BATCH):
                out.append(frozen(torch.stack([preprocess(r["path"], "crop") for r in part[i:i + BATCH]])))
        return torch.cat(out)

    validation, test = frozen_features(by_split["validation"]), frozen_features(by_split["test"])
    counts = torch.bincount(labels, minlength=len(classes)).float()
    class_weights = len(labels) / (len(classes) * counts.clamp(min=1))

    def augment(x, g):
        n, _, h, w = x.shape
        u = lambda lo, hi: torch.rand(n, generator=g) * (hi - lo) + lo
        angle, zoom = u(-10, 10) * math.pi / 180, u(0.9, 1.1)
        shift_x, shift_y = u(-0.08, 0.08), u(-0.08, 0.08)
        brightness, contrast = u(-0.1, 0.1), u(0.8, 1.2)
        # Inverse map in normalised coordinates (align_corners=True): source = R/zoom (out - shift).
        c, s, k = torch.cos(angle) / zoom, torch.sin(angle) / zoom, (h - 1) / (w - 1)
        tx, ty = -2 * shift_x * w / (w - 1), -2 * shift_y * h / (h - 1)
        theta = torch.stack([torch.stack([c, s * k, c * tx + s * ty * k], 1),
                             torch.stack([-s / k, c, -s * tx / k + c * ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=True)
        y = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        m = y.mean(dim=(1, 2, 3), keepdim=True)
        y = ((y - m) * contrast.view(n, 1, 1, 1) + m + brightness.view(n, 1, 1, 1)).clamp(0, 1)
        return (y - mean) / std

    steps_per_epoch = math.ceil(len(labels) / BATCH)
    test_probabilities = torch.zeros(len(test), len(classes))
    for member in range(MEMBERS):
        torch.manual_seed(member)
        g = torch.Generator().manual_seed(100 + member)
        fresh = MobileNetV2()
        fresh.load_state_dict(net.state_dict())
        tail = fresh.features[14:].train()
        head = nn.Linear(1280, len(classes))
        opt = torch.optim.AdamW([{"params": tail.parameters(), "lr": 3e-4}, {"params": head.parameters(), "lr": 1e-3}],
                                weight_decay=0.01)
        total = EPOCHS * steps_per_epoch
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
        for epoch in range(EPOCHS):
            tail.train()
            order = torch.randperm(len(labels), generator=g)
            for i in range(0, len(labels), BATCH):
                b = order[i:i + BATCH]
                with torch.no_grad():
                    x13 = frozen(augment(squares[b], g))
                pooled = tail(x13).mean(dim=(2, 3))
                logits = head(F.dropout(pooled, 0.2, training=True))
                loss = F.cross_entropy(logits, labels[b], weight=class_weights)
                opt.zero_grad()
                loss.backward()
                opt.step()
                schedule.step()
            tail.eval()
            with torch.no_grad():
                F.softmax(head(tail(validation).mean(dim=(2, 3))), 1)
        with torch.no_grad():
            test_probabilities += F.softmax(head(tail(test).mean(dim=(2, 3))), 1) / MEMBERS
    seconds = time.perf_counter() - started
    positive = classes.index("COVID-19") if "COVID-19" in classes else 1
    truth = [classes.index(r["label"]) == positive for r in by_split["test"]]
    print(json.dumps({"train_seconds": seconds, "train_images": len(labels),
                      "test_auc": auc(test_probabilities[:, positive].tolist(), truth)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "covid-chestxray"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--torch-job", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_job:
        return torch_job(args.torch_job)

    lightbox = os.path.join(ROOT, ".build", "release", "lightbox")
    tuned = tuned_environment()
    results = {"lightbox": [], "torch": []}
    for r in range(args.rounds):
        run = tempfile.mkdtemp()
        wall, peak, out = timed([lightbox, "train", "--data", args.data, "--out", os.path.join(run, "run")])
        metrics = json.load(open(os.path.join(run, "run", "metrics.json")))
        n = metrics["n_train_images"]
        line = [l for l in out.splitlines() if l.startswith("test")][0]
        results["lightbox"].append({"wall": wall, "peak": peak, "train": metrics["timings"]["train"], "images": n,
                                    "auc": metrics.get("roc_auc"), "line": line})
        wall, peak, out = timed([sys.executable, __file__, "--torch-job", os.path.join(run, "run", "split.csv")], tuned)
        peer = json.loads(out.strip().splitlines()[-1])
        results["torch"].append({"wall": wall, "peak": peak, "train": peer["train_seconds"], "images": peer["train_images"],
                                 "auc": peer["test_auc"]})
        print(f"round {r + 1}: lightbox {results['lightbox'][-1]['wall']:.1f} s, torch {results['torch'][-1]['wall']:.1f} s",
              file=sys.stderr)

    med = statistics.median
    per_image = lambda x: x["train"] / (MEMBERS * EPOCHS * x["images"]) * 1e3
    print(f"default fine-tuning job on {args.data}: {MEMBERS} members, {EPOCHS} epochs, batch {BATCH}, "
          f"{results['lightbox'][0]['images']} training images; {args.rounds} rounds, medians")
    print(f"{'engine':<22}{'wall s':>8}{'train s':>9}{'ms/img/epoch':>14}{'peak MiB':>10}{'torch / engine':>16}{'(range)':>14}")
    for name in ("lightbox", "torch"):
        rs = results[name]
        ratios = [per_image(t) / per_image(x) for t, x in zip(results["torch"], rs)]
        print(f"{name:<22}{med([x['wall'] for x in rs]):>8.1f}{med([x['train'] for x in rs]):>9.1f}"
              f"{med([per_image(x) for x in rs]):>14.2f}{max(x['peak'] for x in rs) / 1024:>10.0f}"
              f"{med(ratios):>16.2f}{f'({min(ratios):.2f}-{max(ratios):.2f})':>14}")
    print(f"lightbox: {results['lightbox'][-1]['line']}")
    print(f"torch: test AUC {results['torch'][-1]['auc']:.3f} on the same test split (its own seeds)")


if __name__ == "__main__":
    main()
