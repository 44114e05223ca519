#!/usr/bin/env python3
"""The 100,000-image scale benchmark (issue 15): `lightbox embed` on one machine against the same
embedding as a Slurm job array on the one-node cluster (scripts/slurm/one-node-cluster.sh), in
the same run on the same images, plus what a cluster adds per task and for the merge.

usage: bench/scale_benchmark.py DATA_DIR [--lightbox .build/release/lightbox] [--work /tmp/scale-bench]
       [--shards 2]

DATA_DIR: images (scripts/fixtures/make_scale_dataset.py DIR --count 100000 --size 256).
Measures, each with /usr/bin/time -v:
  local      lightbox embed --out local.npy DATA_DIR                     (wall, images/s, peak RSS)
  cluster    lightbox embed --shards N --executor slurm ... DATA_DIR     (wall, images/s, the
             submitting process's peak RSS), then cmp of the two .npy files
  one task   lightbox embed --shard 0/50 and 0/25 --paths-from LIST ...   (a task's peak RSS)
  merge      the cluster command again once every shard is done          (the merge alone)
  overhead   2 shards of 2 images on the cluster against the same locally (submission,
             scheduling, start-up and merge, per task)
Prints a JSON summary; BENCHMARKS.md records it with the projection to 10 and 100 nodes.
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER = os.path.join(ROOT, "scripts", "slurm", "one-node-cluster.sh")


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time -v; returns wall seconds, peak RSS (MiB), stdout, stderr."""
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - start
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    cpu = re.search(r"Percent of CPU this job got: (\d+)%", p.stderr).group(1)
    return {"seconds": round(wall, 2), "peak_rss_mib": round(rss), "cpu_percent": int(cpu)}, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--lightbox", default=os.path.join(ROOT, ".build", "release", "lightbox"))
    ap.add_argument("--work", default="/tmp/scale-bench")
    ap.add_argument("--shards", type=int, default=2)
    a = ap.parse_args()
    lightbox = os.path.abspath(a.lightbox)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    w = lambda name: os.path.join(a.work, name)
    count = sum(len(files) for _, _, files in os.walk(a.data))
    result = {"images": count, "shards": a.shards, "cores": os.cpu_count()}

    local, _, _ = timed([lightbox, "embed", "--out", w("local.npy"), a.data])
    local["images_per_second"] = round(count / local["seconds"], 1)
    result["local"] = local

    state = w("cluster")
    subprocess.run([CLUSTER, "start", state], check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, SLURM_CONF=os.path.join(state, "slurm.conf"))
    try:
        cmd = [lightbox, "embed", "--out", w("slurm.npy"), "--shards", str(a.shards), "--executor", "slurm",
               "--cache-dir", w("cache"), "--cpus-per-task", str(max(1, (os.cpu_count() or 2) // a.shards)), a.data]
        cluster, out, _ = timed(cmd, env)
        cluster["images_per_second"] = round(count / cluster["seconds"], 1)
        cluster["job"] = out.strip().splitlines()[0]
        result["cluster"] = cluster
        result["identical_npy"] = subprocess.run(["cmp", "-s", w("local.npy"), w("slurm.npy")]).returncode == 0
        shards = [json.load(open(os.path.join(w("slurm.npy.shards"), f))) for f in sorted(os.listdir(w("slurm.npy.shards")))
                  if f.startswith("shard-")]
        result["task_seconds"] = [round(s["seconds"], 1) for s in shards]

        merge, _, _ = timed(cmd, env)  # every shard done: the merge alone
        result["merge_only"] = merge

        # A task's own peak memory: shards of 2,000 and 4,000 images by hand, one thread, into a
        # fresh cache (a task streams its embeddings into the cache: memory does not grow with
        # its shard, which these two show; a shard of half the images would take many minutes).
        result["one_task"] = {}
        for n in (50, 25):
            task, _, _ = timed([lightbox, "embed", "--out", w(f"task{n}.npy"), "--shard", f"0/{n}", "--paths-from",
                                os.path.join(w("slurm.npy.shards"), "inputs.txt"), "--cache-dir", w(f"cache-task{n}"), "--threads", "1"])
            task["images"] = count // n
            result["one_task"][f"shard_0_of_{n}"] = task

        # Per-task overhead: 2 shards of 2 images on the cluster against the same 4 locally.
        few = sorted(os.path.join(d, f) for d, _, files in os.walk(a.data) for f in files)[:4]
        tiny_local, _, _ = timed([lightbox, "embed", "--out", w("tiny-local.npy")] + few)
        tiny_cluster, _, _ = timed([lightbox, "embed", "--out", w("tiny.npy"), "--shards", "2", "--executor", "slurm",
                                    "--cache-dir", w("cache-tiny")] + few, env)
        result["overhead"] = {"local_4_images_s": tiny_local["seconds"], "cluster_2x2_images_s": tiny_cluster["seconds"],
                              "added_s": round(tiny_cluster["seconds"] - tiny_local["seconds"], 2)}
    finally:
        subprocess.run([CLUSTER, "stop", state], stdout=subprocess.DEVNULL)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
