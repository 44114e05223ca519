#!/usr/bin/env python3
"""Fine-tuning step speed: Lightbox vs torch eager, same work, same run.

One optimiser step of the fine-tuning recipe on a batch of features.13 outputs (14x14x96,
the frozen part's output): MobileNetV2 features.14-18 forward with batch norm in training
mode, global average pool, a linear head, class-weighted cross-entropy, backward through
features.14-18, AdamW. And the frozen part (features.0-13) forward on a batch of images.
Both engines: 2 threads, the same shapes and batch; torch with glibc malloc kept from
returning memory (its best setup, as in embedding_benchmark.py). Engines take turns over
--rounds rounds; the table gives medians and the per-round ratios' range.

bfloat16 rows (issue 27): Lightbox bf16 (oneDNN's AVX-512 BF16 kernels; on a CPU without them
lightbox-bench exits 3 and the row says so, with no number), Lightbox bf16-emulated (bf16's
numbers on fp32 kernels: a cost reference, not a speed claim), and torch eager with
torch.autocast("cpu", dtype=torch.bfloat16) around the forward pass and the loss, backward
outside it, fp32 master weights and the same AdamW (torch's recommended mixed precision);
its frozen part runs under the same autocast.

Run from the repository root after scripts/setup.sh, with torch installed (the test venv
scripts/test.sh makes has it):
    ~/.cache/lightbox/test-data/torch-venv/bin/python bench/finetune_benchmark.py [--rounds 5] [--seconds 3]
"""
import argparse, json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench_support import tuned_environment  # noqa: E402
HOME = os.environ.get("LIGHTBOX_HOME", os.path.expanduser("~/.cache/lightbox"))
CHECKPOINT = os.path.join(HOME, "weights", "mobilenet_v2-b0353104.pth")


def torch_peer(batch, seconds, precision):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(ROOT, "scripts", "reference"))
    from mobilenet_v2_reference import MobileNetV2
    torch.set_num_threads(2)
    net = MobileNetV2()
    net.load_state_dict(torch.load(CHECKPOINT, map_location="cpu", weights_only=True))
    frozen, tail = net.features[:14].eval(), net.features[14:].train()
    for p in frozen.parameters():
        p.requires_grad_(False)
    head = nn.Linear(1280, 2)
    opt = torch.optim.AdamW([{"params": tail.parameters(), "lr": 3e-4}, {"params": head.parameters(), "lr": 1e-3}],
                            weight_decay=0.01)
    g = torch.Generator().manual_seed(2)
    x13 = torch.randn(batch, 96, 14, 14, generator=g).clamp(min=0)
    images = torch.randn(batch, 3, 224, 224, generator=g)
    labels = torch.arange(batch) % 2
    w = torch.tensor([1.0, 1.0])
    bf16 = precision == "bf16"

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(head(tail(x13).mean(dim=(2, 3))), labels, weight=w)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def frozen_pass():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            frozen(images)

    def median(work):  # a call slower than `seconds` (bf16 without AVX-512): 1 warm-up, 1 timed
        t0 = time.perf_counter()
        work()
        slow = time.perf_counter() - t0 > seconds
        if not slow:
            work()
        times, start = [], time.perf_counter()
        while time.perf_counter() - start < seconds or len(times) < (1 if slow else 5):
            t0 = time.perf_counter()
            work()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    print(json.dumps({"batch": batch, "precision": precision, "step_ms_per_image": median(step) / batch * 1e3,
                      "frozen_ms_per_image": median(frozen_pass) / batch * 1e3}))


def child(command, env=None):
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def native_bf16(bench):
    """None when lightbox-bench runs bf16 here, else its reason (exit 3: no AVX-512 BF16)."""
    out = subprocess.run([bench, "finetune-step", "2", "0.01", "2", "bf16"], capture_output=True, text=True)
    if out.returncode == 0:
        return None
    if out.returncode == 3:
        return out.stderr.strip().removeprefix("error: ")
    sys.exit(f"lightbox-bench finetune-step bf16 failed ({out.returncode}):\n{out.stderr}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--peer", choices=["fp32", "bf16"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        return torch_peer(args.batch, args.seconds, args.peer)
    if not os.path.exists(CHECKPOINT):
        sys.exit(f"{CHECKPOINT} missing: run scripts/setup.sh first")
    bench = os.path.join(ROOT, ".build", "release", "lightbox-bench")
    tuned = tuned_environment()
    lb = lambda precision: lambda: child([bench, "finetune-step", str(args.batch), str(args.seconds), "2", precision])
    pe = lambda precision: lambda: child([sys.executable, __file__, "--peer", precision, "--batch", str(args.batch),
                                          "--seconds", str(args.seconds)], env=tuned)
    unavailable = native_bf16(bench)
    engines = {"lightbox": lb("fp32")}
    if unavailable is None:
        engines["lightbox bf16"] = lb("bf16")
    engines.update({"lightbox bf16-emulated": lb("bf16-emulated"), "torch eager": pe("fp32"),
                    "torch autocast bf16": pe("bf16")})
    names = list(engines)
    results = {e: [] for e in engines}
    for r in range(args.rounds):
        for e in names[r % len(names):] + names[:r % len(names)]:
            results[e].append(engines[e]())
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"fine-tuning, batch {args.batch}, 2 threads; {args.rounds} rounds, medians; ms per image; "
          f"ratios: engine / lightbox fp32 within each round (median, range)")
    print(f"{'engine':<24}{'step':>8}{'frozen':>9}{'engine/lightbox step':>22}{'(range)':>16}"
          f"{'frozen':>8}{'(range)':>16}")
    ours = results["lightbox"]
    for e, rows in results.items():
        if e == "lightbox bf16-emulated" and unavailable is not None:
            print(f"{'lightbox bf16':<24}  unavailable on this CPU: {unavailable}")
        step = statistics.median(x["step_ms_per_image"] for x in rows)
        frozen = statistics.median(x["frozen_ms_per_image"] for x in rows)
        ratios = [x["step_ms_per_image"] / o["step_ms_per_image"] for x, o in zip(rows, ours)]
        fratios = [x["frozen_ms_per_image"] / o["frozen_ms_per_image"] for x, o in zip(rows, ours)]
        print(f"{e:<24}{step:>8.2f}{frozen:>9.2f}{statistics.median(ratios):>22.2f}"
              f"{f'({min(ratios):.2f}-{max(ratios):.2f})':>16}{statistics.median(fratios):>8.2f}"
              f"{f'({min(fratios):.2f}-{max(fratios):.2f})':>16}")


if __name__ == "__main__":
    main()
