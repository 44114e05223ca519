#!/usr/bin/env bash
# The DICOM library comparison of docs/dicom-library-choice.md: builds the two decode programs
# (GDCM; DCMTK with OpenJPEG for JPEG 2000), decodes every fixture with each, compares with
# pydicom, and runs both on 240 damaged files (cut or with bytes changed in the header).
# Needs libgdcm-dev, libdcmtk-dev, libopenjp2-7-dev and the fixtures scripts/test.sh makes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures="${LIGHTBOX_HOME:-$HOME/.cache/lightbox}/test-data/dicom-fixtures"
python="${LIGHTBOX_HOME:-$HOME/.cache/lightbox}/test-data/dicom-venv/bin/python"
work=${1:-/tmp/dicom-bench}
mkdir -p "$work/out" "$work/fuzz" "$work/fuzzout"
cd "$work"
/usr/bin/time -f "build gdcm: %e s" g++ -O2 -std=c++17 -I/usr/include/gdcm-3.0 "$here/gdcm_decode.cpp" -o gdcm_decode \
    -lgdcmMSFF -lgdcmDSED -lgdcmCommon
/usr/bin/time -f "build dcmtk+openjpeg: %e s" g++ -O2 -std=c++17 -I/usr/include/openjpeg-2.5 "$here/dcmtk_decode.cpp" -o dcmtk_decode \
    -ldcmjpls -ldcmjpeg -ldcmimgle -ldcmdata -loflog -lofstd -lopenjp2
./gdcm_decode region out 9 "$fixtures"/*.dcm >gdcm-region.jsonl 2>/dev/null
./gdcm_decode image out 9 "$fixtures"/*.dcm >gdcm-image.jsonl 2>/dev/null
./dcmtk_decode out 9 "$fixtures"/*.dcm >dcmtk.jsonl
"$python" "$here/compare.py" "$fixtures" out gdcm-region.jsonl gdcm-image.jsonl dcmtk.jsonl

# Damaged files: 6 fixtures x (20 cuts + 20 header byte changes), seeded.
"$python" - "$fixtures" <<'PY'
import random, pathlib, sys
F = pathlib.Path(sys.argv[1]); out = pathlib.Path('fuzz'); rng = random.Random(14)
for name in ['mono2_12bit_window', 'jpeg_lossless_sv1', 'rle_lossless', 'jpegls_lossless', 'deflated_le', 'jpeg_baseline_ybr']:
    data = (F / f'{name}.dcm').read_bytes()
    for i in range(20):
        cut = rng.randrange(1, 1200) if i < 12 else rng.randrange(1200, len(data))
        (out / f'{name}_cut{i}.dcm').write_bytes(data[:cut])
    for i in range(20):
        b = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            p = rng.randrange(0, min(1200, len(b))); b[p] = rng.randrange(256)
        (out / f'{name}_flip{i}.dcm').write_bytes(bytes(b))
PY
for lib in "gdcm_decode image" "gdcm_decode region" "dcmtk_decode"; do
    crashed=0
    for f in fuzz/*.dcm; do
        rc=0; (ulimit -v 4000000; timeout 20 ./$lib fuzzout 1 "$f" >/dev/null 2>&1) || rc=$?
        [ "$rc" -lt 124 ] || crashed=$((crashed + 1))
    done
    echo "damaged files, $lib: $crashed of $(ls fuzz/*.dcm | wc -l) aborted or hung"
done
