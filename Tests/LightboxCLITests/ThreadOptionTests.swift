import Foundation
import LightboxTestSupport
import XCTest

/// Every option that takes a thread count accepts 1 to four times this machine's cores and
/// refuses anything else as a usage error (exit 64) naming the option and the range, before any
/// work (issue 25, item 10: `--threads 100000` used to end in SIGSEGV).
final class ThreadOptionTests: TemporaryFolderTestCase {
    func testThreadCountsOutsideTheRangeAreUsageErrors() throws {
        let limit = ProcessInfo.processInfo.activeProcessorCount * 4
        let xray = CLI.images.appendingPathComponent("000001-2.jpg").path
        for threads in [0, -3, limit + 1, 100_000] {
            for arguments in [["embed", "--out", work.appendingPathComponent("e.npy").path, xray],
                              ["train", "--fold-job", work.appendingPathComponent("fold-job.json").path, "--shard", "0/2"]] {
                let run = try CLI.run(arguments + ["--threads=\(threads)"])
                XCTAssertEqual(run.status, 64, "\(arguments) --threads \(threads): \(run.stderr)")
                XCTAssertTrue(run.stderr.contains("--threads must be from 1 to \(limit) (4 times this machine's cores)"),
                              "\(arguments) --threads \(threads): \(run.stderr)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("e.npy").path))
        // The limit itself is a valid count.
        let atLimit = try CLI.run(["embed", "--out", work.appendingPathComponent("e.npy").path, "--threads", "\(limit)", xray])
        XCTAssertEqual(atLimit.status, 0, atLimit.stderr)
    }
}
