#!/usr/bin/env python3
"""Runs an ONNX model in ONNX Runtime: python3 onnxruntime_predict.py MODEL.onnx INPUT.npy OUTPUT.npy
INPUT: float32 [N, 3, S, S] pixels 0-255 (the model's `image` input); OUTPUT: its first output."""
import sys
import numpy as np
import onnxruntime as ort

model, source, target = sys.argv[1:4]
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
x = np.load(source).astype(np.float32)
np.save(target, session.run(None, {session.get_inputs()[0].name: x})[0].astype(np.float32))
