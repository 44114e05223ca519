import FuzzSupport
import LightboxImaging

/// The DICOM reader on arbitrary data sets: the header alone (what data sources read for
/// patient ids and UIDs), then the whole decode with both windows. Input without the preamble
/// gets one, so mutations spend their time inside the data set. Errors are fine, crashes are not.
@_cdecl("FuzzDICOM_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        var input = bytes(data, size)
        if !(input.count >= 132 && input[128..<132].elementsEqual("DICM".utf8)) {
            input = [UInt8](repeating: 0, count: 128) + Array("DICM".utf8) + input
        }
        _ = try? DICOMIdentifiers.identifiers(input, path: "fuzz")
        _ = try? ImageDecoder(maxPixels: 4_000_000, dicomWindow: .first).decode(data: input, path: "fuzz")
        _ = try? ImageDecoder(maxPixels: 4_000_000, dicomWindow: .minmax).decode(data: input, path: "fuzz")
        return 0
    }
}
