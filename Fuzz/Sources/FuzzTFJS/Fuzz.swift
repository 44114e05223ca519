import Foundation
import FuzzSupport
import LightboxModels

/// A TF.js export's model.json on arbitrary bytes (with a small weights.bin beside it), read
/// and built into a layer graph.
@_cdecl("FuzzTFJS_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        try? Data(bytes(data, size)).write(to: scratch.appendingPathComponent("model.json"))
        if !FileManager.default.fileExists(atPath: scratch.appendingPathComponent("weights.bin").path) {
            try? Data(repeating: 0, count: 4096).write(to: scratch.appendingPathComponent("weights.bin"))
        }
        if let model = try? TFJSLayersModel.load(scratch.path) { _ = try? model.backboneGraph() }
        return 0
    }
}
