import Foundation
import FuzzSupport
import LightboxData

/// metadata.csv and CSV lists on arbitrary bytes (as files: the readers take paths).
@_cdecl("FuzzTables_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        let d = Data(bytes(data, size))
        let metadata = scratch.appendingPathComponent("metadata.csv")
        try? d.write(to: metadata)
        _ = try? CovidChestXraySource.load(scratch.path)
        let list = scratch.appendingPathComponent("list.csv")
        try? d.write(to: list)
        _ = try? CSVListSource.load(list.path)
        return 0
    }
}
