#!/usr/bin/env bash
# Refits the lung locator shipped with Lightbox and records its SHA-256, which
# LungLocator.shipped() checks at load. Reproducible: the same boxes, pictures, seed and
# pretrained weights give the same file (the fit runs in fp32; the Gram matrix is summed in
# double in a fixed order, gram.c).
#
#   scripts/fit_lung_locator.sh [LIGHTBOX_BINARY] [DATA_DIR]
#
# DATA_DIR is a copy of the covid-chestxray collection (default ../shared/data/covid-chestxray):
# its annotations/lung-bounding-boxes.json are the collection's lung boxes (General Blockchain,
# Inc., licence CC BY-SA 4.0; annotations/imageannotation_ai_lung_bounding_boxes.json in
# https://github.com/ieee8023/covid-chestxray-dataset), in COCO layout. The locator records the
# file's source and licence and the patient-grouped cross-validated IoU in its metadata.
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-.build/release/lightbox}"
data="${2:-../shared/data/covid-chestxray}"
resource="Sources/LightboxModels/Lungs/Resources/lung-locator.safetensors"
constant="Sources/LightboxModels/Lungs/ShippedLungLocator.swift"

"$binary" lungs fit --boxes "$data/annotations/lung-bounding-boxes.json" --images "$data/images" \
    --seed 42 --folds 5 --out "$resource"
digest="$(sha256sum "$resource" | cut -d' ' -f1)"
sed -i -E "s/shippedSHA256 = \"[0-9a-f]{64}\"/shippedSHA256 = \"$digest\"/" "$constant"
grep -q "$digest" "$constant"
echo "shipped locator: $resource, SHA-256 $digest (recorded in $constant); rebuild Lightbox to ship it"
