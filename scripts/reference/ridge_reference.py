#!/usr/bin/env python3
"""Reference ridge regression with an intercept for Lightbox's RidgeRegression (the lung
locator's fit), solved independently in the primal with numpy in float64:

    w = (Xc^T Xc + lambda I)^-1 Xc^T (Y - mean Y),  b = mean Y - mean X w,
    lambda = penalty * trace(Xc Xc^T) / n   (Lightbox's relative penalty),

Xc the training rows centred on their mean. Reads JSON {"x": [[...]], "y": [[...]], "train": [...],
"test": [...], "penalty": p} from the first file given and writes {"predictions": [[...]]} for the
test rows to the second.
"""
import json, sys
import numpy as np

spec = json.load(open(sys.argv[1]))
x = np.array(spec["x"], dtype=np.float64)
y = np.array(spec["y"], dtype=np.float64)
train, test = spec["train"], spec["test"]
xt, yt = x[train], y[train]
mx, my = xt.mean(0), yt.mean(0)
xc = xt - mx
lam = spec["penalty"] * np.trace(xc @ xc.T) / len(train)
w = np.linalg.solve(xc.T @ xc + lam * np.eye(x.shape[1]), xc.T @ (yt - my))
b = my - mx @ w
json.dump({"predictions": (x[test] @ w + b).tolist()}, open(sys.argv[2], "w"))
