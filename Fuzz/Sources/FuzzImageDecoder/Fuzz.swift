import FuzzSupport
import LightboxImaging

/// PNG, JPEG and DICOM decoding (and the resize after it) on arbitrary bytes: errors are fine, crashes are not.
@_cdecl("FuzzImageDecoder_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        let decoder = ImageDecoder(maxPixels: 4_000_000, dicomWindow: .first)
        if let image = try? decoder.decode(data: bytes(data, size), path: "fuzz", reduceFor: DecodeTarget(size: 32, policy: .crop)) {
            _ = Preprocessor(size: 32, policy: .pad).tensor(image)
        }
        return 0
    }
}
