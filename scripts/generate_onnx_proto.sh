#!/usr/bin/env bash
# Regenerates Sources/LightboxONNX/onnx.pb.swift from ONNX's onnx.proto (committed, so builds
# never run the protoc plugin). Needs protoc (Debian protobuf-compiler), the onnx wheel (for
# onnx.proto) and protoc-gen-swift built from apple/swift-protobuf at the version Package.swift names.
set -euo pipefail
cd "$(dirname "$0")/.."
proto_dir=$(python3 -c "import onnx, os; print(os.path.dirname(onnx.__file__))")
work=$(mktemp -d)
git clone -q https://github.com/apple/swift-protobuf "$work/swift-protobuf"
git -C "$work/swift-protobuf" checkout -q 1.39.0
(cd "$work/swift-protobuf" && swift build -c release --product protoc-gen-swift)
protoc --plugin=protoc-gen-swift="$work/swift-protobuf/.build/release/protoc-gen-swift" \
    --swift_opt=Visibility=Public --swift_out=Sources/LightboxONNX --proto_path="$proto_dir" onnx.proto
rm -rf "$work"
