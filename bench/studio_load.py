#!/usr/bin/env python3
"""Load check of Lightbox Studio's prediction endpoint.

Starts `lightbox serve` on a loopback port with a fresh data directory, imports the Teachable
Machine training images (two classes), trains a model (5 epochs; 5 cross-fitted folds, as the
Studio chooses for 11 patients a class), then sends --requests
predictions of one real X-ray from --clients concurrent keep-alive clients, all to 127.0.0.1.
Reports errors, throughput and latency percentiles.
--heatmap on (the default) asks for every answer's Grad-CAM heatmap, as the page does; off sends
?heatmap=0 (probabilities only); both measures on, then off, against the same server and model.
--server names another lightbox executable (an older build, for a before/after comparison; one
that does not know ?heatmap=0 ignores it and answers with the heatmap).
Run after scripts/setup.sh: python3 bench/studio_load.py [--clients 8] [--requests 2000] [--heatmap on|off|both]
"""
import argparse, http.client, json, os, socket, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--heatmap", choices=["on", "off", "both"], default="on")
    ap.add_argument("--server", default=os.path.join(ROOT, ".build", "release", "lightbox"))
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tempfile.mkdtemp(prefix="studio-load-")
    images = os.path.join(SHARED, "models", "teachable-machine-image", "training-images")
    token = "load-check-token-0123"
    server = subprocess.Popen([args.server, "serve", "--port", str(port),
                               "--data-dir", data, "--import-root", images], stderr=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, env=dict(os.environ, LIGHTBOX_TOKEN=token))
    auth = {"Authorization": "Bearer " + token}
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)

        def call(method, path, body=None, headers=None):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request(method, path, body=body, headers={**auth, **(headers or {})})
            r = c.getresponse()
            return r.status, r.read()

        j = {"Content-Type": "application/json"}
        # The Studio chooses the design from the patients: 22 pictures, 11 a class, 5 folds (a
        # model of 5 members). Any refusal stops the check instead of measuring errors.
        for path, body in [("/api/projects", {"name": "load"}), ("/api/projects/1/import", {"path": images}),
                           ("/api/projects/1/runs", {"epochs": 5})]:
            status, answer = call("POST", path, json.dumps(body), j)
            if status >= 300:
                sys.exit(f"POST {path}: {status} {answer.decode()}")
        while (run := json.loads(call("GET", "/api/runs/1")[1]))["status"] in ("queued", "running"):
            time.sleep(0.2)
        if run["status"] != "finished":
            sys.exit(f"run 1 {run['status']}: {run.get('error', '')}")
        xray = open(os.path.join(SHARED, "data", "covid-chestxray", "images", "000001-2.jpg"), "rb").read()

        failed = False
        for mode in (["on", "off"] if args.heatmap == "both" else [args.heatmap]):
            failed |= measure(port, auth, xray, args.clients, args.requests, heatmap=mode == "on")
        sys.exit(1 if failed else 0)
    finally:
        server.terminate()
        server.wait(timeout=10)


def measure(port, auth, xray, clients, requests, heatmap):
    """Sends `requests` predictions from `clients` keep-alive clients; prints one result; True on errors."""
    path = "/api/runs/1/predict" + ("" if heatmap else "?heatmap=0")
    latencies, errors, lock = [], [], threading.Lock()
    per_client = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]

    def client(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(n):
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=xray, headers={**auth, "Content-Type": "image/jpeg"})
                r = conn.getresponse()
                body = r.read()
                ok = r.status == 200 and b"probabilities" in body
            except Exception as e:  # count, reconnect, go on
                ok, conn = False, http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                if not ok:
                    errors.append(dt)

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in per_client]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e3
    what = "heatmap included" if heatmap else "no heatmap: ?heatmap=0"
    print(f"POST {path} (a {len(xray) // 1024} KiB X-ray, {what}), {clients} concurrent clients")
    print(f"requests {len(latencies)}, errors {len(errors)}, {len(latencies) / wall:.1f} req/s, "
          f"p50 {q(0.50):.1f} ms, p99 {q(0.99):.1f} ms, max {latencies[-1] * 1e3:.1f} ms", flush=True)
    return bool(errors)


if __name__ == "__main__":
    main()
