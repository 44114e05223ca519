import Foundation
import FuzzSupport
import LightboxModels

/// The safetensors reader (bundles, cached weights) and the .npy reader on arbitrary bytes.
@_cdecl("FuzzSafeTensors_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        let d = Data(bytes(data, size))
        _ = try? SafeTensors.decode(d, source: "fuzz")
        _ = try? NPYFile.decode(d, source: "fuzz")
        return 0
    }
}
