#!/usr/bin/env python3
"""The module layout docs/ARCHITECTURE.md describes, checked on the sources and Package.swift:

1. imports: every `import` of a package module or product in a target's sources is one of
   that target's declared dependencies (nothing works only because another dependency
   happens to bring it in);
2. environment: no library target reads the environment (executables read it once and pass
   LightboxSettings down);
3. data: LightboxData depends, directly or not, on no network code, native kernel or model
   (LightboxModels, LightboxKernels, oneDNN, OpenSSL's users aside from Core);
4. report: no module both renders HTML and writes model formats (LightboxReport reaches no
   model writer; LightboxInterop reaches no template library).

Prints each problem and "layout: N passed, M failed". Run from the repository:
python3 scripts/check_layout.py"""
import json, os, re, subprocess, sys

pkg = json.loads(subprocess.run(["swift", "package", "dump-package"], capture_output=True, text=True, check=True).stdout)
system = {"Foundation", "FoundationEssentials", "Glibc", "Dispatch", "XCTest", "FoundationNetworking", "Darwin", "Swift", "_Concurrency",
          "Synchronization"}
targets = {t["name"]: t for t in pkg["targets"]}


def dependencies(t):
    deps = set()
    for d in t["dependencies"]:
        for key in ("byName", "target", "product"):
            if key in d:
                deps.add(d[key][0])
    return deps


def reach(name, seen=None):
    """Every target and product `name` depends on, directly or not."""
    seen = set() if seen is None else seen
    for d in dependencies(targets[name]) if name in targets else ():
        if d not in seen:
            seen.add(d)
            reach(d, seen)
    return seen


def sources(t):
    path = t.get("path") or (("Tests/" if t["type"] == "test" else "Sources/") + t["name"])
    for root, _, files in os.walk(path):
        for f in sorted(files):
            if f.endswith(".swift"):
                yield os.path.join(root, f)


failures = {}


def fail(rule, message):
    print(f"{rule}: {message}")
    failures[rule] = failures.get(rule, 0) + 1


for t in pkg["targets"]:
    if t["type"] == "system":
        continue
    deps = dependencies(t)
    for path in sources(t):
        for line in open(path):
            m = re.match(r"\s*(?:@testable\s+|@_exported\s+|public\s+|internal\s+)?import\s+(\w+)", line)
            if m and m.group(1) not in system and m.group(1) not in deps and m.group(1) != t["name"]:
                fail("imports", f"{t['name']}: {path} imports {m.group(1)} (not declared)")
            if t["type"] == "regular" and not t["name"].endswith("TestSupport") and \
                    re.search(r"processInfo\.environment|\bgetenv\(|\bsetenv\(|\bunsetenv\(|\benviron\b", line):
                fail("environment", f"{t['name']}: {path} reads the environment: {line.strip()}")

forbidden_for_data = {"LightboxModels", "LightboxKernels", "LightboxEmbedding", "CDNNL", "CLightboxKernels"}
for d in sorted(reach("LightboxData") & forbidden_for_data):
    fail("data", f"LightboxData depends on {d}")
for d in sorted(reach("LightboxReport") & {"LightboxInterop", "LightboxONNX", "CHDF5", "SwiftProtobuf"}):
    fail("report", f"LightboxReport (HTML) depends on the model writer {d}")
for d in sorted(reach("LightboxInterop") & {"LightboxReport", "Mustache"}):
    fail("report", f"LightboxInterop (model files) depends on the HTML renderer {d}")

rules = ["imports", "environment", "data", "report"]
failed = sum(1 for r in rules if r in failures)
print(f"layout: {len(rules) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
