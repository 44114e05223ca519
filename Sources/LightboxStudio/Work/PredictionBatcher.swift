import Foundation

/// Gathers concurrent predictions on one model into batches, as inference servers do (Triton's
/// dynamic batcher, TF Serving's batching): the model makes one pass over several pictures for
/// less than several passes over one each.
///
/// The rule: a request that finds no batch running starts one at once, alone, with no waiting
/// (a lone request is answered as soon as before). Requests that arrive while a batch runs wait
/// for it anyway (one pass at a time per model); when it ends, the next batch takes everything
/// waiting, up to `maxBatch`. Before it starts, it waits at most `gatherWindow` for requests
/// already on their way (announced by `predict(prepare:)`, still being decoded), and only for
/// those: never for requests that may never come. A waiting request whose client has gone is
/// answered with an error instead of being run.
///
/// Each picture's answer must not depend on its batch mates: that is the pass's contract
/// (`TrainedModel.explain(inputs:heatmaps:decision:)`), checked by the Studio's tests.
final class PredictionBatcher<Input: Sendable, Output: Sendable>: @unchecked Sendable {
    let maxBatch: Int
    let gatherWindow: TimeInterval
    /// One pass over a batch: an output per input, in order.
    private let pass: @Sendable ([Input]) throws -> [Output]

    /// A request in the queue.
    private struct Waiting {
        var input: Input
        var stillWanted: @Sendable () -> Bool
        var answer: CheckedContinuation<Output, Error>
    }

    /// Guards everything below; the runner waits on it while gathering.
    private let condition = NSCondition()
    private var queue: [Waiting] = []
    /// Requests announced and still preparing their input (decoding).
    private var preparing = 0
    /// Whether a runner thread is taking batches.
    private var running = false
    private var record = Statistics()

    /// What the batcher has done (for tests and diagnostics).
    struct Statistics: Equatable, Sendable {
        /// Requests queued (inputs prepared).
        var requests = 0
        /// Passes run.
        var batches = 0
        /// Pictures in each pass, oldest first (the last 256).
        var batchSizes: [Int] = []
        /// Passes that waited for batch mates still being decoded before starting.
        var gatheringWaits = 0
        /// Requests answered with an error because their client had gone before their pass.
        var dropped = 0
    }

    var statistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        return record
    }

    /// Requests queued now, waiting for a pass (for tests that hold a pass).
    var waiting: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    /// `maxBatch`: the most pictures in one pass; `gatherWindow`: seconds a batch may wait for
    /// requests still being decoded.
    init(maxBatch: Int = Batching.maxBatch, gatherWindow: TimeInterval = Batching.gatherWindow,
         pass: @escaping @Sendable ([Input]) throws -> [Output]) {
        self.maxBatch = max(1, maxBatch)
        self.gatherWindow = gatherWindow
        self.pass = pass
    }

    /// Prepares a request's input (`prepare`: decoding and preprocessing, which may wait for the
    /// decoding budget) while announced as on its way, then queues it and returns its output.
    /// `stillWanted` is asked before its pass: false drops it with an error.
    func predict(stillWanted: @escaping @Sendable () -> Bool = { true },
                 prepare: () async throws -> Input) async throws -> Output {
        announce()
        let input: Input
        do {
            input = try await prepare()
        } catch {
            withdraw()
            throw error
        }
        return try await withCheckedThrowingContinuation { enqueue(Waiting(input: input, stillWanted: stillWanted, answer: $0)) }
    }

    /// A request on its way: counted among those a gathering batch may wait for.
    private func announce() {
        condition.lock()
        preparing += 1
        condition.unlock()
    }

    /// A request that will not come (its input failed).
    private func withdraw() {
        condition.lock()
        preparing -= 1
        condition.broadcast()  // a runner gathering need not wait for this one
        condition.unlock()
    }

    /// Queues an announced request; starts a runner when none is running (the request then
    /// goes at once, alone), else wakes the one gathering.
    private func enqueue(_ request: Waiting) {
        condition.lock()
        preparing -= 1
        queue.append(request)
        record.requests += 1
        if running {
            condition.broadcast()
        } else {
            running = true
            let thread = Thread { [self] in runBatches() }
            thread.name = "lightbox-studio-batch"
            thread.start()
        }
        condition.unlock()
    }

    /// The runner: passes while requests wait, then ends (a new request starts another).
    /// Off Swift's cooperative pool, like every model pass of the Studio (`Offload`).
    private func runBatches() {
        var first = true
        condition.lock()
        while true {
            if !first, !queue.isEmpty, queue.count < maxBatch, preparing > 0 {
                // Requests on their way: give them a moment to join this batch.
                record.gatheringWaits += 1
                let deadline = Date(timeIntervalSinceNow: gatherWindow)
                while queue.count < maxBatch, preparing > 0, condition.wait(until: deadline) {}
            }
            first = false
            var batch: [Waiting] = [], gone: [Waiting] = []
            while batch.count < maxBatch, !queue.isEmpty {
                let next = queue.removeFirst()
                if next.stillWanted() { batch.append(next) } else { gone.append(next) }
            }
            record.dropped += gone.count
            if !batch.isEmpty {
                record.batches += 1
                record.batchSizes.append(batch.count)
                if record.batchSizes.count > 256 { record.batchSizes.removeFirst() }
            }
            if batch.isEmpty, queue.isEmpty {
                running = false
                condition.unlock()
                for request in gone { request.answer.resume(throwing: Batching.clientGone) }
                return
            }
            condition.unlock()
            for request in gone { request.answer.resume(throwing: Batching.clientGone) }
            if !batch.isEmpty {
                let outcome = Result { try pass(batch.map(\.input)) }
                for (i, request) in batch.enumerated() {
                    switch outcome {
                    case .success(let outputs) where outputs.count == batch.count: request.answer.resume(returning: outputs[i])
                    case .success: request.answer.resume(throwing: StudioError(.unavailable, "the model answered a batch of \(batch.count) with another count"))
                    case .failure(let error): request.answer.resume(throwing: error)
                    }
                }
            }
            condition.lock()
        }
    }
}

/// The Studio's batching constants.
enum Batching {
    /// The most pictures in one pass: enough for both cores and beyond, small enough that a
    /// batch's inputs (600 KB each) and its pass stay short.
    static let maxBatch = 16
    /// How long a batch may wait, once the batch before it has ended, for requests still being
    /// decoded: a few milliseconds, about one picture's decoding, as Triton's small
    /// `max_queue_delay` settings. A lone request never waits for it.
    static let gatherWindow: TimeInterval = 0.003
    static var clientGone: StudioError { StudioError(.unavailable, "the client closed the connection before its prediction ran") }
}
