#!/usr/bin/env bash
# Runs the whole test suite: sets up first (libraries, weights), fetches what only the
# tests need (photographs from Debian's darknet package, unpacked without installing
# its dependencies; ONNX Runtime from PyPI), then `swift test`. Ends with one summary line:
# "tests: N passed, F failed", followed by ", S skipped" when XCTest skipped some. Under CI
# (CI set, as CI services set CI=true) a skipped test fails the run, and a line names it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

photos="${LIGHTBOX_HOME:-$HOME/.cache/lightbox}/test-data/darknet"
if [ ! -f /usr/share/darknet/data/eagle.jpg ] && [ ! -f "$photos/usr/share/darknet/data/eagle.jpg" ]; then
    work=$(mktemp -d)
    (cd "$work" && apt-get download darknet >/dev/null 2>&1 || { apt-get update -qq && apt-get download darknet >/dev/null; })
    mkdir -p "$photos"
    dpkg-deb -x "$work"/darknet_*.deb "$photos"
    rm -rf "$work"
fi

# ONNX Runtime checks the ONNX export (a test runs it through Python); the Studio's browser
# test needs headless Chromium, its driver (Debian) and Selenium (PyPI).
# The bad-input corpus is generated with Pillow.
python3 -c "import onnxruntime, numpy, selenium, PIL, axe_selenium_python" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check onnxruntime numpy selenium pillow axe-selenium-python
if [ ! -x /usr/bin/chromedriver ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# Real clients for the export tests and examples/: TensorFlow's CPU wheel, tf_keras (Keras 2) and
# Keras 3, ONNX Runtime, and Jupyter's notebook runner, from PyPI, in a venv kept in the cache
# between runs (about 1.5 GB; a few minutes the first time).
keras_venv="${LIGHTBOX_HOME:-$HOME/.cache/lightbox}/test-data/keras-venv"
if ! "$keras_venv/bin/python" -c "import tensorflow, tf_keras, keras, onnxruntime, nbclient, ipykernel, PIL" 2>/dev/null; then
    rm -rf "$keras_venv"
    python3 -m venv "$keras_venv"
    "$keras_venv/bin/pip" install -q --disable-pip-version-check tensorflow-cpu tf_keras pillow onnxruntime nbclient nbformat ipykernel
fi
export LIGHTBOX_KERAS_PYTHON="$keras_venv/bin/python"

# torch for the fine-tuning gradient tests (scripts/reference/finetune_reference.py): the CPU
# wheel (pip finds it in the machine's wheel folder, else on PyPI), numpy and Pillow, in a venv
# kept in the cache.
torch_venv="${LIGHTBOX_HOME:-$HOME/.cache/lightbox}/test-data/torch-venv"
if ! "$torch_venv/bin/python" -c "import torch, numpy, PIL, cv2" 2>/dev/null; then
    rm -rf "$torch_venv"
    python3 -m venv "$torch_venv"
    "$torch_venv/bin/pip" install -q --disable-pip-version-check torch==2.13.0 numpy pillow opencv-python-headless
fi
export LIGHTBOX_TORCH_PYTHON="$torch_venv/bin/python"

# DICOM fixtures and pydicom's reference pixels (scripts/reference/make_dicom_fixtures.py): pydicom
# and its codecs (PyPI) in a venv, dcmtk's JPEG encoder (Debian); remade when the script changes.
dicom_venv="${LIGHTBOX_HOME:-$HOME/.cache/lightbox}/test-data/dicom-venv"
if ! "$dicom_venv/bin/python" -c "import pydicom, pylibjpeg, libjpeg, openjpeg, jpeg_ls, numpy, PIL" 2>/dev/null; then
    rm -rf "$dicom_venv"
    python3 -m venv "$dicom_venv"
    "$dicom_venv/bin/pip" install -q --disable-pip-version-check pydicom pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pyjpegls numpy pillow
fi
if ! command -v dcmcjpeg >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dcmtk >/dev/null
fi
dicom_fixtures="${LIGHTBOX_HOME:-$HOME/.cache/lightbox}/test-data/dicom-fixtures"
dicom_stamp=$(sha256sum scripts/reference/make_dicom_fixtures.py | cut -d' ' -f1)
if [ "$(cat "$dicom_fixtures/.made-by" 2>/dev/null)" != "$dicom_stamp" ]; then
    "$dicom_venv/bin/python" scripts/reference/make_dicom_fixtures.py "$dicom_fixtures"
    echo "$dicom_stamp" >"$dicom_fixtures/.made-by"
fi
# A hospital-style DICOM data set beside the same pictures as PNG (make_dicom_dataset.py), for the
# tests that DICOM trains, evaluates and predicts as PNG does and leaks no identifier.
dicom_dataset="${LIGHTBOX_HOME:-$HOME/.cache/lightbox}/test-data/dicom-dataset"
dataset_stamp=$(sha256sum scripts/reference/make_dicom_dataset.py | cut -d' ' -f1)
if [ "$(cat "$dicom_dataset/.made-by" 2>/dev/null)" != "$dataset_stamp" ]; then
    rm -rf "$dicom_dataset"
    "$dicom_venv/bin/python" scripts/reference/make_dicom_dataset.py "$dicom_dataset"
    echo "$dataset_stamp" >"$dicom_dataset/.made-by"
fi
# A private one-node Slurm cluster (Debian's slurm-wlm and munge, installed when missing) for the
# --executor slurm tests; stopped at the end. About 1 s to start, 5 s to stop.
slurm_state=$(mktemp -d)
if scripts/slurm/one-node-cluster.sh start "$slurm_state" >/dev/null; then
    export LIGHTBOX_TEST_SLURM_CONF="$slurm_state/slurm.conf"
else
    echo "warning: the one-node Slurm cluster did not start (logs in $slurm_state); the Slurm tests will try their own" >&2
fi

log=$(mktemp)
trap 'rm -f "$log"; scripts/slurm/one-node-cluster.sh stop "$slurm_state" >/dev/null 2>&1 || true; rm -rf "$slurm_state"' EXIT
status=0
# The suite is XCTest; Swift Testing would only add a "0 tests" line after it.
swift test --disable-swift-testing 2>&1 | tee "$log" || status=$?

# XCTest's closing line in the log $1, the one under its outermost suite ("Test Suite 'All tests'
# passed|failed at ..."; a suite's own line, the last one left when the test process crashed,
# would count that suite alone): "Executed N tests, with M failures" or, when some were skipped,
# "Executed N tests, with K tests skipped and M failures" (N counts the skipped ones).
# Prints "N K M", or nothing when the log has no such line.
xctest_summary() {
    local top line
    top=$(grep -m 1 -E "^Test Suite '.+' started at" "$1" | sed -E "s/^Test Suite '(.+)' started at.*/\1/" || true)
    [ -n "$top" ] || return 0
    line=$(grep -F -A 1 -e "Test Suite '$top' passed at" -e "Test Suite '$top' failed at" "$1" \
        | grep -E "^[[:space:]]*Executed [0-9]+ tests?, with ([0-9]+ tests? skipped and )?[0-9]+ failures?" | tail -n 1 || true)
    [ -n "$line" ] || return 0
    local executed skipped=0 failures
    executed=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$line")
    if grep -q -E "with [0-9]+ tests? skipped and " <<<"$line"; then
        skipped=$(sed -E 's/.*with ([0-9]+) tests? skipped and .*/\1/' <<<"$line")
    fi
    failures=$(sed -E 's/.* ([0-9]+) failures?.*/\1/' <<<"$line")
    echo "$executed $skipped $failures"
}
# The tests that ended with $2 (passed, failed or skipped) in the XCTest log $1, one a line, from
# XCTest's lines "Test Case 'Class.testName' passed|failed|skipped (T seconds)".
xctest_cases() {
    { grep -E "^Test Case '.+' $2 \(" "$1" || true; } | sed -E "s/^Test Case '(.+)' $2 \(.*/\1/"
}
# Sets total, failed and skipped from the XCTest log $1: total and failed count the tests that
# ran, skipped ones apart. Failed tests are counted from XCTest's "Test Case '...' failed" lines,
# as XCTest's M counts failed assertions (two in one test count two). A log without XCTest's
# closing line (the test process crashed, or the build failed) counts the tests that ended and one
# failed test more, and fails the run. Under CI (CI set, as CI services set CI=true) a skipped
# test fails the run. Either failure sets status to 1 if it was 0 and adds to report lines saying why.
count_xctest() {
    total=0; failed=0; skipped=0; report=""
    local summary executed failures names count reasons stopped
    summary=$(xctest_summary "$1")
    failed=$(xctest_cases "$1" failed | grep -c . || true)
    if [ -n "$summary" ]; then
        read -r executed skipped failures <<<"$summary"
        total=$((executed - skipped))
        [ "$failures" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
    else
        skipped=$(xctest_cases "$1" skipped | grep -c . || true)
        total=$(($(xctest_cases "$1" passed | grep -c . || true) + failed + 1))
        failed=$((failed + 1))
        stopped=$({ grep -E "^Test Case '.+' started" "$1" || true; } | tail -n 1 | sed -E "s/^Test Case '(.+)' started.*/\1/")
        report="error: no closing line from XCTest (the build failed or the test process crashed${stopped:+; last test started: $stopped}), counted as one failed test"
        [ "$status" -ne 0 ] || status=1
    fi
    names=$(xctest_cases "$1" skipped)
    if [ -n "${CI:-}" ] && { [ "$skipped" -gt 0 ] || [ -n "$names" ]; }; then
        count=$(grep -c . <<<"$names" || true)
        [ "$count" -gt 0 ] || count=$skipped
        [ -z "$report" ] || report+=$'\n'
        report+="error: under CI no test may be skipped, and XCTest skipped $count: $(paste -sd, <<<"$names" | sed 's/,/, /g')"
        # XCTest's reasons ("FILE:LINE: Class.testName : Test skipped - why"), one a line below.
        reasons=$(grep -E ": Test skipped" "$1" | sed 's/^/  /' || true)
        [ -z "$reasons" ] || report+=$'\n'"$reasons"
        [ "$status" -ne 0 ] || status=1
    fi
}
count_xctest "$log"

# Adds a driver's closing line "LABEL: N passed, M failed" (found in $log) to the totals; a
# driver that printed no such line counts as one failed test. $1 label, $2 the driver's exit.
add_summary() {
    local label=$1 driver_status=$2 line
    line=$(grep -E "^$label: [0-9]+ passed, [0-9]+ failed" "$log" | tail -n 1 || true)
    if [ -n "$line" ]; then
        total=$((total + $(sed -E "s/$label: ([0-9]+) passed.*/\\1/" <<<"$line") + $(sed -E 's/.* ([0-9]+) failed/\1/' <<<"$line")))
        failed=$((failed + $(sed -E 's/.* ([0-9]+) failed/\1/' <<<"$line")))
    else
        total=$((total + 1)); failed=$((failed + 1))
        [ "$driver_status" -ne 0 ] || driver_status=1
    fi
    [ "$status" -ne 0 ] || status=$driver_status
}

# Lightbox Studio in a real browser, against the binary `swift test` built.
e2e_status=0
python3 Tests/e2e/studio_e2e.py .build/debug/lightbox 2>&1 | tee "$log" || e2e_status=$?
add_summary e2e "$e2e_status"

# The module layout: declared imports, no library reading the environment, LightboxData free
# of models and native kernels, HTML and model files in separate modules.
layout_status=0
python3 scripts/check_layout.py | tee "$log" || layout_status=$?
add_summary layout "$layout_status"

# examples/ (Keras script, ONNX Runtime script, notebook) on a model trained and exported here.
examples_status=0
"$LIGHTBOX_KERAS_PYTHON" Tests/examples/examples_check.py .build/debug/lightbox 2>&1 | grep -v -E "^(I0000|W0000|E0000|WARNING: All log|\[IPKernelApp\])" | tee "$log" || examples_status=$?
add_summary examples "$examples_status"

# A short run of each libFuzzer target (image decoding, safetensors/npy, CSV tables, TF.js).
fuzz_status=0
scripts/fuzz.sh 30 2>&1 | tee "$log" || fuzz_status=$?
add_summary fuzz "$fuzz_status"

# The closing line, after count_xctest's report: "tests: N passed, F failed[, S skipped]".
print_totals() {
    [ -z "$report" ] || echo "$report"
    local line="tests: $((total - failed)) passed, $failed failed"
    [ "$skipped" -eq 0 ] || line="$line, $skipped skipped"
    echo "$line"
}
print_totals
exit "$status"
