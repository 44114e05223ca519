import Foundation
import FuzzSupport
import LightboxModels

/// A TF.js export on arbitrary bytes, read and built into a runnable network: the input up to
/// its first NUL byte is model.json, the rest (when there is a NUL) weights.bin, so the fuzzer
/// varies the topology and the weights together (scripts/fuzz.sh seeds it with the hostile
/// topologies of scripts/fixtures/make_bad_inputs.py, each its model.json, a NUL, its weights).
/// Without a NUL, weights.bin is 4096 zero bytes.
@_cdecl("FuzzTFJS_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        let input = bytes(data, size)
        let split = input.firstIndex(of: 0)
        try? Data(input[..<(split ?? input.endIndex)]).write(to: scratch.appendingPathComponent("model.json"))
        let weights = split.map { Data(input[($0 + 1)...]) } ?? Data(repeating: 0, count: 4096)
        try? weights.write(to: scratch.appendingPathComponent("weights.bin"))
        // Building the network allocates each layer's buffers: where a huge shape would abort.
        if let model = try? TFJSLayersModel.load(scratch.path) { _ = try? model.backboneNetwork(parallelism: 1) }
        return 0
    }
}
