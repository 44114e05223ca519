#!/usr/bin/env python3
"""Torch's numbers for Lightbox's fine-tuning recipe, for the Swift tests to compare against.

The recipe: torchvision's MobileNetV2 (the network and preprocessing of
mobilenet_v2_reference.py, "crop" policy) from the checkpoint;
  - features.0-13 frozen, in eval mode (batch norm with the running statistics);
  - features.14-18 trainable, in TRAIN mode: batch norm normalises with the batch's mean and
    biased variance (eps 1e-5) and updates running_mean/running_var with momentum 0.1, the
    running variance taking the UNBIASED batch variance (count / (count - 1), count = N*H*W);
  - global average pool over H, W; dropout p (--dropout, 0 by default); head Linear(1280, 2)
    drawn here: rng = np.random.default_rng(seed), weight = rng.normal(0, 0.01, (2, 1280))
    as float32, bias = 0;
  - loss: softmax cross-entropy with class weights w_c = n / (classes * count_c) over the given
    labels, F.cross_entropy(logits, labels, weight=w): the weighted mean divides by the SUM OF
    THE WEIGHTS of the batch's samples, sum_i w[y_i] * nll_i / sum_i w[y_i], not by the batch size;
  - torch.optim.AdamW, betas (0.9, 0.999), eps 1e-8, weight decay 0.01 on every trainable tensor
    (biases and BN gamma/beta included); lr 3e-4 for features.14-18, 1e-3 for the head; cosine
    decay per step, lr_t = base * 0.5 * (1 + cos(pi * t / T)), t the 0-based step, T all steps.
Features.0-13 are deterministic in eval mode, so their output is computed once and reused.
Tolerance note: features.14-17.conv.3.bias (the projection BNs' beta) have a gradient that is
exactly zero in exact arithmetic (every path from them meets a 1x1 conv and then a train-mode BN,
which removes a per-channel shift); torch's is roundoff (~1e-8), which AdamW (eps 1e-8) turns into
steps of up to ~lr in either direction. Compare those tensors (and the running means of the BNs
fed by them) with a tolerance of about lr per step, not as exact numbers.

Inputs: the first --count files (sorted by name; .jpg/.jpeg/.png) of --images, --labels.
Writes under --out (float32 .npy; torch state-dict names; conv weights OIHW):
  always       inputs.npy [N,224,224,3] NHWC, frozen.npy [N,14,14,96] NHWC (features.13 output),
               head_init/{weight,bias}.npy, meta.json (files, labels, class weights, checkpoint SHA-256)
  --mode step  one step on the whole batch (T = 1): step.json {loss, logits [N][2] before the step},
               grads/<name>.npy, running/<bn>.running_{mean,var}.npy after the forward pass,
               updated/<name>.npy after the AdamW step
  --mode epochs --epochs E --batch B --order FILE   FILE: JSON list of E permutations of 0..N-1,
               visited in batches of B (the last may be smaller); T = E * ceil(N / B).
               losses.json (every step's loss), final/<name>.npy and final/<bn>.running_{mean,var}.npy

Run with the bench venv (~/.cache/lightbox/test-data/bench-venv/bin/python):
  python scripts/reference/finetune_reference.py --checkpoint mobilenet_v2-b0353104.pth \
      --images DIR --out OUT [--mode step | --mode epochs --epochs 2 --batch 4 --order order.json]
"""
import argparse, hashlib, json, math, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mobilenet_v2_reference import MobileNetV2, preprocess  # noqa: E402

CLASSES, FIRST_TRAINABLE = 2, 14
BACKBONE_LR, HEAD_LR, WEIGHT_DECAY = 3e-4, 1e-3, 0.01


def fail(message):
    sys.exit(f"finetune_reference.py: error: {message}")


class FineTune(nn.Module):
    def __init__(self, features, head, dropout):
        super().__init__()
        self.features, self.head, self.dropout = features, head, dropout

    def forward(self, frozen):  # frozen: features.13 output, NCHW
        x = self.features[FIRST_TRAINABLE:](frozen).mean(dim=(2, 3))
        return self.head(F.dropout(x, self.dropout, training=True))


def save(folder, name, tensor):
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, name + ".npy"), tensor.detach().numpy().astype(np.float32))


def save_running(model, folder):
    for name, m in model.named_modules():
        if isinstance(m, nn.BatchNorm2d) and m.training:
            save(folder, name + ".running_mean", m.running_mean)
            save(folder, name + ".running_var", m.running_var)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--labels", default="0,0,0,0,0,1,1,1")
    ap.add_argument("--mode", choices=["step", "epochs"], default=None)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--order", default=None)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", choices=["float32", "float64", "autocast-bf16"], default="float32",
                    help="arithmetic of the trainable part (the frozen part and every output stay float32); "
                         "autocast-bf16: the forward pass under torch.autocast('cpu', torch.bfloat16), loss and "
                         "backward outside it, float32 weights, as torch's mixed-precision recipe trains")
    args = ap.parse_args()
    started = time.time()

    if not os.path.isfile(args.checkpoint):
        fail(f"checkpoint not found: {args.checkpoint}")
    if not os.path.isdir(args.images):
        fail(f"image folder not found: {args.images}")
    files = sorted(f for f in os.listdir(args.images) if f.lower().endswith((".jpg", ".jpeg", ".png")))[:args.count]
    if args.count < 1 or len(files) < args.count:
        fail(f"need {args.count} images in {args.images}, found {len(files)}")
    try:
        labels = [int(v) for v in args.labels.split(",")]
    except ValueError:
        fail(f"--labels must be comma-separated integers: {args.labels!r}")
    if len(labels) != len(files) or any(not 0 <= y < CLASSES for y in labels):
        fail(f"--labels needs {len(files)} values in 0..{CLASSES - 1}, got {args.labels!r}")
    counts = [labels.count(c) for c in range(CLASSES)]
    if 0 in counts:
        fail(f"every class needs at least one label (counts {counts})")
    class_weights = [len(labels) / (CLASSES * c) for c in counts]

    torch.manual_seed(args.seed)  # only dropout draws from it
    torch.set_num_threads(2)
    backbone = MobileNetV2()
    backbone.load_state_dict(torch.load(args.checkpoint, map_location="cpu", weights_only=True))
    rng = np.random.default_rng(args.seed)
    head = nn.Linear(1280, CLASSES)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(rng.normal(0, 0.01, (CLASSES, 1280)).astype(np.float32)))
        head.bias.zero_()
    model = FineTune(backbone.features, head, args.dropout)
    for i, block in enumerate(model.features):
        block.train(i >= FIRST_TRAINABLE)
        block.requires_grad_(i >= FIRST_TRAINABLE)

    out = args.out
    os.makedirs(out, exist_ok=True)
    inputs = torch.stack([preprocess(os.path.join(args.images, f), "crop") for f in files])
    with torch.no_grad():
        frozen = model.features[:FIRST_TRAINABLE](inputs)
    np.save(os.path.join(out, "inputs.npy"), inputs.permute(0, 2, 3, 1).numpy().astype(np.float32))
    np.save(os.path.join(out, "frozen.npy"), frozen.permute(0, 2, 3, 1).numpy().astype(np.float32))
    if args.precision == "float64":
        # Exact enough to be the truth a float32 implementation is measured against: chained
        # training-mode batch norms cancel most of each gradient, so two float32 programs summing
        # in different orders differ by ~1e-3 where either differs from float64 by less.
        model.double()
        frozen = frozen.double()
    save(os.path.join(out, "head_init"), "weight", head.weight)
    save(os.path.join(out, "head_init"), "bias", head.bias)
    sha = hashlib.sha256(open(args.checkpoint, "rb").read()).hexdigest()
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump({"generator": "scripts/reference/finetune_reference.py", "torch": torch.__version__,
                   "files": files, "labels": labels, "class_weights": class_weights,
                   "checkpoint_sha256": sha, "seed": args.seed, "dropout": args.dropout}, f, indent=1)

    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    backbone_params = [p for n, p in trainable if n.startswith("features.")]
    opt = torch.optim.AdamW([{"params": backbone_params, "lr": BACKBONE_LR},
                             {"params": list(head.parameters()), "lr": HEAD_LR}],
                            betas=(0.9, 0.999), eps=1e-8, weight_decay=WEIGHT_DECAY)
    y_all = torch.tensor(labels)
    w = torch.tensor(class_weights, dtype=torch.float64 if args.precision == "float64" else torch.float32)

    def cosine(total):
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / total)))

    summary = f"wrote inputs, frozen features and head for {len(files)} images"
    if args.mode == "step":
        schedule = cosine(1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "autocast-bf16"):
            logits = model(frozen)
        logits = logits.float() if args.precision == "autocast-bf16" else logits
        loss = F.cross_entropy(logits, y_all, weight=w)
        opt.zero_grad()
        loss.backward()
        for n, p in trainable:
            save(os.path.join(out, "grads"), n, p.grad)
        save_running(model, os.path.join(out, "running"))
        opt.step()
        schedule.step()
        for n, p in trainable:
            save(os.path.join(out, "updated"), n, p)
        with open(os.path.join(out, "step.json"), "w") as f:
            json.dump({"loss": loss.item(), "logits": logits.tolist()}, f)
        summary += f"; one step: loss {loss.item():.6f}, {len(trainable)} trainable tensors"
    elif args.mode == "epochs":
        if not args.order or not os.path.isfile(args.order):
            fail(f"--mode epochs needs --order FILE (got {args.order!r})")
        with open(args.order) as f:
            order = json.load(f)
        if (not isinstance(order, list) or len(order) != args.epochs
                or any(sorted(p) != list(range(len(files))) for p in order)):
            fail(f"--order must list {args.epochs} permutations of 0..{len(files) - 1}")
        batch = args.batch or len(files)
        if batch < 1:
            fail("--batch must be positive")
        schedule = cosine(args.epochs * math.ceil(len(files) / batch))
        losses = []
        for permutation in order:
            for start in range(0, len(files), batch):
                idx = torch.tensor(permutation[start:start + batch])
                loss = F.cross_entropy(model(frozen[idx]), y_all[idx], weight=w)
                opt.zero_grad()
                loss.backward()
                opt.step()
                schedule.step()
                losses.append(loss.item())
        for n, p in trainable:
            save(os.path.join(out, "final"), n, p)
        save_running(model, os.path.join(out, "final"))
        with open(os.path.join(out, "losses.json"), "w") as f:
            json.dump(losses, f)
        summary += f"; {len(losses)} steps: loss {losses[0]:.6f} -> {losses[-1]:.6f}"
    print(f"{summary}; {time.time() - started:.1f}s -> {out}")


if __name__ == "__main__":
    main()
