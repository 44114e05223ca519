#!/usr/bin/env python3
"""Compares the first frames decode programs wrote (OUTDIR/NAME.LIB.raw, stored samples as the
library returned them) with pydicom's pixel_array of the same files, and prints a Markdown table.

usage: compare.py FIXTURES OUTDIR LIB.jsonl...   (run with the DICOM venv's python)

Stored bits are taken (HighBit, BitsStored) and sign-extended as Lightbox does, so a library
that leaves other bits set still compares equal on what the standard says to use. A colour frame
the library returns as YBR_FULL is converted with pydicom's convert_color_space; planar frames are
interleaved. 'exact' means every sample equal; otherwise the largest and mean absolute difference
in stored units.
"""
import json
import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import convert_color_space


def stored(raw, ds):
    bits = ds.BitsAllocated
    dtype = {8: np.uint8, 16: np.uint16, 32: np.uint32}[bits]
    v = np.frombuffer(raw, dtype=dtype).astype(np.int64)
    shift = ds.HighBit + 1 - ds.BitsStored
    v = (v >> shift) & ((1 << ds.BitsStored) - 1)
    if ds.PixelRepresentation == 1:
        sign = 1 << (ds.BitsStored - 1)
        v = np.where(v & sign, v - (1 << ds.BitsStored), v)
    return v


def main():
    fixtures, outdir, runs = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    results = {}
    for run in runs:
        lib = Path(run).stem
        for line in Path(run).read_text().splitlines():
            r = json.loads(line)
            results.setdefault(r["name"], {})[lib] = r
    libs = [Path(r).stem for r in runs]
    print("| fixture | transfer syntax | " + " | ".join(f"{l} (ms)" for l in libs) + " |")
    print("|---|---|" + "---|" * len(libs))
    for name in sorted(results):
        ds = pydicom.dcmread(fixtures / f"{name}.dcm")
        ref = ds.pixel_array
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            ref = ref[0]
        ref = ref.astype(np.int64)
        cells = []
        for lib in libs:
            r = results[name].get(lib)
            if r is None or not r["ok"]:
                cells.append(f"FAIL: {r['error'] if r else 'not run'}")
                continue
            v = stored((outdir / f"{name}.{lib}.raw").read_bytes(), ds)
            if ds.SamplesPerPixel == 3:
                v = v.reshape(3, ds.Rows, ds.Columns).transpose(1, 2, 0) if r["planar"] == 1 else v.reshape(ds.Rows, ds.Columns, 3)
                if r["pi"].strip() in ("YBR_FULL", "YBR_FULL_422"):   # returned at full size, not yet RGB
                    v = convert_color_space(v.astype(np.uint8), "YBR_FULL", "RGB").astype(np.int64)
            else:
                v = v.reshape(ds.Rows, ds.Columns)
            d = np.abs(v - ref)
            verdict = "exact" if d.max() == 0 else f"max {d.max()}, mean {d.mean():.3f}"
            cells.append(f"{verdict} ({r['ms']:.1f})")
        print(f"| {name} | {ds.file_meta.TransferSyntaxUID.name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
