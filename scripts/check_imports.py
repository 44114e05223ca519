#!/usr/bin/env python3
"""Every `import` of a package module or product in a target's sources is one of that target's
declared dependencies in Package.swift (nothing works only because another dependency happens
to bring it in). Prints "imports: 1 passed, 0 failed" or each undeclared import and a failure.
Run from the repository: python3 scripts/check_imports.py"""
import json, os, re, subprocess, sys
pkg = json.loads(subprocess.run(["swift", "package", "dump-package"], capture_output=True, text=True).stdout)
system = {"Foundation", "FoundationEssentials", "Glibc", "Dispatch", "XCTest", "FoundationNetworking", "Darwin", "Swift", "_Concurrency"}
problems = 0
for t in pkg["targets"]:
    if t["type"] in ("system",): continue
    deps = set()
    for d in t["dependencies"]:
        if "byName" in d: deps.add(d["byName"][0])
        elif "target" in d: deps.add(d["target"][0])
        elif "product" in d: deps.add(d["product"][0])
    path = t.get("path") or (("Tests/" if t["type"] == "test" else "Sources/") + t["name"])
    for root, _, files in os.walk(path):
        for f in files:
            if not f.endswith(".swift"): continue
            for line in open(os.path.join(root, f)):
                m = re.match(r"\s*(?:@testable\s+|@_exported\s+|public\s+|internal\s+)?import\s+(\w+)", line)
                if m and m.group(1) not in system and m.group(1) not in deps and m.group(1) != t["name"]:
                    print(f"{t['name']}: {os.path.join(root, f)} imports {m.group(1)} (not declared)"); problems += 1
print(f"imports: {0 if problems else 1} passed, {1 if problems else 0} failed")
sys.exit(1 if problems else 0)
