"""What the Python benchmarks share: running a job as its own process under GNU time, and the
environment that keeps glibc malloc from returning memory (torch's best setup here, and what
`lightbox` does for itself with mallopt)."""
import os, subprocess, sys, tempfile, time

TUNED_MALLOC = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "10000000000",
                "GLIBC_TUNABLES": "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=10000000000"}


def tuned_environment():
    """This process's environment with TUNED_MALLOC set."""
    return dict(os.environ, **TUNED_MALLOC)


def timed(args, env=None):
    """Runs a command under GNU time; returns (seconds, peak KB, stdout). Exits on failure."""
    out = tempfile.mktemp()
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out] + args, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{p.stderr[-2000:]}")
    with open(out) as f:
        peak = int(f.read().strip().splitlines()[-1])
    os.unlink(out)
    return seconds, peak, p.stdout
