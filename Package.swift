// swift-tools-version:6.0
import PackageDescription

// Release builds of the numeric modules are compiled for the machines this
// project runs on (x86-64 with AVX2/FMA); see docs in README "Building".
let numericFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "Lightbox",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "lightbox", targets: ["lightbox"]),
        .library(name: "LightboxImaging", targets: ["LightboxImaging"]),
        .library(name: "LightboxKernels", targets: ["LightboxKernels"]),
        .library(name: "LightboxModels", targets: ["LightboxModels"]),
        .library(name: "LightboxData", targets: ["LightboxData"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // System C libraries from Debian (installed by scripts/setup.sh).
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng"),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg"),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "libcrypto"),
        .systemLibrary(name: "CGlibcExtras", path: "Sources/CGlibcExtras"),  // mallopt, renameat2
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5"),  // Keras .h5 export

        // Small C kernels the Swift optimiser does not vectorise well (measured).
        .target(name: "CLightboxKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno", "-ffp-contract=off"])]),
        // Small shared pieces: settings, seeded random streams, SHA-256, atomic file and folder writes, softmax and argmax.
        .target(name: "LightboxCore", dependencies: ["COpenSSL", "CGlibcExtras"]),
        // Decoding, resizing, normalising and augmenting images.
        // Image loops too hot for Swift's baseline x86-64 code (fine-tuning's augmentation).
        .target(name: "CLightboxImaging", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno", "-ffp-contract=off"])]),
        // DICOM: DCMTK parses and decodes, OpenJPEG decodes JPEG 2000 (docs/dicom-library-choice.md);
        // C++ behind a C header, every exception caught inside.
        .target(name: "CLightboxDICOM",
                linkerSettings: [.linkedLibrary("dcmjpls"), .linkedLibrary("dcmjpeg"), .linkedLibrary("dcmimgle"),
                                 .linkedLibrary("dcmdata"), .linkedLibrary("oflog"), .linkedLibrary("ofstd"),
                                 .linkedLibrary("openjp2"), .linkedLibrary("z"), .linkedLibrary("stdc++"),
                                 .linkedLibrary("crypto")]),  // HMAC-SHA256 of replaced UIDs
        .target(name: "LightboxImaging", dependencies: ["LightboxCore", "CPNG", "CTurboJPEG", "CLightboxImaging", "CLightboxDICOM"],
                swiftSettings: numericFlags),
        // The few native kernels (oneDNN convolutions, BLAS products) behind narrow Swift types.
        .target(name: "LightboxKernels", dependencies: ["LightboxCore", "CDNNL", "CGlibcExtras", "CLightboxKernels"], swiftSettings: numericFlags),
        // Network definitions, weight formats, pretrained weights, the embedder.
        .target(
            name: "LightboxModels",
            dependencies: ["LightboxCore", "LightboxImaging", "LightboxKernels",
                           .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            // The lung locator shipped with Lightbox (scripts/fit_lung_locator.sh), checked by SHA-256 at load.
            resources: [.copy("Lungs/Resources/lung-locator.safetensors")],
            swiftSettings: numericFlags),
        // Data sets (class folders, covid-chestxray, CSV lists), patient-level splits,
        // balancing with augmentation, content digests. No network, no native kernels.
        .target(
            name: "LightboxData",
            dependencies: ["LightboxCore", "LightboxImaging",
                           .product(name: "CSV", package: "CSV.swift"),
                           .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            swiftSettings: numericFlags),
        // Training samples through the frozen backbone, and the embedding cache on disk.
        .target(name: "LightboxEmbedding", dependencies: ["LightboxCore", "LightboxImaging", "LightboxModels", "LightboxData"],
                swiftSettings: numericFlags),
        // ONNX's protobuf messages, generated once from onnx.proto (scripts/generate_onnx_proto.sh).
        .target(name: "LightboxONNX", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // The classifier head: dense layers, Adam, its training loop, metrics, Grad-CAM.
        .target(name: "LightboxHead", dependencies: ["LightboxCore", "LightboxImaging", "LightboxKernels"],
                swiftSettings: numericFlags),
        // Model files: the model bundle, and exports to TF.js, Keras .h5 and ONNX; Teachable Machine's layout.
        .target(
            name: "LightboxInterop",
            dependencies: ["LightboxCore", "LightboxImaging", "LightboxKernels", "LightboxModels", "LightboxHead", "LightboxONNX", "CHDF5",
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // report.html: a Mustache template (escaping by default) and inline SVG charts.
        .target(name: "LightboxReport", dependencies: ["LightboxData", "LightboxHead", .product(name: "Mustache", package: "swift-mustache")],
                resources: [.embedInCode("Resources/report.mustache")]),
        // The named stages of train, evaluate and predict, shared by the CLI and the Studio; options are checked here.
        .target(
            name: "LightboxWorkflows",
            dependencies: ["LightboxCore", "LightboxData", "LightboxImaging", "LightboxModels", "LightboxEmbedding",
                           "LightboxHead", "LightboxInterop", "LightboxReport", "LightboxKernels"],
            swiftSettings: numericFlags),
        // Lightbox Studio: the REST API, the page and the storage behind them.
        .target(
            name: "LightboxStudio",
            dependencies: ["LightboxCore", "LightboxWorkflows", "LightboxInterop", "LightboxHead", "LightboxData", "LightboxModels", "LightboxImaging",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            // The page's files, compiled into the binary.
            resources: [.embedInCode("Page/Resources/studio.html"), .embedInCode("Page/Resources/studio.js"),
                        .embedInCode("Page/Resources/studio.css")]),
        // The command-line tool: one file per subcommand, parsing only.
        .executableTarget(
            name: "lightbox",
            dependencies: ["LightboxCore", "LightboxModels", "LightboxImaging", "LightboxKernels", "LightboxData", "LightboxEmbedding", "LightboxWorkflows", "LightboxInterop", "LightboxHead", "LightboxStudio",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // Benchmark driver run by bench/embedding_benchmark.py against torch and ONNX Runtime.
        .executableTarget(name: "lightbox-bench", dependencies: ["LightboxCore", "LightboxModels", "LightboxKernels", "LightboxHead", "LightboxWorkflows"],
                          path: "bench/LightboxBench"),

        // What the test targets share: a per-test temporary folder, the paths of ../shared.
        .target(name: "LightboxTestSupport", dependencies: ["LightboxCore"], path: "Tests/LightboxTestSupport"),
        .testTarget(name: "LightboxImagingTests", dependencies: ["LightboxImaging", "LightboxCore", "LightboxTestSupport"]),
        .testTarget(name: "LightboxKernelsTests", dependencies: ["LightboxKernels", "LightboxCore"]),
        .testTarget(name: "LightboxHeadTests", dependencies: ["LightboxHead", "LightboxCore", "LightboxTestSupport"]),
        .testTarget(name: "LightboxModelsTests", dependencies: ["LightboxModels", "LightboxImaging", "LightboxKernels", "LightboxCore", "LightboxTestSupport"]),
        .testTarget(name: "LightboxDataTests", dependencies: ["LightboxTestSupport", "LightboxData", "LightboxEmbedding", "LightboxCore", "LightboxImaging", "LightboxModels",
                                                             .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        .testTarget(name: "LightboxStudioTests", dependencies: ["LightboxStudio", "LightboxImaging", "LightboxModels", "LightboxWorkflows", "LightboxCore", "LightboxData", "LightboxHead", "LightboxReport", "LightboxTestSupport",
                                                               .product(name: "Hummingbird", package: "hummingbird"),
                                                               .product(name: "HTTPTypes", package: "swift-http-types"),
                                                               .product(name: "HummingbirdTesting", package: "hummingbird")]),
        .testTarget(name: "LightboxWorkflowsTests", dependencies: ["LightboxTestSupport", "LightboxWorkflows", "LightboxInterop", "LightboxHead", "LightboxReport", "LightboxCore", "LightboxData", "LightboxImaging", "LightboxKernels",
                                                                 "LightboxModels", "LightboxONNX",
                                                                 .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                                                                 .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        // Drives the built `lightbox` executable as a user would.
        .testTarget(name: "LightboxCLITests", dependencies: ["LightboxTestSupport", "lightbox", "LightboxCore", "LightboxModels", "LightboxData", "LightboxImaging", "LightboxWorkflows", "LightboxInterop", "LightboxHead", "LightboxKernels",
                                                            .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
    ],
    swiftLanguageModes: [.v5]
)
