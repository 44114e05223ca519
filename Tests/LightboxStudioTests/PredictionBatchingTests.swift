import Foundation
import Hummingbird
import HummingbirdTesting
import LightboxImaging
import LightboxModels
import LightboxTestSupport
import XCTest
@testable import LightboxStudio
import LightboxWorkflows

/// Predictions gathered into batches (`PredictionBatcher`): fewer passes than requests, each
/// answer exactly the one its picture gets alone, a lone request run at once, a request whose
/// client went away dropped, and the heatmap left out when asked (`?heatmap=0`).
/// No test here measures time: they read the batcher's own record.
final class PredictionBatchingTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = Fixture.newDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Six real X-rays (JPEG and PNG) of the developer data.
    func pictures() throws -> [(name: String, data: Data)] {
        let folder = Fixture.shared.appendingPathComponent("data/covid-chestxray/images")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.sorted()
        let chosen = Array(names.filter { $0.hasSuffix(".jpg") }.prefix(4)) + Array(names.filter { $0.hasSuffix(".png") }.prefix(2))
        return try chosen.map { ($0, try Data(contentsOf: folder.appendingPathComponent($0))) }
    }

    /// A Studio with run 1 finished (Teachable Machine's 22 pictures, 2 epochs), for `body`.
    func withTrainedRun(_ body: @escaping (StudioAPI, any TestClientProtocol) async throws -> Void) async throws {
        var settings = Fixture.settings(directory)
        settings.importRoots = [Fixture.trainingImages.path]
        let studio = try StudioAPI(settings: settings)
        try await Application(router: studio.router()).test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            try await client.post("/api/projects/1/import", json: ["path": Fixture.trainingImages.path])
            try await client.post("/api/projects/1/runs", json: ["epochs": 2])
            let run = try await client.waitForRun(1)
            XCTAssertEqual(run["status"] as? String, "finished", "\(run["error"] ?? "")")
            try await body(studio, client)
        }
    }

    /// Requests that arrive while a pass runs go together into the next one; each answer, with
    /// or without its heatmap, is bit for bit what the picture gets alone through today's
    /// one-file path (`Predictor.predictWithHeatmap`); a request whose client has gone by its
    /// pass is dropped with an error and does not hold the others.
    func testRequestsWaitingForAPassShareTheNextAndAnswerAsAlone() async throws {
        let pictures = try pictures()
        try await withTrainedRun { studio, _ in
            let predictor = try studio.runs.predictor(run: 1)
            let alone = try pictures.map { p -> (probabilities: [Float], predicted: Int, png: Data) in
                let file = self.directory.appendingPathComponent("alone-\(p.name)")
                try p.data.write(to: file)
                let (prediction, png) = try predictor.predictWithHeatmap(file.path)
                return (prediction.probabilities, prediction.predicted, png)
            }
            // The first pass is held until every other request waits for it.
            let hold = Hold()
            let pass = PictureBatcher.pass(predictor)
            let batcher = PictureBatcher { inputs in
                hold.waitOnce()
                return try pass(inputs)
            }
            let gone = Hold()
            func submit(_ i: Int, heatmap: Bool, stillWanted: @escaping @Sendable () -> Bool = { true }) async throws -> TrainedModel.Answer {
                try await batcher.predict(stillWanted: stillWanted) {
                    PictureInput(values: try predictor.model.input(data: [UInt8](pictures[i].data), name: pictures[i].name), heatmap: heatmap)
                }
            }
            let first = Task { try await submit(0, heatmap: true) }
            while !hold.isHolding { try await Task.sleep(nanoseconds: 1_000_000) }
            let others = (1..<pictures.count).map { i in Task { try await submit(i, heatmap: i % 2 == 0) } }
            let dropped = Task { try await submit(1, heatmap: true, stillWanted: { !gone.isOpen }) }
            while batcher.waiting < pictures.count { try await Task.sleep(nanoseconds: 1_000_000) }
            gone.open()  // that client goes away while its request waits
            hold.open()
            var answers = [try await first.value]
            for task in others { answers.append(try await task.value) }
            do {
                _ = try await dropped.value
                XCTFail("a request whose client has gone is not run")
            } catch let error as StudioError {
                XCTAssertEqual(error.kind, .unavailable)
            }
            let record = batcher.statistics
            XCTAssertEqual(record.requests, pictures.count + 1)
            XCTAssertEqual(record.batchSizes, [1, pictures.count - 1], "the first alone, then every request that waited for it")
            XCTAssertEqual(record.batches, 2)
            XCTAssertEqual(record.dropped, 1)
            XCTAssertEqual(record.gatheringWaits, 0, "nothing else was being decoded: no waiting for batch mates")
            for (i, answer) in answers.enumerated() {
                XCTAssertEqual(answer.probabilities, alone[i].probabilities, "\(pictures[i].name): the same probabilities, bit for bit")
                XCTAssertEqual(answer.predicted, alone[i].predicted, pictures[i].name)
                XCTAssertEqual(answer.heatmap, i % 2 == 0 ? alone[i].png : nil, "\(pictures[i].name): the same heatmap PNG, or none when not asked")
            }
        }
    }

    /// Through the route: `?heatmap=0` and `?heatmap=false` answer without the heatmap key and
    /// with the same probabilities as the default (with it); any other value, or the parameter
    /// twice, is refused with 400. Requests sent one after another each run alone at once (no
    /// gathering wait); concurrent ones answer exactly as alone, in at most as many passes.
    func testHeatmapParameterAndConcurrentRequestsThroughTheRoute() async throws {
        let pictures = try pictures()
        try await withTrainedRun { studio, client in
            var alone: [[String: Any]] = []
            for p in pictures {
                let r = try await client.upload("/api/runs/1/predict", ByteBuffer(bytes: p.data))
                XCTAssertEqual(r.status, .ok, Fixture.error(r))
                alone.append(try Fixture.decode(r) as! [String: Any])
            }
            // Each answer with a heatmap carries the lungs' box: the shipped locator's on the
            // picture, in its own pixels and placed into the model's input square (the heatmap).
            let finder = try LungFinder.pretrained(settings: studio.runs.settings, dicomWindow: .first)
            let preprocessor = try studio.runs.predictor(run: 1).preprocessor
            for (p, body) in zip(pictures, alone) {
                let lungs = try XCTUnwrap(body["lungs"] as? [String: Any], p.name)
                let image = try finder.decoder.decode(data: [UInt8](p.data), path: p.name, reduceFor: finder.preprocessor.decodeTarget)
                let header = try finder.decoder.probe(data: [UInt8](p.data), path: p.name)
                let box = try finder.boxes([image])[0]
                XCTAssertEqual(lungs["width"] as? Int, header.width)
                XCTAssertEqual(lungs["height"] as? Int, header.height)
                for (a, b) in zip(try XCTUnwrap(lungs["box"] as? [Double]), box.pixels(width: header.width, height: header.height)) {
                    XCTAssertEqual(a, b, accuracy: 0.051, p.name)
                }
                let square = preprocessor.inSquare(box, width: image.width, height: image.height)
                for (a, b) in zip(try XCTUnwrap(lungs["square"] as? [Double]), [square.x0, square.y0, square.x1, square.y1]) {
                    XCTAssertEqual(a, b, accuracy: 1e-9, p.name)
                }
            }
            let batcher = try studio.runs.batcher(run: 1)
            XCTAssertEqual(batcher.statistics.batchSizes, [Int](repeating: 1, count: pictures.count), "one after another: each alone")
            XCTAssertEqual(batcher.statistics.gatheringWaits, 0, "a lone request never waits for batch mates")
            for value in ["0", "false"] {
                let r = try await client.upload("/api/runs/1/predict?heatmap=\(value)", ByteBuffer(bytes: pictures[0].data))
                XCTAssertEqual(r.status, .ok, Fixture.error(r))
                let body = try Fixture.decode(r) as! [String: Any]
                XCTAssertEqual(Set(body.keys), ["predicted", "probabilities", "disclaimer"], "no heatmap key")
                XCTAssertEqual(body["probabilities"] as? [String: Double], alone[0]["probabilities"] as? [String: Double])
                XCTAssertEqual(body["predicted"] as? String, alone[0]["predicted"] as? String)
            }
            for value in ["1", "true"] {
                let body = try Fixture.decode(try await client.upload("/api/runs/1/predict?heatmap=\(value)", ByteBuffer(bytes: pictures[0].data))) as! [String: Any]
                XCTAssertEqual(body["heatmap"] as? String, alone[0]["heatmap"] as? String)
            }
            for query in ["heatmap=yes", "heatmap=", "heatmap=0&heatmap=1", "heatmap=TRUE"] {
                let r = try await client.upload("/api/runs/1/predict?\(query)", ByteBuffer(bytes: pictures[0].data))
                XCTAssertEqual(r.status, .badRequest, query)
                XCTAssertTrue(Fixture.error(r).contains("heatmap"), Fixture.error(r))
            }
            let before = batcher.statistics
            let concurrent = try await withThrowingTaskGroup(of: (Int, [String: Any]).self) { group in
                for _ in 0..<2 {
                    for (i, p) in pictures.enumerated() {
                        group.addTask {
                            let r = try await client.upload("/api/runs/1/predict", ByteBuffer(bytes: p.data))
                            XCTAssertEqual(r.status, .ok, Fixture.error(r))
                            return (i, try Fixture.decode(r) as! [String: Any])
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            XCTAssertEqual(concurrent.count, 2 * pictures.count)
            for (i, body) in concurrent {
                XCTAssertEqual(body["probabilities"] as? [String: Double], alone[i]["probabilities"] as? [String: Double], pictures[i].name)
                XCTAssertEqual(body["heatmap"] as? String, alone[i]["heatmap"] as? String, pictures[i].name)
            }
            let after = batcher.statistics
            XCTAssertEqual(after.requests - before.requests, 2 * pictures.count)
            XCTAssertLessThanOrEqual(after.batches - before.batches, 2 * pictures.count)
        }
    }
}

/// A gate a test opens once: `waitOnce` blocks its first caller until then.
private final class Hold: @unchecked Sendable {
    private let condition = NSCondition()
    private var opened = false, waited = false

    /// Whether the first caller is in `waitOnce`.
    var isHolding: Bool {
        condition.lock()
        defer { condition.unlock() }
        return waited && !opened
    }

    var isOpen: Bool {
        condition.lock()
        defer { condition.unlock() }
        return opened
    }

    func open() {
        condition.lock()
        opened = true
        condition.broadcast()
        condition.unlock()
    }

    func waitOnce() {
        condition.lock()
        defer { condition.unlock() }
        guard !waited else { return }
        waited = true
        while !opened { condition.wait() }
    }
}
