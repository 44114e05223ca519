import Foundation
import LightboxKernels
import LightboxTestSupport
import XCTest

/// `--precision bf16|fp32` end to end: what each command computes in, what metrics.json records,
/// and the note when this CPU has no AVX-512 BF16.
final class PrecisionCommandTests: TemporaryFolderTestCase {
    func metrics(_ path: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as! [String: Any]
    }

    func testFineTuneInBF16RecordsItAndPredictsLikeFP32() throws {
        let data = try WorkflowCommandTests.makeDataset(in: work)
        let run = work.appendingPathComponent("run")
        let train = try CLI.run(["train", "--method", "finetune", "--precision", "bf16", "--ensemble", "1", "--epochs", "1",
                                 "--batch-size", "8", "--data", data.path, "--out", run.path, "--folds", "1", "--split", "60/20/20"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let native = BF16Support.detected.available
        let m = try metrics(run.appendingPathComponent("metrics.json"))
        XCTAssertEqual(m["precision"] as? String, "bf16")
        XCTAssertEqual(m["precision_kernels"] as? String, native ? "native" : "emulated")
        XCTAssertEqual(train.stderr.contains("bf16 asked for, but this CPU has no AVX-512 BF16"), !native, train.stderr)
        let report = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(report.contains(native ? "AVX-512 BF16 kernels" : "emulated with fp32 kernels (this CPU has no AVX-512 BF16)"),
                      "the report's parameters name the precision")

        // The same model predicted in both precisions: the same answers to within bf16's rounding.
        let model = run.appendingPathComponent("model").path
        let folder = data.appendingPathComponent("COVID-19")
        let images = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().map { folder.appendingPathComponent($0).path }
        var probabilities: [String: [Double]] = [:]
        for precision in ["fp32", "bf16"] {
            let predict = try CLI.run(["predict", "--model", model, "--json", "--precision", precision] + images)
            XCTAssertEqual(predict.status, 0, predict.stderr)
            let answer = try JSONSerialization.jsonObject(with: Data(predict.stdout.utf8)) as! [String: Any]
            probabilities[precision] = try XCTUnwrap(answer["predictions"] as? [[String: Any]]).map {
                try XCTUnwrap(($0["probabilities"] as? [String: Double])?["COVID-19"])
            }
        }
        XCTAssertEqual(probabilities["fp32"]?.count, 12)
        for (a, b) in zip(probabilities["fp32"]!, probabilities["bf16"]!) { XCTAssertEqual(a, b, accuracy: 0.03) }
        XCTAssertNotEqual(probabilities["fp32"]!, probabilities["bf16"]!, "bf16 rounding changed no probability")

        for precision in ["fp32", "bf16"] {
            let out = work.appendingPathComponent("evaluate-\(precision).json")
            let evaluate = try CLI.run(["evaluate", "--model", model, "--data", data.path, "--out", out.path, "--precision", precision])
            XCTAssertEqual(evaluate.status, 0, evaluate.stderr)
            XCTAssertEqual(try metrics(out)["precision"] as? String, precision)
        }
    }

    func testDefaultIsBF16WhereTheCPUHasItElseFP32WithANote() throws {
        let data = try WorkflowCommandTests.makeDataset(in: work)
        let run = work.appendingPathComponent("run")
        let train = try CLI.run(["train", "--method", "head", "--epochs", "2", "--folds", "1", "--split", "60/20/20",
                                 "--data", data.path, "--out", run.path])
        XCTAssertEqual(train.status, 0, train.stderr)
        let native = BF16Support.detected.available
        XCTAssertEqual(try metrics(run.appendingPathComponent("metrics.json"))["precision"] as? String, native ? "bf16" : "fp32")
        XCTAssertEqual(train.stderr.contains("computing in fp32: this CPU has no AVX-512 BF16"), !native, train.stderr)
        let fp32 = try CLI.run(["train", "--method", "head", "--epochs", "2", "--folds", "1", "--split", "60/20/20", "--precision", "fp32",
                                "--data", data.path, "--out", work.appendingPathComponent("run-fp32").path])
        XCTAssertEqual(fp32.status, 0, fp32.stderr)
        XCTAssertFalse(fp32.stderr.contains("AVX-512"), "no note when fp32 is asked for")
        XCTAssertEqual(try metrics(work.appendingPathComponent("run-fp32/metrics.json"))["precision"] as? String, "fp32")
    }

    func testBadPrecisionAndAShardTasksPrecisionAreUsageErrors() throws {
        let bad = try CLI.run(["embed", "--precision", "fp16", "--out", work.appendingPathComponent("e.npy").path, "x.png"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("fp16"), bad.stderr)
        let task = try CLI.run(["embed", "--job", work.appendingPathComponent("job.json").path, "--precision", "bf16", "--shard", "0/2",
                                "--out", work.appendingPathComponent("e.npy").path, "x.png"])
        XCTAssertEqual(task.status, 64, task.stderr)
        XCTAssertTrue(task.stderr.contains("--precision is the job file's"), task.stderr)
        let help = try CLI.run(["train", "--help"])
        XCTAssertTrue(help.stdout.contains("--precision <bf16|fp32>"), help.stdout)
    }
}
