#!/usr/bin/env python3
"""A fine-tuned model over shards (issue 15): `lightbox predict` of the default fine-tuned
ensemble on one machine against the same prediction as a Slurm job array on the one-node cluster
(scripts/slurm/one-node-cluster.sh), in the same run on the same pictures; and how much of a
fine-tuning run the shards can take (the frozen modules' work on its validation and test pictures).

usage: bench/finetuned_shards_benchmark.py [--data ../shared/data/covid-chestxray]
       [--lightbox .build/release/lightbox] [--work /tmp/finetuned-shards-bench] [--shards 2]

Measures, each with /usr/bin/time -v:
  train      lightbox train --data DATA --out run                      (the default method: fine-tuning)
  held-out   lightbox embed --frozen-through 13 --shards 1 over the run's validation and test
             pictures (split.csv): the part of that run that shards take
  local      lightbox predict --json --model run/model DATA/images     (wall, images/s, peak RSS)
  cluster    the same with --shards N --executor slurm, then whether stdout is identical
  cached     the cluster command again: every probability is in the cache (follow-up cost)
Prints a JSON summary; BENCHMARKS.md records it.
"""
import argparse, csv, json, os, shutil, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale_benchmark import CLUSTER, ROOT, timed  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "covid-chestxray"))
    ap.add_argument("--lightbox", default=os.path.join(ROOT, ".build", "release", "lightbox"))
    ap.add_argument("--work", default="/tmp/finetuned-shards-bench")
    ap.add_argument("--shards", type=int, default=2)
    a = ap.parse_args()
    lightbox, data = os.path.abspath(a.lightbox), os.path.abspath(a.data)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    w = lambda name: os.path.join(a.work, name)
    images = os.path.join(data, "images")
    count = len(os.listdir(images))
    result = {"images": count, "shards": a.shards, "cores": os.cpu_count()}

    train, _, _ = timed([lightbox, "train", "--data", data, "--out", w("run"), "--no-cache"])
    result["train"] = train
    with open(w("run/split.csv")) as f:
        rows = list(csv.DictReader(f))
    held_out = [r["path"] for r in rows if r["split"] in ("validation", "test")]
    with open(w("held-out.txt"), "w") as f:
        f.write("\n".join(held_out) + "\n")
    frozen, _, _ = timed([lightbox, "embed", "--out", w("frozen"), "--shards", "1", "--paths-from", w("held-out.txt"),
                          "--frozen-through", "13", "--cache-dir", w("frozen-cache")])
    frozen["pictures"] = len(held_out)
    frozen["share_of_training"] = round(frozen["seconds"] / train["seconds"], 3)
    result["held_out_frozen_work"] = frozen

    model = w("run/model")
    local, local_out, _ = timed([lightbox, "predict", "--json", "--model", model, images])
    local["images_per_second"] = round(count / local["seconds"], 1)
    result["local"] = local

    state = w("cluster")
    subprocess.run([CLUSTER, "start", state], check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, SLURM_CONF=os.path.join(state, "slurm.conf"))
    try:
        cmd = [lightbox, "predict", "--json", "--model", model, "--shards", str(a.shards), "--executor", "slurm",
               "--cache-dir", w("cache"), images]
        cluster, cluster_out, _ = timed(cmd, env=env)
        cluster["images_per_second"] = round(count / cluster["seconds"], 1)
        cluster["identical_to_local"] = cluster_out == local_out
        result["cluster"] = cluster
        cached, cached_out, _ = timed(cmd, env=env)
        cached["identical_to_local"] = cached_out == local_out
        result["cached"] = cached
    finally:
        subprocess.run([CLUSTER, "stop", state], stdout=subprocess.DEVNULL)
    result["cluster_over_local"] = round(result["cluster"]["seconds"] / local["seconds"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
