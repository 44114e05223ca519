#!/usr/bin/env python3
"""Writes the DICOM test fixtures and pydicom's reference pixels for them.

usage: make_dicom_fixtures.py OUTDIR

Needs pydicom, numpy, Pillow, pylibjpeg (+ pylibjpeg-libjpeg, pylibjpeg-openjpeg) and pyjpegls
(scripts/test.sh makes a venv with them), and Debian's dcmtk for what pydicom cannot encode
(JPEG baseline, extended and lossless: dcmcjpeg). The pictures are developer X-rays from
../shared/data/covid-chestxray (never copied into the repository), re-encoded with fake patient
and study identifiers.

OUTDIR gets, per fixture NAME:
  NAME.dcm         the file
  NAME.npy         float32, rows x columns (grey) or rows x columns x 3 (colour): the first
                   frame after the modality LUT, the VOI LUT (the file's VOI LUT sequence, else
                   its first window, else min-max of the frame) and MONOCHROME1 inversion, on
                   0...255, as Lightbox's DICOM decoder should return it (grey is repeated
                   into R, G and B there)
  NAME.minmax.npy  for some grey fixtures: the same with min-max instead of the file's VOI
  NAME.json        header facts and the tolerance the comparison should use
and bad/NAME.dcm files with bad/NAME.json naming what the error should say. manifest.json
lists everything. Running it again rewrites OUTDIR from scratch.
"""
import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian,
                         RLELossless, JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless, JPEG2000)

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO.parent / "shared/data/covid-chestxray/images"
GREY_SOURCE = "071d06607edf81d70c940e043bce34_jumbo.jpeg"   # 1024 x 817, grey: not square, so rows/columns mix-ups show
SECOND_GREY = "00870a9c.jpg"                                # 1024 x 1024, grey: other frames of the multi-frame file
COLOUR_SOURCE = "000001-2.jpg"                              # 715 x 645, RGB

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"
ROOT = "1.2.826.0.1.3680043.8.498."   # pydicom's example root; the rest is fixed so runs agree

LOSSLESS_TOLERANCE = 1e-3   # 0...255 scale: float rounding only


def uid(n):
    return f"{ROOT}{n}"


def grey12(name=GREY_SOURCE):
    """8-bit X-ray -> 12 bits: value * 16 plus a fixed dither, so all 12 bits carry data."""
    v = np.asarray(Image.open(IMAGES / name).convert("L"), dtype=np.uint16)
    y, x = np.indices(v.shape)
    return v * 16 + ((x * 7 + y * 13) % 16).astype(np.uint16)


def base_dataset(index, rows, columns, *, photometric="MONOCHROME2", samples=1, bits_allocated=16,
                 bits_stored=12, signed=False, modality="DX"):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = DX_IMAGE_STORAGE if modality == "DX" else CR_IMAGE_STORAGE
    ds.SOPInstanceUID = uid(f"1.{index}")
    ds.StudyInstanceUID = uid(f"2.{index // 3}")
    ds.SeriesInstanceUID = uid(f"3.{index}")
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = f"LBX-FAKE-{index // 3:04d}"        # three fixtures share a patient
    ds.PatientName = f"Fake^Patient{index // 3}"
    ds.PatientBirthDate = "19700101"
    ds.Modality = modality
    ds.StudyDate = "20200101"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    return ds


def set_pixels(ds, array):
    ds.PixelData = np.ascontiguousarray(array).tobytes()


def save(ds, path, syntax=ExplicitVRLittleEndian):
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(path, enforce_file_format=True)


def reference(ds, voi="file"):
    """The first frame, through pydicom's LUT steps, on 0...255 (float32)."""
    arr = ds.pixel_array      # YBR is converted to RGB here (pydicom's default)
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        arr = arr[0]
    if ds.SamplesPerPixel == 3:
        top = 2 ** ds.BitsStored - 1
        return (arr.astype(np.float64) * (255.0 / top)).astype(np.float32)
    modality = apply_modality_lut(arr, ds)
    values = modality.astype(np.float64)
    if voi == "file" and "VOILUTSequence" in ds:
        item = ds.VOILUTSequence[0]
        bits = int(item.LUTDescriptor[2])
        out = apply_voi_lut(modality, ds, prefer_lut=True).astype(np.float64)
        out = out * (255.0 / (2 ** bits - 1))
    elif voi == "file" and "WindowCenter" in ds:
        c, w = first(ds.WindowCenter), first(ds.WindowWidth)
        out = windowed(values, c, w, ds.get("VOILUTFunction", "LINEAR"))
    else:
        lo, hi = values.min(), values.max()
        out = (values - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(values)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        out = 255.0 - out
    return out.astype(np.float32)


def windowed(values, c, w, function):
    """DICOM PS3.3 C.11.2.1.2 onto 0...255; checked against pydicom's apply_voi_lut below."""
    if function == "LINEAR_EXACT":
        out = (values - c) / w + 0.5
    elif function == "SIGMOID":
        return 255.0 / (1 + np.exp(-4 * (values - c) / w))
    else:
        out = (values - (c - 0.5)) / (w - 1) + 0.5
    return np.clip(out, 0, 1) * 255.0


def first(value):
    return float(value[0]) if isinstance(value, pydicom.multival.MultiValue) else float(value)


def check_against_pydicom_window(ds, ours):
    """Our window formula agrees with pydicom's apply_voi_lut (which maps onto the stored range)."""
    arr = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        arr = arr[0]
    theirs = apply_voi_lut(apply_modality_lut(arr, ds), ds, index=0).astype(np.float64)
    bits = ds.BitsStored
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if ds.PixelRepresentation == 1 else (0, 2 ** bits - 1)
    # pydicom's output range is the stored range through the rescale.
    slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
    lo, hi = lo * slope + intercept, hi * slope + intercept
    theirs = (theirs - lo) * (255.0 / (hi - lo))
    if ds.PhotometricInterpretation == "MONOCHROME1":
        theirs = 255.0 - theirs
    diff = float(np.abs(theirs - ours).max())
    assert diff < 1e-3, f"{ds.SOPInstanceUID}: window differs from pydicom's by {diff}"


class Writer:
    def __init__(self, out):
        self.out = out
        self.manifest = {"fixtures": [], "bad": []}
        self.index = 0

    def next_index(self):
        self.index += 1
        return self.index

    def add(self, name, path, *, lossy=False, tolerance=None, note="", warning=None, minmax=False):
        ds = pydicom.dcmread(path)
        ref = reference(ds)
        if ds.SamplesPerPixel == 1 and "WindowCenter" in ds and "VOILUTSequence" not in ds:
            check_against_pydicom_window(ds, ref)
        np.save(self.out / f"{name}.npy", ref)
        if minmax:
            np.save(self.out / f"{name}.minmax.npy", reference(ds, voi="minmax"))
        facts = {
            "file": f"{name}.dcm",
            "transferSyntax": str(ds.file_meta.TransferSyntaxUID),
            "transferSyntaxName": ds.file_meta.TransferSyntaxUID.name,
            "rows": int(ds.Rows), "columns": int(ds.Columns),
            "frames": int(ds.get("NumberOfFrames", 1) or 1),
            "samplesPerPixel": int(ds.SamplesPerPixel),
            "photometric": str(ds.PhotometricInterpretation),
            "bitsAllocated": int(ds.BitsAllocated), "bitsStored": int(ds.BitsStored),
            "highBit": int(ds.HighBit), "pixelRepresentation": int(ds.PixelRepresentation),
            "rescaleSlope": float(ds.get("RescaleSlope", 1)), "rescaleIntercept": float(ds.get("RescaleIntercept", 0)),
            "windowCenter": first(ds.WindowCenter) if "WindowCenter" in ds else None,
            "windowWidth": first(ds.WindowWidth) if "WindowWidth" in ds else None,
            "hasVOILUTSequence": "VOILUTSequence" in ds,
            "patientID": str(ds.PatientID), "sopInstanceUID": str(ds.SOPInstanceUID),
            "studyInstanceUID": str(ds.StudyInstanceUID),
            "lossy": lossy,
            # Maximum absolute difference allowed on the 0...255 scale, and for lossy
            # codecs a bound on the mean absolute difference too.
            "tolerance": tolerance if tolerance else {"max": LOSSLESS_TOLERANCE, "mean": LOSSLESS_TOLERANCE},
            "minmaxReference": minmax,
            "warning": warning,
            "note": note,
        }
        (self.out / f"{name}.json").write_text(json.dumps(facts, indent=1) + "\n")
        self.manifest["fixtures"].append(name)
        print(f"  {name}: {facts['transferSyntaxName']}, {facts['columns']}x{facts['rows']}", file=sys.stderr)

    def bad(self, name, data, error, note=""):
        (self.out / "bad").mkdir(exist_ok=True)
        (self.out / "bad" / f"{name}.dcm").write_bytes(data)
        (self.out / "bad" / f"{name}.json").write_text(json.dumps({"file": f"{name}.dcm", "error": error, "note": note}, indent=1) + "\n")
        self.manifest["bad"].append(name)


def grey_dataset(w, pixels, *, photometric="MONOCHROME2", window=((2100, 1500), (3600, 1000)), bits_stored=12,
                 signed=False, bits_allocated=16):
    ds = base_dataset(w.next_index(), *pixels.shape, photometric=photometric, bits_stored=bits_stored,
                      signed=signed, bits_allocated=bits_allocated)
    if window:
        centres, widths = window
        ds.WindowCenter = list(centres) if len(centres) > 1 else centres[0]
        ds.WindowWidth = list(widths) if len(widths) > 1 else widths[0]
    set_pixels(ds, pixels)
    return ds


def dcmtk(tool, args, source, target):
    subprocess.run([tool, *args, str(source), str(target)], check=True)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    w = Writer(out)
    g = grey12()
    rows, columns = g.shape
    print(f"make_dicom_fixtures: writing to {out}", file=sys.stderr)

    # --- Native (uncompressed) grey pictures: the pixel pipeline ---
    # 12-bit MONOCHROME2, two windows (the first is used).
    ds = grey_dataset(w, g)
    save(ds, out / "mono2_12bit_window.dcm")
    w.add("mono2_12bit_window", out / "mono2_12bit_window.dcm", minmax=True)

    # 12-bit MONOCHROME1 (white is low), window; inverted after the VOI LUT.
    ds = grey_dataset(w, (4095 - g).astype(np.uint16), photometric="MONOCHROME1", window=((2000,), (3000,)))
    save(ds, out / "mono1_12bit_window.dcm")
    w.add("mono1_12bit_window", out / "mono1_12bit_window.dcm", minmax=True)

    # 16-bit signed with rescale: stored -4096...4094, slope 0.5, intercept 100; window in modality units.
    stored = (g.astype(np.int32) * 2 - 4096).astype(np.int16)
    ds = grey_dataset(w, stored, bits_stored=16, signed=True, window=((100,), (3000,)))
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 0.5, 100, "US"
    save(ds, out / "signed16_rescale.dcm")
    w.add("signed16_rescale", out / "signed16_rescale.dcm", minmax=True)

    # 12-bit signed in 16-bit words: the sign is bit 11, the upper bits are its extension.
    stored = (g.astype(np.int32) - 2048).astype(np.int16)
    ds = grey_dataset(w, stored, bits_stored=12, signed=True, window=((0,), (3500,)))
    ds.RescaleSlope, ds.RescaleIntercept = 1, -100
    save(ds, out / "signed12_rescale.dcm")
    w.add("signed12_rescale", out / "signed12_rescale.dcm")

    # No window, no VOI LUT: min-max of the frame.
    ds = grey_dataset(w, g, window=None)
    save(ds, out / "mono2_no_window.dcm")
    w.add("mono2_no_window", out / "mono2_no_window.dcm")

    # A VOI LUT sequence (a gamma curve, 12 bits in, 16 bits out) beside a window: the LUT wins, as in pydicom.
    ds = grey_dataset(w, g, window=((2100,), (3600,)))
    lut = Dataset()
    entries = 4096
    curve = (np.linspace(0, 1, entries) ** 0.6 * 65535).round().astype(np.uint16)
    lut.add_new(0x00283002, "US", [entries, 0, 16])   # LUTDescriptor
    lut.add_new(0x00283006, "US", curve.tolist())     # LUTData
    lut.LUTExplanation = "gamma 0.6"
    ds.VOILUTSequence = [lut]
    save(ds, out / "voi_lut_sequence.dcm")
    w.add("voi_lut_sequence", out / "voi_lut_sequence.dcm")

    # 8-bit MONOCHROME2 in 8-bit words (the source of the JPEG baseline fixture too).
    g8 = (g >> 4).astype(np.uint8)
    ds = grey_dataset(w, g8, bits_allocated=8, bits_stored=8, window=((128,), (200,)))
    save(ds, out / "mono2_8bit.dcm")
    w.add("mono2_8bit", out / "mono2_8bit.dcm")

    # --- Transfer syntaxes, on the 12-bit picture with its window ---
    ds = grey_dataset(w, g, window=((2100,), (3600,)))
    save(ds, out / "implicit_le.dcm", ImplicitVRLittleEndian)
    w.add("implicit_le", out / "implicit_le.dcm")

    ds = grey_dataset(w, g, window=((2100,), (3600,)))
    save(ds, out / "deflated_le.dcm", DeflatedExplicitVRLittleEndian)
    w.add("deflated_le", out / "deflated_le.dcm")

    for name, syntax, kwargs, lossy, tol, note in [
        ("rle_lossless", RLELossless, {}, False, None, ""),
        ("jpegls_lossless", JPEGLSLossless, {}, False, None, ""),
        ("jpegls_near_lossless", JPEGLSNearLossless, {"jls_error": 3}, True, {"max": 1e-3, "mean": 1e-3},
         "NEAR=3; the decoder is deterministic, so CharLS and pyjpegls agree exactly"),
        ("j2k_lossless", JPEG2000Lossless, {}, False, None, ""),
        ("j2k_lossy", JPEG2000, {"j2k_cr": [20]}, True, {"max": 1.0, "mean": 0.05},
         "ratio 20; OpenJPEG versions may round the irreversible wavelet differently"),
    ]:
        ds = grey_dataset(w, g, window=((2100,), (3600,)))
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.compress(syntax, generate_instance_uid=False, **kwargs)
        save(ds, out / f"{name}.dcm", syntax)
        w.add(name, out / f"{name}.dcm", lossy=lossy, tolerance=tol, note=note)

    # JPEG family: pydicom cannot encode it, dcmtk's dcmcjpeg does (IJG 6b). Each from a source
    # file of its own, so that every fixture keeps its own SOP Instance UID (+un: no new UID).
    def jpeg(name, options, pixels, bits_stored, window, **facts):
        ds = grey_dataset(w, pixels, bits_allocated=16 if bits_stored > 8 else 8, bits_stored=bits_stored, window=window)
        save(ds, out / "source.tmp")
        dcmtk("dcmcjpeg", [*options, "+un"], out / "source.tmp", out / f"{name}.dcm")
        (out / "source.tmp").unlink()
        w.add(name, out / f"{name}.dcm", **facts)

    jpeg("jpeg_baseline", ["+eb"], (g >> 4).astype(np.uint8), 8, ((128,), (200,)), lossy=True,
         tolerance={"max": 4.0, "mean": 0.5},
         note="8-bit; IJG 6b (dcmtk/GDCM) and libjpeg 9 (pylibjpeg) may differ by a step of the IDCT")
    jpeg("jpeg_extended", ["+ee"], g, 12, ((2100,), (3600,)), lossy=True, tolerance={"max": 4.0, "mean": 0.5},
         note="12-bit; IDCT rounding may differ between libjpeg builds")
    jpeg("jpeg_lossless_p14", ["+el", "+sv", "6"], g, 12, ((2100,), (3600,)),
         note="process 14, selection value 6 (1.2.840.10008.1.2.4.57)")
    jpeg("jpeg_lossless_sv1", ["+e1"], g, 12, ((2100,), (3600,)))

    # --- Multi-frame: three frames, the first is used (with a warning) ---
    g2 = grey12(SECOND_GREY)[:rows, :columns]
    frames = np.stack([g, g2, 4095 - g]).astype(np.uint16)
    ds = base_dataset(w.next_index(), rows, columns)
    ds.NumberOfFrames = 3
    ds.WindowCenter, ds.WindowWidth = 2100, 3600
    set_pixels(ds, frames)
    save(ds, out / "multiframe.dcm")
    w.add("multiframe", out / "multiframe.dcm", warning="3 frames")

    # --- Colour ---
    rgb = np.asarray(Image.open(IMAGES / COLOUR_SOURCE).convert("RGB"), dtype=np.uint8)
    crow, ccol = rgb.shape[:2]
    ds = base_dataset(w.next_index(), crow, ccol, photometric="RGB", samples=3, bits_allocated=8, bits_stored=8)
    set_pixels(ds, rgb)
    save(ds, out / "rgb_interleaved.dcm")
    w.add("rgb_interleaved", out / "rgb_interleaved.dcm")

    ds = base_dataset(w.next_index(), crow, ccol, photometric="RGB", samples=3, bits_allocated=8, bits_stored=8)
    ds.PlanarConfiguration = 1
    set_pixels(ds, rgb.transpose(2, 0, 1))
    save(ds, out / "rgb_planar.dcm")
    w.add("rgb_planar", out / "rgb_planar.dcm")

    # YBR_FULL, uncompressed (PS3.3 C.7.6.3.1.2's conversion, as pydicom's convert_color_space).
    from pydicom.pixels import convert_color_space
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    ds = base_dataset(w.next_index(), crow, ccol, photometric="YBR_FULL", samples=3, bits_allocated=8, bits_stored=8)
    set_pixels(ds, ybr)
    save(ds, out / "ybr_full.dcm")
    w.add("ybr_full", out / "ybr_full.dcm", tolerance={"max": 1.0, "mean": 0.5},
          note="YCbCr to RGB: pydicom rounds to 8 bits, Lightbox keeps fractions")

    # Colour through the lossless codecs: RLE stores planes, JPEG 2000 (pydicom + OpenJPEG) applies
    # the reversible colour transform (YBR_RCT).
    for name, syntax in [("rle_rgb", RLELossless), ("jpegls_rgb", JPEGLSLossless), ("j2k_rgb", JPEG2000Lossless)]:
        ds = base_dataset(w.next_index(), crow, ccol, photometric="RGB", samples=3, bits_allocated=8, bits_stored=8)
        set_pixels(ds, rgb)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.compress(syntax, generate_instance_uid=False)
        save(ds, out / f"{name}.dcm", syntax)
        w.add(name, out / f"{name}.dcm")

    # JPEG baseline colour: dcmcjpeg stores YBR_FULL_422, the JPEG decoder returns RGB.
    ds = base_dataset(w.next_index(), crow, ccol, photometric="RGB", samples=3, bits_allocated=8, bits_stored=8)
    set_pixels(ds, rgb)
    save(ds, out / "source.tmp")
    dcmtk("dcmcjpeg", ["+eb", "+un"], out / "source.tmp", out / "jpeg_baseline_ybr.dcm")
    (out / "source.tmp").unlink()
    w.add("jpeg_baseline_ybr", out / "jpeg_baseline_ybr.dcm", lossy=True, tolerance={"max": 6.0, "mean": 0.7},
          note="YBR_FULL_422; chroma upsampling (fancy or not) and IDCT differ between libjpeg builds")

    write_bad(w, out)
    write_seeds(out, g)
    (out / "manifest.json").write_text(json.dumps(w.manifest, indent=1) + "\n")
    print(f"make_dicom_fixtures: {len(w.manifest['fixtures'])} fixtures, {len(w.manifest['bad'])} bad files", file=sys.stderr)


def write_bad(w, out):
    good = (out / "mono2_12bit_window.dcm").read_bytes()
    w.bad("not_dicom", b"This is a text file named .dcm, not DICOM.\n" * 10, "nor DICOM")
    w.bad("truncated_header", good[:300], "truncated", "cut inside the data set, before the pixel data")
    w.bad("truncated_pixels", good[: len(good) * 2 // 3], "truncated",
          "cut inside the pixel data: the element says more bytes than the file has")

    g = grey12()
    # Pixel data shorter than rows x columns x 2, its element length consistent: a short but well-formed file.
    ds = grey_dataset(w, g[: g.shape[0] // 2])
    ds.Rows = g.shape[0]
    save(ds, out / "bad" / "tmp.dcm")
    w.bad("short_pixel_data", (out / "bad" / "tmp.dcm").read_bytes(), "pixel data",
          "PixelData holds half of the bytes Rows x Columns x 2 needs")

    ds = grey_dataset(w, g[:4, :4])
    ds.Rows = 0
    save(ds, out / "bad" / "tmp.dcm")
    w.bad("zero_rows", (out / "bad" / "tmp.dcm").read_bytes(), "zero", "Rows is 0")

    ds = grey_dataset(w, g[:4, :4])
    ds.BitsStored, ds.HighBit = 20, 19
    save(ds, out / "bad" / "tmp.dcm")
    w.bad("bits_stored_over_allocated", (out / "bad" / "tmp.dcm").read_bytes(), "bits",
          "BitsStored 20 in 16-bit words")

    ds = grey_dataset(w, g[:4, :4])
    ds.Rows, ds.Columns = 65535, 65535
    save(ds, out / "bad" / "tmp.dcm")
    w.bad("huge_dimensions", (out / "bad" / "tmp.dcm").read_bytes(), "over the limit",
          "65535 x 65535 in the header, 32 bytes of pixels: refused from the header")

    # An MPEG-2 file (a video transfer syntax Lightbox does not read): encapsulated junk.
    ds = base_dataset(w.next_index(), 16, 16, bits_allocated=8, bits_stored=8)
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])
    ds["PixelData"].VR = "OB"
    save(ds, out / "bad" / "tmp.dcm", "1.2.840.10008.1.2.4.100")
    w.bad("unsupported_mpeg2", (out / "bad" / "tmp.dcm").read_bytes(), "1.2.840.10008.1.2.4.100",
          "MPEG2 Main Profile @ Main Level")

    # A JPEG 2000 stream cut in half inside its fragment (the element lengths still agree).
    ds = pydicom.dcmread(out / "j2k_lossless.dcm")
    from pydicom.encaps import generate_fragmented_frames
    frame = next(generate_fragmented_frames(ds.PixelData))[0]
    ds.PixelData = encapsulate([frame[: len(frame) // 2]])
    save(ds, out / "bad" / "tmp.dcm", JPEG2000Lossless)
    w.bad("j2k_cut_stream", (out / "bad" / "tmp.dcm").read_bytes(), "",
          "the codestream ends halfway: any one-line decode error")
    (out / "bad" / "tmp.dcm").unlink()


def write_seeds(out, g):
    """Small files (64 x 64) in each transfer syntax: seeds for scripts/fuzz.sh's image decoder target."""
    seeds = out / "seeds"
    seeds.mkdir()
    crop = np.ascontiguousarray(g[400:464, 500:564])
    for name, syntax in [("explicit", ExplicitVRLittleEndian), ("implicit", ImplicitVRLittleEndian),
                         ("deflated", DeflatedExplicitVRLittleEndian), ("rle", RLELossless),
                         ("jpegls", JPEGLSLossless), ("j2k", JPEG2000Lossless)]:
        ds = base_dataset(900, *crop.shape)
        ds.WindowCenter, ds.WindowWidth = 2100, 3600
        set_pixels(ds, crop)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        if syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian):
            ds.compress(syntax, generate_instance_uid=False)
        save(ds, seeds / f"{name}.dcm", syntax)
    for name, options in [("jpeg_lossless", ["+e1"]), ("jpeg_extended", ["+ee"])]:
        dcmtk("dcmcjpeg", [*options, "+un"], seeds / "explicit.dcm", seeds / f"{name}.dcm")


if __name__ == "__main__":
    main()
