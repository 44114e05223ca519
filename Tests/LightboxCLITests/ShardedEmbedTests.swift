import Foundation
import XCTest
import LightboxData
import LightboxWorkflows

/// `lightbox embed --shards/--shard/--executor`: what needs no cluster.
final class ShardedEmbedCommandTests: XCTestCase {
    var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-shards-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }

    func path(_ name: String) -> String { work.appendingPathComponent(name).path }

    /// The first `count` X-rays of ../shared, by name.
    static func xrays(_ count: Int) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: CLI.images.path).sorted()
        guard names.count >= count else { throw XCTSkip("needs \(count) X-rays in \(CLI.images.path)") }
        return names.prefix(count).map { CLI.images.appendingPathComponent($0).path }
    }

    /// A small head model (or, `fineTuned`, a two-member ensemble of one epoch) trained on Teachable
    /// Machine's pictures, and a CSV list of X-rays to use it on.
    static func headModelAndData(in work: URL, images: Int, fineTuned: Bool = false) throws -> (model: String, data: String) {
        func path(_ name: String) -> String { work.appendingPathComponent(name).path }
        let method = fineTuned ? ["--method", "finetune", "--ensemble", "2", "--epochs", "1", "--batch-size", "8"]
                               : ["--method", "head", "--epochs", "2"]
        let train = try CLI.run(["train"] + method + ["--folds", "1", "--split", "60/20/20", "--no-cache",
                                 "--data", CLI.shared.appendingPathComponent("models/teachable-machine-image/training-images").path,
                                 "--out", path("model-run")])
        XCTAssertEqual(train.status, 0, train.stderr)
        // A CSV list names pictures inside its folder: copies of the X-rays beside it.
        try FileManager.default.createDirectory(atPath: path("xrays"), withIntermediateDirectories: true)
        let rows = try Self.xrays(images).enumerated().map { k, x in
            let name = "xrays/" + (x as NSString).lastPathComponent
            try FileManager.default.copyItem(atPath: x, toPath: path(name))
            return "\(name),\(k % 2 == 0 ? "Class 1" : "Class 2")"
        }
        try ("path,label\n" + rows.joined(separator: "\n") + "\n").write(toFile: path("list.csv"), atomically: true, encoding: .utf8)
        return (path("model-run/model"), path("list.csv"))
    }

    /// evaluate, predict and train --method head over local shards write exactly what plain runs write.
    func testEvaluatePredictAndTrainOverShardsEqualPlainRuns() throws {
        let (model, data) = try Self.headModelAndData(in: work, images: 24)
        func ok(_ arguments: [String]) throws -> CLI.Outcome {
            let r = try CLI.run(arguments)
            XCTAssertEqual(r.status, 0, "\(arguments): \(r.stderr)")
            return r
        }
        _ = try ok(["evaluate", "--model", model, "--data", data, "--out", path("plain.json"), "--no-cache"])
        let sharded = try ok(["evaluate", "--model", model, "--data", data, "--out", path("sharded.json"), "--shards", "3", "--cache-dir", path("cache")])
        XCTAssertTrue(sharded.stderr.contains("in 3 shards"), sharded.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("sharded.json"))), try Data(contentsOf: URL(fileURLWithPath: path("plain.json"))))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("sharded-predictions.csv"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("plain-predictions.csv"))))

        let pictures = try Self.xrays(10) + [path("list.csv")]  // the last is no picture
        let plainPredict = try CLI.run(["predict", "--json", "--model", model] + pictures)
        let shardedPredict = try CLI.run(["predict", "--json", "--model", model, "--shards", "4", "--cache-dir", path("cache")] + pictures)
        XCTAssertEqual(shardedPredict.status, plainPredict.status)
        XCTAssertEqual(shardedPredict.stdout, plainPredict.stdout)
        XCTAssertTrue(shardedPredict.stderr.contains("error: \(path("list.csv")): not a PNG"), shardedPredict.stderr)

        let tm = CLI.shared.appendingPathComponent("models/teachable-machine-image/training-images").path
        _ = try ok(["train", "--method", "head", "--epochs", "2", "--folds", "1", "--split", "60/20/20", "--no-cache", "--data", tm, "--out", path("plain-run")])
        _ = try ok(["train", "--method", "head", "--epochs", "2", "--folds", "1", "--split", "60/20/20", "--data", tm, "--out", path("sharded-run"),
                    "--shards", "2", "--cache-dir", path("cache")])
        XCTAssertEqual(try String(contentsOfFile: path("sharded-run/predictions.csv"), encoding: .utf8),
                       try String(contentsOfFile: path("plain-run/predictions.csv"), encoding: .utf8))
        // Cross-fitted: the embeddings over the shards, the fold heads here (and it says so).
        _ = try ok(["train", "--method", "head", "--epochs", "2", "--folds", "2", "--no-cache", "--data", tm, "--out", path("plain-folds")])
        let folds = try ok(["train", "--method", "head", "--epochs", "2", "--folds", "2", "--data", tm, "--out", path("sharded-folds"),
                            "--shards", "2", "--cache-dir", path("cache")])
        XCTAssertTrue(folds.stderr.contains("cross-fitting: the 2 folds' heads train here (seconds each); only the embeddings went to the shards"),
                      folds.stderr)
        XCTAssertEqual(try String(contentsOfFile: path("sharded-folds/predictions.csv"), encoding: .utf8),
                       try String(contentsOfFile: path("plain-folds/predictions.csv"), encoding: .utf8))
        let refused = try CLI.run(["train", "--data", tm, "--out", path("tm"), "--shards", "2", "--backbone",
                                   "tm:" + CLI.shared.appendingPathComponent("models/teachable-machine-image").path])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("trained on one machine"), refused.stderr)
    }

    /// train --method finetune over shards: the frozen modules' output for the validation and
    /// test pictures comes from the shards (through the cache), the training steps run here; the
    /// run's predictions, metrics and members equal a plain run's.
    func testFineTuneTrainingOverShardsEqualsAPlainRun() throws {
        let common = Self.fineTuneTraining(epochs: 2)
        let plain = try CLI.run(common + ["--out", path("plain-run")])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let sharded = try CLI.run(common + ["--out", path("sharded-run"), "--shards", "3", "--cache-dir", path("cache")])
        XCTAssertEqual(sharded.status, 0, sharded.stderr)
        XCTAssertTrue(sharded.stderr.contains("8 pictures in 3 shards (3 run now: 8 embeddings computed"), sharded.stderr)
        Self.assertSameRun(path("sharded-run"), path("plain-run"))
    }

    /// `lightbox train` of a small two-member ensemble on Teachable Machine's pictures (add --out).
    static func fineTuneTraining(epochs: Int) -> [String] {
        ["train", "--method", "finetune", "--ensemble", "2", "--epochs", String(epochs), "--batch-size", "8", "--folds", "1", "--split", "60/20/20",
         "--data", CLI.shared.appendingPathComponent("models/teachable-machine-image/training-images").path]
    }

    /// Two run directories agree: predictions, every member's tensors, and the metrics but for timings.
    static func assertSameRun(_ a: String, _ b: String, members: Int = 2, file: StaticString = #filePath, line: UInt = #line) {
        func data(_ run: String, _ name: String) -> Data? { FileManager.default.contents(atPath: (run as NSString).appendingPathComponent(name)) }
        XCTAssertNil(data(b, "model/member-\(members).safetensors"), "more members than \(members)", file: file, line: line)
        for name in ["predictions.csv"] + (0..<members).map({ "model/member-\($0).safetensors" }) {
            XCTAssertNotNil(data(a, name), name, file: file, line: line)
            XCTAssertEqual(data(a, name), data(b, name), name, file: file, line: line)
        }
        func metrics(_ run: String) -> NSDictionary? {
            guard let d = data(run, "metrics.json"), var json = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else { return nil }
            json["seconds"] = nil
            json["timings"] = nil
            return json as NSDictionary
        }
        XCTAssertNotNil(metrics(a), file: file, line: line)
        XCTAssertEqual(metrics(a), metrics(b), file: file, line: line)
    }

    /// A fine-tuned ensemble runs whole on the shards (its probabilities go through the cache):
    /// evaluate and predict over any number of shards write what one pass writes, bit for bit,
    /// although the shards batch the pictures differently.
    func testFineTunedEvaluateAndPredictOverShardsEqualPlainRuns() throws {
        let (model, data) = try Self.headModelAndData(in: work, images: 30, fineTuned: true)
        let plain = try CLI.run(["evaluate", "--model", model, "--data", data, "--out", path("plain.json"), "--no-cache"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        for shards in ["2", "7"] {
            let sharded = try CLI.run(["evaluate", "--model", model, "--data", data, "--out", path("sharded-\(shards).json"),
                                       "--shards", shards, "--cache-dir", path("cache-\(shards)")])
            XCTAssertEqual(sharded.status, 0, sharded.stderr)
            XCTAssertTrue(sharded.stderr.contains("in \(shards) shards"), sharded.stderr)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("sharded-\(shards).json"))),
                           try Data(contentsOf: URL(fileURLWithPath: path("plain.json"))))
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("sharded-\(shards)-predictions.csv"))),
                           try Data(contentsOf: URL(fileURLWithPath: path("plain-predictions.csv"))))
        }
        // Shards of 5 or 6 pictures batch them 5 or 6 at a time; one pass, 16 at a time.
        let pictures = try Self.xrays(21) + [path("list.csv")]  // the last is no picture
        let plainPredict = try CLI.run(["predict", "--json", "--model", model] + pictures)
        XCTAssertEqual(plainPredict.status, 1, plainPredict.stderr)
        let shardedPredict = try CLI.run(["predict", "--json", "--model", model, "--shards", "4", "--cache-dir", path("cache")] + pictures)
        XCTAssertEqual(shardedPredict.status, plainPredict.status)
        XCTAssertEqual(shardedPredict.stdout, plainPredict.stdout)
        XCTAssertTrue(shardedPredict.stderr.contains("error: \(path("list.csv")): not a PNG"), shardedPredict.stderr)
        // The ensemble's probabilities are cached under the ensemble: a rerun computes nothing.
        let again = try CLI.run(["predict", "--json", "--model", model, "--shards", "2", "--cache-dir", path("cache")] + pictures)
        XCTAssertEqual(again.stdout, plainPredict.stdout)
        XCTAssertTrue(again.stderr.contains("0 embeddings computed, 21 from the cache"), again.stderr)

        // Another ensemble (another seed) on the same cache and pictures has its own entries.
        let other = try CLI.run(Self.fineTuneTraining(epochs: 1) + ["--seed", "7", "--out", path("other-run")])
        XCTAssertEqual(other.status, 0, other.stderr)
        let otherModel = path("other-run/model")
        let otherSharded = try CLI.run(["predict", "--json", "--model", otherModel, "--shards", "2", "--cache-dir", path("cache")] + pictures)
        XCTAssertTrue(otherSharded.stderr.contains("21 embeddings computed, 0 from the cache"), otherSharded.stderr)
        XCTAssertEqual(otherSharded.stdout, try CLI.run(["predict", "--json", "--model", otherModel] + pictures).stdout)
        XCTAssertNotEqual(otherSharded.stdout, plainPredict.stdout)

        // A folder stands for its pictures, in sorted order (a year of images is no argument list).
        let copies = try FileManager.default.contentsOfDirectory(atPath: path("xrays")).sorted().map { path("xrays/" + $0) }
        let byFolder = try CLI.run(["predict", "--json", "--model", model, path("xrays")])
        XCTAssertEqual(byFolder.status, 0, byFolder.stderr)
        XCTAssertEqual(byFolder.stdout, try CLI.run(["predict", "--json", "--model", model] + copies).stdout)
        XCTAssertEqual(try CLI.run(["predict", "--json", "--model", model, "--shards", "3", "--cache-dir", path("cache"), path("xrays")]).stdout,
                       byFolder.stdout)
    }

    func testLocalShardsEqualAPlainRunAndAResumeComputesNothing() throws {
        let broken = path("broken.png")
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: broken))
        var inputs = try Self.xrays(20)
        inputs.insert(broken, at: 7)
        let plain = try CLI.run(["embed", "--out", path("plain.npy")] + inputs)
        XCTAssertEqual(plain.status, 0, plain.stderr)

        let sharded = try CLI.run(["embed", "--out", path("sharded.npy"), "--shards", "3", "--cache-dir", path("cache"), "--batch", "4"] + inputs)
        XCTAssertEqual(sharded.status, 0, sharded.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("sharded.npy"))), try Data(contentsOf: URL(fileURLWithPath: path("plain.npy"))))
        XCTAssertEqual(try String(contentsOfFile: path("sharded.npy.txt"), encoding: .utf8),
                       try String(contentsOfFile: path("plain.npy.txt"), encoding: .utf8))
        XCTAssertTrue(sharded.stderr.contains("skipped \(broken)"), sharded.stderr)
        XCTAssertTrue(sharded.stderr.contains("3 run now"), sharded.stderr)

        // Every shard is done: the rerun only merges.
        let again = try CLI.run(["embed", "--out", path("sharded.npy"), "--shards", "3", "--cache-dir", path("cache")] + inputs)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("(0 run now"), again.stderr)

        // One shard by hand (as a Slurm task runs it), then the rest: only the missing shards run.
        let one = try CLI.run(["embed", "--out", path("byhand.npy"), "--shard", "1/3", "--cache-dir", path("cache2")] + inputs)
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("byhand.npy")), "--shard writes no output file")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("byhand.npy.shards/shard-0001-of-0003.json")))
        let rest = try CLI.run(["embed", "--out", path("byhand.npy"), "--shards", "3", "--cache-dir", path("cache2")] + inputs)
        XCTAssertEqual(rest.status, 0, rest.stderr)
        XCTAssertTrue(rest.stderr.contains("(2 run now"), rest.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("byhand.npy"))), try Data(contentsOf: URL(fileURLWithPath: path("plain.npy"))))
    }

    /// A CSV list (path, label, group) of the first `perClass` pictures of each class of the
    /// developer data, patients kept, the pictures copied beside it (a list's paths stay in its folder).
    static func developerList(in work: URL, perClass: Int) throws -> String {
        let source = CLI.shared.appendingPathComponent("data/covid-chestxray").path
        guard FileManager.default.fileExists(atPath: source) else { throw XCTSkip("no developer data at \(source)") }
        let dataset = try DatasetLoader.load(source, kind: .covidChestxray, saltFolder: work.path)
        let folder = work.appendingPathComponent("subset")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var lines = ["path,label,group"]
        for c in dataset.classes {
            for image in dataset.images.filter({ $0.label == c }).prefix(perClass) {
                let name = (image.path as NSString).lastPathComponent
                try FileManager.default.copyItem(atPath: image.path, toPath: folder.appendingPathComponent(name).path)
                lines.append([name, image.label, image.group].map(CSVText.field).joined(separator: ","))
            }
        }
        let list = folder.appendingPathComponent("subset.csv")
        try (lines.joined(separator: "\n") + "\n").write(to: list, atomically: true, encoding: .utf8)
        return list.path
    }

    /// A fold task's hidden options, and folder names no batch script may carry, are refused
    /// with what is wrong (before any Slurm command or data is read).
    func testFoldTaskOptionsAndFolderNamesWithLineBreaksAreRefused() throws {
        let tm = CLI.shared.appendingPathComponent("models/teachable-machine-image/training-images").path
        for (arguments, message) in [(["--fold-job", path("fold-job.json")], "--fold-job needs --shard K/N"),
                                     (["--threads", "2", "--data", tm], "--threads is for a fold task (--fold-job)"),
                                     (["--fold-job", path("nothing.json"), "--shard", "0/3"], "\(path("nothing.json")): cannot read the fold job file"),
                                     (["--data", tm, "--out", path("run\nrm -rf x"), "--executor", "slurm"],
                                      #""\#(path("run"))\nrm -rf x": a line break or control character in a file name; rename it"#)] {
            let run = try CLI.run(["train"] + arguments, environment: ["PATH": path("no-such-dir")])
            XCTAssertNotEqual(run.status, 0, "\(arguments)")
            XCTAssertTrue(run.stderr.contains(message), "\(arguments): \(run.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("run\nrm -rf x")))
    }

    func testShardOptionsAreChecked() throws {
        let image = try Self.xrays(1)[0]
        for (arguments, message) in [(["--shard", "4/4"], "from 0 to 3"), (["--shard", "1/4", "--shards", "3"], "disagree"),
                                     (["--shards", "0"], "at least 1"), (["--partition", "gpu"], "need --executor slurm"),
                                     (["--shard", "0/2", "--executor", "slurm"], "submits them all"),
                                     (["--shards", "2", "--held-timeout=-1"], "--held-timeout must be 0 or more")] {
            let run = try CLI.run(["embed", "--out", path("e.npy")] + arguments + [image])
            XCTAssertNotEqual(run.status, 0, "\(arguments)")
            XCTAssertTrue(run.stderr.contains(message), "\(arguments): \(run.stderr)")
        }
    }

    /// Data with no picture of the model's classes runs no shard: evaluate says why, as a local run does.
    func testEvaluateOfNothingUsableRunsNoShard() throws {
        let (model, data) = try Self.headModelAndData(in: work, images: 2)
        let text = try String(contentsOfFile: data, encoding: .utf8).replacingOccurrences(of: "Class ", with: "Other ")
        try text.write(toFile: data, atomically: true, encoding: .utf8)
        let run = try CLI.run(["evaluate", "--model", model, "--data", data, "--out", path("m.json"), "--shards", "2",
                               "--cache-dir", path("cache")])
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("no usable images for the model's classes"), run.stderr)
        XCTAssertFalse(run.stderr.contains(" in 2 shards"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("m.json.shards")))
    }

    func testMissingSbatchIsOneLine() throws {
        let run = try CLI.run(["embed", "--out", path("e.npy"), "--shards", "2", "--executor", "slurm", "--cache-dir", path("cache")]
                              + (try Self.xrays(2)), environment: ["PATH": path("no-such-dir")])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("sbatch not found on PATH"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("e.npy")))
    }

    func testMissingClusterConfigurationIsOneLine() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/sbatch") else { throw XCTSkip("needs Slurm's sbatch (Debian slurm-client)") }
        let run = try CLI.run(["embed", "--out", path("e.npy"), "--shards", "2", "--executor", "slurm", "--cache-dir", path("cache")]
                              + (try Self.xrays(2)), environment: ["SLURM_CONF": path("nowhere/slurm.conf")])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("nowhere/slurm.conf, which does not exist"), run.stderr)
    }
}

/// `lightbox embed --executor slurm` on a real one-node cluster (scripts/slurm/one-node-cluster.sh):
/// the one of $LIGHTBOX_TEST_SLURM_CONF when set (scripts/test.sh), else one started for this class
/// when Slurm is installed, else skipped.
final class SlurmEmbedTests: XCTestCase {
    nonisolated(unsafe) static var conf: String?
    nonisolated(unsafe) static var startedState: String?
    nonisolated(unsafe) static var why = ""
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/slurm/one-node-cluster.sh").path

    override class func setUp() {
        super.setUp()
        if let given = ProcessInfo.processInfo.environment["LIGHTBOX_TEST_SLURM_CONF"], !given.isEmpty {
            conf = given
            return
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/slurmctld"), getuid() == 0 else {
            why = "needs a Slurm cluster: run scripts/test.sh, or set LIGHTBOX_TEST_SLURM_CONF (scripts/slurm/one-node-cluster.sh start DIR)"
            return
        }
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-slurm-\(UUID().uuidString)").path
        guard CLI.spawn([script, "start", state], log: state + ".log") == 0 else {
            why = "could not start a one-node cluster in \(state) (see \(state).log)"
            return
        }
        startedState = state
        conf = (state as NSString).appendingPathComponent("slurm.conf")
    }

    override class func tearDown() {
        if let state = startedState {
            _ = CLI.spawn([script, "stop", state], log: state + ".log")
            try? FileManager.default.removeItem(atPath: state)
            try? FileManager.default.removeItem(atPath: state + ".log")
        }
        super.tearDown()
    }

    var work: URL!

    override func setUpWithError() throws {
        guard Self.conf != nil else {
            // scripts/test.sh starts the cluster: under CI its absence is a failure, not a skip.
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(Self.why) }
            throw XCTSkip(Self.why)
        }
        work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-slurm-embed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let work { try? FileManager.default.removeItem(at: work) }
    }

    func path(_ name: String) -> String { work.appendingPathComponent(name).path }
    var environment: [String: String] { ["SLURM_CONF": Self.conf!] }

    func squeue(_ arguments: [String]) throws -> String {
        try CLI.shell(["/usr/bin/squeue"] + arguments, environment: environment).stdout
    }

    func testFourShardsEqualALocalRunAndACancelledShardIsAllTheRerunDoes() throws {
        let inputs = try ShardedEmbedCommandTests.xrays(240)
        let local = try CLI.run(["embed", "--out", path("local.npy")] + inputs)
        XCTAssertEqual(local.status, 0, local.stderr)

        // Shard 2's task is cancelled while it runs; with --retries 0 the run fails naming it.
        let name = "lightbox-embed"
        let arguments = ["embed", "--out", path("slurm.npy"), "--shards", "4", "--executor", "slurm", "--retries", "0",
                         "--cache-dir", path("cache")] + inputs
        let running = try CLI.start(arguments, environment: environment)
        var task: String?
        for _ in 0..<600 where task == nil {
            let lines: [String] = try squeue(["-h", "-r", "-n", name, "-t", "running", "-o", "%i %K"])
                .split(separator: "\n").map(String.init)
            for line in lines where line.hasSuffix(" 2") { task = String(line.dropLast(2)) }
            if task == nil { usleep(100_000) }
        }
        let id = try XCTUnwrap(task, "shard 2's task never ran")
        usleep(1_500_000)
        _ = try CLI.shell(["/usr/bin/scancel", id], environment: environment)
        let failed = running.wait()
        XCTAssertEqual(failed.status, 1, failed.stderr)
        XCTAssertTrue(failed.stderr.contains("shards 2 (CANCELLED)"), failed.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("slurm.npy")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("slurm.npy.shards")).filter { $0.hasPrefix("shard-") }.sorted(),
                       ["shard-0000-of-0004.json", "shard-0001-of-0004.json", "shard-0003-of-0004.json"])

        // The rerun submits shard 2 alone; the merged array equals the local run's bit for bit.
        let rerun = try CLI.run(Array(arguments.dropLast(inputs.count)) + inputs, environment: environment)
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertTrue(rerun.stdout.contains(": shards 2 of 4"), rerun.stdout)
        XCTAssertTrue(rerun.stderr.contains("(1 run now"), rerun.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("slurm.npy"))), try Data(contentsOf: URL(fileURLWithPath: path("local.npy"))))
        XCTAssertEqual(try String(contentsOfFile: path("slurm.npy.txt"), encoding: .utf8),
                       try String(contentsOfFile: path("local.npy.txt"), encoding: .utf8))
    }

    /// evaluate --executor slurm over 4 shards writes the metrics and predictions a local run writes.
    func testEvaluateOnTheClusterEqualsALocalRun() throws {
        let (model, data) = try ShardedEmbedCommandTests.headModelAndData(in: work, images: 40)
        let local = try CLI.run(["evaluate", "--model", model, "--data", data, "--out", path("local.json"), "--no-cache"])
        XCTAssertEqual(local.status, 0, local.stderr)
        let slurm = try CLI.run(["evaluate", "--model", model, "--data", data, "--out", path("slurm.json"), "--shards", "4",
                                 "--executor", "slurm", "--cache-dir", path("cache")], environment: environment)
        XCTAssertEqual(slurm.status, 0, slurm.stderr)
        XCTAssertTrue(slurm.stdout.contains("slurm job "), slurm.stdout)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("slurm.json"))), try Data(contentsOf: URL(fileURLWithPath: path("local.json"))))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("slurm-predictions.csv"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("local-predictions.csv"))))
    }

    /// predict --json of a fine-tuned model on 3 Slurm tasks prints what a local run prints (the
    /// job's line goes to standard error: standard output is the JSON alone).
    func testFineTunedPredictOnTheClusterEqualsALocalRun() throws {
        let (model, _) = try ShardedEmbedCommandTests.headModelAndData(in: work, images: 2, fineTuned: true)
        let pictures = try ShardedEmbedCommandTests.xrays(30)
        let local = try CLI.run(["predict", "--json", "--model", model] + pictures)
        XCTAssertEqual(local.status, 0, local.stderr)
        let slurm = try CLI.run(["predict", "--json", "--model", model, "--shards", "3", "--executor", "slurm",
                                 "--cache-dir", path("cache")] + pictures, environment: environment)
        XCTAssertEqual(slurm.status, 0, slurm.stderr)
        XCTAssertTrue(slurm.stderr.contains("slurm job "), slurm.stderr)
        XCTAssertEqual(slurm.stdout, local.stdout)
    }

    /// train --method finetune --executor slurm: the held-out pictures' frozen work on 2 tasks,
    /// the training here; the run equals a local one.
    func testFineTuneTrainingOnTheClusterEqualsALocalRun() throws {
        let common = ShardedEmbedCommandTests.fineTuneTraining(epochs: 1)
        let local = try CLI.run(common + ["--out", path("local-run")])
        XCTAssertEqual(local.status, 0, local.stderr)
        let slurm = try CLI.run(common + ["--out", path("slurm-run"), "--shards", "2", "--executor", "slurm", "--cache-dir", path("cache")],
                                environment: environment)
        XCTAssertEqual(slurm.status, 0, slurm.stderr)
        XCTAssertTrue(slurm.stdout.contains("slurm job "), slurm.stdout)
        ShardedEmbedCommandTests.assertSameRun(path("slurm-run"), path("local-run"))
    }

    /// train --executor slurm of a cross-fitted fine-tuned run (48 developer pictures, 3 folds,
    /// 1 epoch): one array task a fold, and the members, predictions.csv and metrics.json equal
    /// a local run's, bit for bit. When a fold's result is lost, a rerun trains only that fold:
    /// its task failing (no weights on its LIGHTBOX_HOME), the run names the fold and its log;
    /// then alone on a task of 2 cores, it ends with the same files.
    func testCrossFittedFineTuningTrainsEachFoldAsATaskAndEqualsALocalRun() throws {
        let data = try ShardedEmbedCommandTests.developerList(in: work, perClass: 24)
        let common = ["train", "--data", data, "--folds", "3", "--epochs", "1"]
        let local = try CLI.run(common + ["--out", path("local-run")])
        XCTAssertEqual(local.status, 0, local.stderr)
        let arguments = common + ["--out", path("slurm-run"), "--executor", "slurm", "--cache-dir", path("cache")]
        let slurm = try CLI.run(arguments, environment: environment)
        XCTAssertEqual(slurm.status, 0, slurm.stderr)
        XCTAssertTrue(slurm.stderr.contains("each of the 3 folds' members trains as its own Slurm array task"), slurm.stderr)
        XCTAssertTrue(slurm.stdout.contains(": folds 1-3 of 3 (array tasks 0-2)"), slurm.stdout)
        ShardedEmbedCommandTests.assertSameRun(path("slurm-run"), path("local-run"), members: 3)
        let folds = path("slurm-run.folds")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folds).filter { $0.hasSuffix(".safetensors") }.sorted(),
                       ["fold-1-of-3.safetensors", "fold-2-of-3.safetensors", "fold-3-of-3.safetensors"])
        let logs = try FileManager.default.contentsOfDirectory(atPath: folds + "/logs")
        XCTAssertEqual(logs.count, 3, "\(logs)")
        XCTAssertFalse(slurm.stderr.contains("already trained"), slurm.stderr)
        let log = try String(contentsOfFile: folds + "/logs/" + XCTUnwrap(logs.first { $0.hasSuffix("_1.out") }), encoding: .utf8)
        XCTAssertTrue(log.contains("fold 2 of 3: 1 member(s) trained in "), log)

        // Fold 2's result lost, and its task finds no pretrained weights (another LIGHTBOX_HOME):
        // the run names the fold and its log, and writes nothing.
        try FileManager.default.removeItem(atPath: folds + "/fold-2-of-3.safetensors")
        let failing = try CLI.run(arguments + ["--retries", "0", "--sbatch-arg=--export=ALL,LIGHTBOX_HOME=\(path("no-home"))"],
                                  environment: environment)
        XCTAssertEqual(failing.status, 1, failing.stderr)
        XCTAssertTrue(failing.stderr.contains("folds 2 (FAILED) of 3 were not trained after the allowed retries; "
                                              + "their tasks' logs are in \(folds)/logs"), failing.stderr)
        let failed = try XCTUnwrap(failing.stdout.split(separator: "\n").first { $0.contains(": folds 2 of 3") }?.split(separator: " ")[2].dropLast(),
                                   failing.stdout)
        let failedLog = try String(contentsOfFile: folds + "/logs/lightbox-train-fold-\(failed)_1.out", encoding: .utf8)
        XCTAssertTrue(failedLog.contains("are not the ones the run was submitted with"), failedLog)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folds + "/fold-2-of-3.safetensors"))

        let rerun = try CLI.run(arguments + ["--cpus-per-task", "2"], environment: environment)
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertTrue(rerun.stderr.contains("folds 1,3 of 3 already trained for this run"), rerun.stderr)
        XCTAssertTrue(rerun.stdout.contains(": folds 2 of 3 (array tasks 1)"), rerun.stdout)
        XCTAssertEqual(rerun.stdout.components(separatedBy: "slurm job ").count, 2, rerun.stdout)  // the held-out shards were done
        let second = try XCTUnwrap(rerun.stdout.split(separator: "\n").first { $0.contains(": folds 2 of 3") }?.split(separator: " ")[2].dropLast())
        let secondLog = try String(contentsOfFile: folds + "/logs/lightbox-train-fold-\(second)_1.out", encoding: .utf8)
        XCTAssertTrue(secondLog.contains("on 2 thread(s)"), secondLog)
        ShardedEmbedCommandTests.assertSameRun(path("slurm-run"), path("local-run"), members: 3)
    }

    /// A held array is not waited on forever: the run stops with what to do, and once the job
    /// is released a rerun follows it to the end instead of submitting again.
    func testAHeldJobStopsTheRunAndARerunFollowsItOnceReleased() throws {
        let inputs = try ShardedEmbedCommandTests.xrays(6)
        let local = try CLI.run(["embed", "--out", path("local.npy")] + inputs)
        XCTAssertEqual(local.status, 0, local.stderr)
        let arguments = ["embed", "--out", path("slurm.npy"), "--shards", "2", "--executor", "slurm", "--sbatch-arg=--hold",
                         "--cache-dir", path("cache")] + inputs
        let held = try CLI.run(arguments + ["--held-timeout", "3"], environment: environment)
        XCTAssertEqual(held.status, 1, held.stderr)
        XCTAssertTrue(held.stderr.contains("Slurm keeps shards 0-1 of job "), held.stderr)
        XCTAssertTrue(held.stderr.contains("(JobHeldUser)"), held.stderr)
        let job = try XCTUnwrap(held.stdout.split(separator: " ").dropFirst(2).first.map { String($0.dropLast()) }, held.stdout)
        XCTAssertTrue(held.stderr.contains("scontrol release \(job)"), held.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("slurm.npy")))

        // The rerun finds the job still held and follows it; released meanwhile, it runs to the end.
        let running = try CLI.start(arguments, environment: environment)
        usleep(2_000_000)
        _ = try CLI.shell(["/usr/bin/scontrol", "release", job], environment: environment)
        let rerun = running.wait()
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertTrue(rerun.stderr.contains("following Slurm job \(job) from an earlier run"), rerun.stderr)
        XCTAssertFalse(rerun.stdout.contains("slurm job "), rerun.stdout)  // nothing submitted again
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("slurm.npy"))), try Data(contentsOf: URL(fileURLWithPath: path("local.npy"))))
    }

    func testUnreachableControllerIsOneLine() throws {
        // The cluster's own configuration with the controller's port moved to one nobody listens on.
        let text = try String(contentsOfFile: Self.conf!, encoding: .utf8)
            .replacingOccurrences(of: #"(?m)^SlurmctldPort=.*$"#, with: "SlurmctldPort=1", options: .regularExpression)
        try text.write(toFile: path("slurm.conf"), atomically: true, encoding: .utf8)
        let run = try CLI.run(["embed", "--out", path("e.npy"), "--shards", "2", "--executor", "slurm", "--cache-dir", path("cache")]
                              + (try ShardedEmbedCommandTests.xrays(2)), environment: ["SLURM_CONF": path("slurm.conf")])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("Unable to contact slurm controller"), run.stderr)
    }
}

extension CLI {
    /// Starts `lightbox arguments` and returns at once.
    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Running {
        try launch(Bundle.main.bundleURL.appendingPathComponent("lightbox"), arguments, environment: environment)
    }

    /// Runs `command` (its output appended to `log`) and returns its exit status. posix_spawn and
    /// waitpid rather than Process: Foundation's Process never saw the cluster script end (the
    /// script, which leaves daemons running, stayed a zombie and waitUntilExit never returned).
    static func spawn(_ command: [String], log: String) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, command[0], &actions, nil, &argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
    }

    /// Runs another program (`command[0]`, a path) to the end.
    static func shell(_ command: [String], environment: [String: String] = [:]) throws -> Outcome {
        try launch(URL(fileURLWithPath: command[0]), Array(command.dropFirst()), environment: environment).wait()
    }
}
