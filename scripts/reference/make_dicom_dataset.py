#!/usr/bin/env python3
"""Writes a small hospital-style DICOM data set and the same pictures as PNG, for the tests that
check that DICOM trains, evaluates and predicts exactly like PNG and that no identifying
attribute reaches an output.

usage: make_dicom_dataset.py OUTDIR [COUNT]

COUNT (default 40) frontal X-rays from ../shared/data/covid-chestxray (half COVID-19, half other
findings, patients with two pictures first), made grey and at most 320 pixels on a side. OUTDIR gets:
  png/IMAGE.png        the 8-bit grey picture
  png-list.csv         path,label,group: the PNGs with the data set's patient ids
  dicom/SERIES/N       the same pictures as DICOM as a PACS export leaves them: numbered files
                       without an extension (every third one named N.dcm), 12 bits stored in
                       16, a window that maps the stored values back onto the 8-bit picture
                       exactly (centre 2040.5, width 4081: the standard's LINEAR function gives
                       stored / 16), MONOCHROME1 for every other picture (stored inverted),
                       explicit little endian or RLE lossless, with a fake patient name, birth
                       date, institution and PatientID per patient
  labels.csv           sop_instance_uid,label,group: the same groups as png-list.csv
  labels-by-uid.csv    sop_instance_uid,label: patients come from the files' PatientID
  identifiers.json     every identifying value written into the DICOM files (none may appear in
                       any output) and, per SOP Instance UID, its DICOM file, PNG and raw PatientID
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared/data/covid-chestxray"
ROOT = "1.2.826.0.1.3680043.8.498.77."   # pydicom's example root; fixed, so runs agree
DX_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"


def pick(count):
    with open(DATA / "metadata.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["modality"] == "X-ray" and r["view"] in ("PA", "AP")
                and (DATA / "images" / r["filename"]).exists()]
    by_patient = {}
    for r in rows:
        by_patient.setdefault(r["patientid"], []).append(r)
    chosen = []
    for covid in (True, False):
        wanted = count // 2 if covid else count - count // 2
        group = [p for p, rs in sorted(by_patient.items()) if (rs[0]["finding"].startswith("COVID-19") if covid
                                                                else "COVID-19" not in rs[0]["finding"])]
        # Patients with two pictures first (to show they stay together), then one each.
        group.sort(key=lambda p: -min(2, len(by_patient[p])))
        taken = []
        for p in group:
            for r in by_patient[p][:2]:
                if len(taken) < wanted:
                    taken.append((r, "COVID-19" if covid else "other"))
        chosen += taken
    return chosen


def grey(path):
    image = Image.open(path).convert("L")
    image.thumbnail((320, 320), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def dicom(pixels8, index, patient, uid, path):
    inverted = index % 2 == 1
    stored = (16 * (255 - pixels8.astype(np.uint16)) if inverted else 16 * pixels8.astype(np.uint16)).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = DX_IMAGE_STORAGE
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = f"{ROOT}2.{index}"
    ds.SeriesInstanceUID = f"{ROOT}3.{index}"
    ds.Modality = "DX"
    ds.PatientName = patient["name"]
    ds.PatientID = patient["id"]
    ds.PatientBirthDate = patient["birth"]
    ds.PatientSex = "O"
    ds.InstitutionName = patient["institution"]
    ds.ReferringPhysicianName = "HOUSE^GREGORY"
    ds.AccessionNumber = f"ACC{9000 + index}"
    ds.Rows, ds.Columns = pixels8.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if inverted else "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = "2040.5", "4081"
    ds.PixelData = stored.tobytes()
    if index % 4 == 3:
        ds.compress(RLELossless, stored, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)


def main():
    out = Path(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    (out / "png").mkdir(parents=True, exist_ok=True)
    patients, identifiers, pictures = {}, {"strings": [], "pictures": {}}, []
    for index, (row, label) in enumerate(pick(count)):
        pid = row["patientid"]
        if pid not in patients:
            n = len(patients)
            patients[pid] = {"id": f"HOSP-{70000 + n}", "name": f"TESTPATIENT^ZELDA{n:03d}", "birth": f"19{40 + n % 50:02d}0{1 + n % 9}1{n % 10}",
                             "institution": "Lightbox Test Hospital"}
        patient = patients[pid]
        pixels = grey(DATA / "images" / row["filename"])
        stem = f"{index:03d}-{Path(row['filename']).stem}"
        Image.fromarray(pixels).save(out / "png" / f"{stem}.png")
        uid = f"{ROOT}1.{index}"
        series = out / "dicom" / f"S{index // 10:02d}"
        series.mkdir(parents=True, exist_ok=True)
        name = f"{index}.dcm" if index % 3 == 2 else str(index)
        dicom(pixels, index, patient, uid, series / name)
        pictures.append((f"png/{stem}.png", uid, label, pid))
        identifiers["pictures"][uid] = {"png": f"png/{stem}.png", "dicom": str((series / name).relative_to(out)),
                                        "patientID": patient["id"], "label": label}
    for p in patients.values():
        identifiers["strings"] += [p["id"], p["name"], p["name"].replace("^", " "), p["birth"]]
    identifiers["strings"] += ["Lightbox Test Hospital", "HOUSE^GREGORY"]
    with open(out / "png-list.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "group"])
        for png, _, label, pid in pictures:
            w.writerow([png, label, pid])
    with open(out / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sop_instance_uid", "label", "group"])
        for _, uid, label, pid in pictures:
            w.writerow([uid, label, pid])
    with open(out / "labels-by-uid.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sop_instance_uid", "label"])
        for _, uid, label, _ in pictures:
            w.writerow([uid, label])
    (out / "identifiers.json").write_text(json.dumps(identifiers, indent=1))
    # A check of the claim above, with pydicom's own LUT steps: the DICOM decodes to the PNG.
    from pydicom.pixels import apply_modality_lut, apply_voi_lut
    for path in sorted((out / "dicom").rglob("*")):
        if path.is_file():
            ds = pydicom.dcmread(path)
            # pydicom's window output spans 0 .. 2^BitsStored - 1; Lightbox's spans 0 .. 255.
            values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds) * 255 / (2 ** ds.BitsStored - 1)
            if ds.PhotometricInterpretation == "MONOCHROME1":
                values = 255 - values
            png = np.asarray(Image.open(out / identifiers["pictures"][ds.SOPInstanceUID]["png"]), dtype=np.float64)
            assert np.abs(values - png).max() < 1e-6, (path, np.abs(values - png).max())
    print(f"{len(pictures)} pictures of {len(patients)} patients in {out}")


if __name__ == "__main__":
    main()
