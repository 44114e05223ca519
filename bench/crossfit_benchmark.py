#!/usr/bin/env python3
"""The default cross-fitted `lightbox train` against the single split it replaced (`--folds 1`),
on the developer data, seeds 1, 2 and 3, taking turns in one session: wall time, peak memory
(the child's maximum resident set), and the AUC each reports with its 95% interval (out of fold
over every patient, or the single split's test patients). BENCHMARKS.md, "Cross-fitting".

    bench/crossfit_benchmark.py [--binary .build/release/lightbox] [--seeds 1 2 3] [--data DIR]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

parser = argparse.ArgumentParser()
parser.add_argument("--binary", default=".build/release/lightbox")
parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../shared/data/covid-chestxray"))
args = parser.parse_args()
data = os.path.abspath(args.data)
work = tempfile.mkdtemp(prefix="lightbox-crossfit-bench-")

designs = {"cross-fitted, 5 folds (default)": [], "one split (--folds 1)": ["--folds", "1"]}


def run(extra, seed, out):
    """Wall seconds and peak resident MiB of one `train`, and its metrics.json."""
    started = time.perf_counter()
    # GNU time reports the child's own maximum resident set (KiB).
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out + ".rss", args.binary, "train", "--data", data, "--seed", str(seed),
                    "--out", out] + extra, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, LIGHTBOX_THREADS="2"))
    wall = time.perf_counter() - started
    with open(out + ".rss") as f:
        peak = int(f.read().split()[-1])
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    return wall, peak, metrics


rows = []
for seed in args.seeds:
    for name, extra in designs.items():
        wall, peak, m = run(extra, seed, os.path.join(work, f"{seed}-{len(extra)}"))
        rows.append((seed, name, wall, peak, m))
        print(f"seed {seed}, {name}: {wall:.1f} s, peak {peak / 1024:.0f} MiB, "
              f"{m['evaluation']} AUC {m['auc']:.3f} [{m['auc_ci'][0]:.3f}-{m['auc_ci'][1]:.3f}] on {m['n_images']} images "
              f"of {m['n_patients']} patients, threshold {m.get('threshold')}, train stage {m['timings']['train']:.1f} s",
              flush=True)

print("\n| seed | design | wall | peak memory | AUC (95% CI) | images / patients scored | threshold | fold AUCs |")
print("|---:|---|---:|---:|---|---:|---:|---|")
for seed, name, wall, peak, m in rows:
    folds = ", ".join("n/a" if a is None else f"{a:.2f}" for a in m["fold_auc"]) if m["folds"] > 1 else "-"
    threshold = f"{m['threshold']:.3f}" if m.get("operating_point_note") is None and m.get("threshold") is not None else "argmax"
    print(f"| {seed} | {name} | {wall:.1f} s | {peak / 1024:.0f} MiB | {m['auc']:.3f} "
          f"({m['auc_ci'][0]:.3f}-{m['auc_ci'][1]:.3f}) | {m['n_images']} / {m['n_patients']} | {threshold} | {folds} |")
for name in designs:
    walls = [r[2] for r in rows if r[1] == name]
    aucs = [r[4]["auc"] for r in rows if r[1] == name]
    print(f"{name}: median wall {statistics.median(walls):.1f} s; AUC mean {statistics.mean(aucs):.3f}, "
          f"spread over seeds {max(aucs) - min(aucs):.3f}")
ratio = [a[2] / b[2] for a, b in zip(rows[0::2], rows[1::2])]
print(f"wall time, cross-fitted / one split: {', '.join(f'{r:.2f}' for r in ratio)}")
shutil.rmtree(work, ignore_errors=True)
