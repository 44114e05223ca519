#!/usr/bin/env bash
# Builds Lightbox's libFuzzer targets (Fuzz/, with -sanitize=fuzzer,address and lld) and runs
# each for SECONDS (default 30). Seeds come from the test fixtures; the corpora grow under
# .build-fuzz/corpus. A crash stops with its input saved as crash-* beside the corpus.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(FuzzImageDecoder FuzzDICOM FuzzSafeTensors FuzzTables FuzzTFJS)
(cd Fuzz && swift build -c release --scratch-path ../.build-fuzz/build -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld 2>&1 \
    | grep -E "error|Build complete" || true)
root=.build-fuzz
passed=0; failed=0
for t in "${targets[@]}"; do
    corpus=$root/corpus/$t; mkdir -p "$corpus"
    case $t in
        FuzzImageDecoder) cp -n Tests/LightboxImagingTests/Fixtures/*.{png,jpg} "$corpus"/ 2>/dev/null || true
                          # Small DICOM files in each transfer syntax (scripts/test.sh makes them).
                          cp -n "${LIGHTBOX_HOME:-$HOME/.cache/lightbox}"/test-data/dicom-fixtures/seeds/*.dcm "$corpus"/ 2>/dev/null || true
                          python3 scripts/fixtures/make_bad_inputs.py --dicom-fuzz-seeds "$corpus" ;;
        FuzzDICOM) cp -n "${LIGHTBOX_HOME:-$HOME/.cache/lightbox}"/test-data/dicom-fixtures/seeds/*.dcm "$corpus"/ 2>/dev/null || true
                   python3 scripts/fixtures/make_bad_inputs.py --dicom-fuzz-seeds "$corpus" ;;
        FuzzSafeTensors) cp -n Tests/LightboxModelsTests/Fixtures/*.json "$corpus"/ 2>/dev/null || true ;;
        FuzzTables) printf 'patientid,finding,view,modality,folder,filename\n1,COVID-19,PA,X-ray,images,a.png\n' > "$corpus/seed.csv" ;;
        FuzzTFJS) head -c 20000 ../shared/models/teachable-machine-image/model.json > "$corpus/seed.json" 2>/dev/null || true
                  # Hostile topologies (zero strides, huge shapes, cycles, missing inputs, mismatched
                  # weights) and the small valid model they come from: model.json, a NUL, weights.bin.
                  if python3 scripts/fixtures/make_bad_inputs.py "$root/bad-inputs" models > /dev/null; then
                      for m in "$root"/bad-inputs/models/*/; do
                          { cat "$m/model.json"; printf '\0'; cat "$m/weights.bin"; } > "$corpus/seed-$(basename "$m")"
                      done
                  fi ;;
    esac
    log=$root/$t.log
    # Leaks reported inside Foundation's file reading are not Lightbox's: leak checking is off.
    # One input slower than 30 s (libFuzzer's default is 20 minutes) fails the run, saved as timeout-*.
    if (cd "$root" && ASAN_OPTIONS=detect_leaks=0 ./build/release/$t -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -artifact_prefix="$t-" "corpus/$t" > "$t.log" 2>&1); then
        echo "$t: $(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
        passed=$((passed + 1))
    else
        echo "$t: FAILED (see $log)"; tail -20 "$log"
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
