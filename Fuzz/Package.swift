// swift-tools-version:6.0
// libFuzzer targets for Lightbox's input readers, built apart from the main package (they
// need -sanitize=fuzzer,address and lld): scripts/fuzz.sh builds and runs them.
import PackageDescription

let fuzzFlags: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "LightboxFuzz",
    dependencies: [.package(name: "Lightbox", path: "..")],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(name: "FuzzImageDecoder", dependencies: ["FuzzSupport", .product(name: "LightboxImaging", package: "Lightbox")],
                          swiftSettings: fuzzFlags),
        .executableTarget(name: "FuzzDICOM", dependencies: ["FuzzSupport", .product(name: "LightboxImaging", package: "Lightbox")],
                          swiftSettings: fuzzFlags),
        .executableTarget(name: "FuzzSafeTensors", dependencies: ["FuzzSupport", .product(name: "LightboxModels", package: "Lightbox")],
                          swiftSettings: fuzzFlags),
        .executableTarget(name: "FuzzTables", dependencies: ["FuzzSupport", .product(name: "LightboxData", package: "Lightbox")],
                          swiftSettings: fuzzFlags),
        .executableTarget(name: "FuzzTFJS", dependencies: ["FuzzSupport", .product(name: "LightboxModels", package: "Lightbox")],
                          swiftSettings: fuzzFlags),
    ],
    swiftLanguageModes: [.v5]
)
