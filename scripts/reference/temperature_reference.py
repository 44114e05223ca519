#!/usr/bin/env python3
"""Temperature scaling fitted in torch, for the Swift tests to compare against (Lightbox's
TemperatureScaling.fit must find the same temperature, its apply the same probabilities).

For each case NAME listed in IN_DIR/index.json ({"cases": [{"name", "rows", "classes"}]}) reads
  NAME.probabilities.f32   [rows, classes] float32, little-endian, row-major: softmax outputs
  NAME.labels.i32          [rows] int32 class indices
fits one temperature T minimising the mean negative log-likelihood of softmax(log(max(p, 1e-7)) / T)
in float64: a dense grid of 4001 values of log T over [log 0.05, log 20], then torch.optim.LBFGS
(strong Wolfe line search) on log T from the grid's best point, kept inside the range. Writes
  NAME.calibrated.f32      softmax(log(max(p, 1e-7)) / T) as float32
and OUT_DIR/result.json: {"torch": version, "cases": {NAME: {"temperature", "nll", "nll_at_1",
"grid_temperature"}}}.

Needs torch and numpy (the torch venv scripts/test.sh makes):
  python scripts/reference/temperature_reference.py IN_DIR OUT_DIR
"""
import json, math, os, sys

import numpy as np
import torch

FLOOR = 1e-7
LOW, HIGH = math.log(0.05), math.log(20.0)


def nll(z, y, log_t):
    """Mean negative log-likelihood of y under softmax(z / exp(log_t)); z, y torch float64/int64."""
    scaled = z / torch.exp(log_t)
    return (torch.logsumexp(scaled, dim=1) - scaled.gather(1, y[:, None])[:, 0]).mean()


def fit(z, y):
    grid = torch.linspace(LOW, HIGH, 4001, dtype=torch.float64)
    with torch.no_grad():
        losses = torch.stack([nll(z, y, g) for g in grid])
    best = grid[int(torch.argmin(losses))]
    log_t = torch.tensor(float(best), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1, max_iter=200, tolerance_grad=1e-14, tolerance_change=1e-16,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = nll(z, y, log_t)
        loss.backward()
        return loss

    for _ in range(5):
        optimizer.step(closure)
        with torch.no_grad():
            log_t.clamp_(LOW, HIGH)
    return float(log_t.detach()), float(best)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.set_default_dtype(torch.float64)
    index = json.load(open(os.path.join(source, "index.json")))
    results = {}
    for case in index["cases"]:
        name, rows, classes = case["name"], case["rows"], case["classes"]
        p = np.fromfile(os.path.join(source, f"{name}.probabilities.f32"), dtype="<f4").reshape(rows, classes)
        y = np.fromfile(os.path.join(source, f"{name}.labels.i32"), dtype="<i4")
        if y.shape != (rows,):
            sys.exit(f"temperature_reference.py: error: {name}: {y.shape[0]} labels for {rows} rows")
        z = torch.log(torch.clamp(torch.from_numpy(p.astype(np.float64)), min=FLOOR))
        labels = torch.from_numpy(y.astype(np.int64))
        log_t, grid = fit(z, labels)
        t = math.exp(log_t)
        with torch.no_grad():
            calibrated = torch.softmax(z / t, dim=1).numpy().astype("<f4")
            results[name] = {"temperature": t, "grid_temperature": math.exp(grid),
                             "nll": float(nll(z, labels, torch.tensor(log_t))),
                             "nll_at_1": float(nll(z, labels, torch.tensor(0.0)))}
        calibrated.tofile(os.path.join(out, f"{name}.calibrated.f32"))
    json.dump({"torch": torch.__version__, "cases": results}, open(os.path.join(out, "result.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
