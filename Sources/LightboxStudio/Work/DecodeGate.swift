import Foundation
import LightboxImaging
import Synchronization

/// Admits image decodes a few at a time and within a memory budget. A picture's cost is read
/// from its header before any pixel buffer exists (a 48 KB PNG can declare 50 megapixels and
/// need 750 MB to decode); one that could never fit is refused with 413, others wait their
/// turn, and the decoding itself runs off the request threads.
final class DecodeGate: Sendable {
    let decoder: ImageDecoder
    let budgetBytes: Int
    private let admission: Admission

    init(budgetBytes: Int, concurrency: Int, maxPixels: Int, maxWaiting: Int = 64) {
        decoder = ImageDecoder(maxPixels: maxPixels, dicomWindow: .first)
        self.budgetBytes = budgetBytes
        admission = Admission(capacity: budgetBytes, slots: max(1, concurrency), maxWaiting: maxWaiting)
    }

    /// Decodes `data` (named `name` in errors) and returns the decoded picture's size.
    func decode(_ data: [UInt8], name: String, stillWanted: @escaping @Sendable () -> Bool = { true }) async throws -> (width: Int, height: Int) {
        let decoder = self.decoder
        return try await admit(data, name: name, stillWanted: stillWanted) {
            let image = try Self.badRequest { try decoder.decode(data: data, path: name) }
            return (image.width, image.height)
        }
    }

    /// Runs `work` (which decodes the picture in `data`) under the same admission rules. When its
    /// turn comes and `stillWanted` says the client has gone, the work is dropped (and counted in
    /// `dropped`) instead of run for nobody.
    func admit<T: Sendable>(_ data: [UInt8], name: String, stillWanted: @escaping @Sendable () -> Bool = { true },
                            _ work: @escaping @Sendable () throws -> T) async throws -> T {
        let cost = try cost(data, name: name)
        try await admission.acquire(cost)
        guard stillWanted() else {
            await admission.release(cost)
            droppedCount.add(1, ordering: .relaxed)
            throw StudioError(.unavailable, "\(name): the client closed the connection before decoding began")
        }
        do {
            let value = try await Offload.run(work)
            await admission.release(cost)
            return value
        } catch {
            await admission.release(cost)
            throw error
        }
    }

    /// Runs `work` (which decodes the picture in `data`) under the same admission rules, for a
    /// caller on a thread of its own (the import queue): waiting blocks that thread, never a
    /// request thread, so an import and uploads together stay within the budget. Never call it
    /// from an async context. The import waits however many uploads are queued (the cap on
    /// waiters is for requests, which would pile up; the one import queue cannot).
    func admitWaiting<T>(_ data: [UInt8], name: String, _ work: () throws -> T) throws -> T {
        let cost = try cost(data, name: name)
        let admitted = DispatchSemaphore(value: 0)
        let refusal = Refusal()
        let admission = self.admission
        Task {
            do { try await admission.acquire(cost, capped: false) } catch { refusal.error = error }
            admitted.signal()
        }
        admitted.wait()
        if let error = refusal.error { throw error }
        defer { Task { await admission.release(cost) } }
        return try work()
    }

    /// The admission counter, for tests that hold the budget.
    var admissionForTests: Admission { admission }

    /// How many decodes were dropped because their client had gone.
    var dropped: Int { droppedCount.load(ordering: .relaxed) }
    private let droppedCount = Atomic<Int>(0)

    /// Why an admission was refused, handed from the admitting task to the waiting thread.
    private final class Refusal: @unchecked Sendable { var error: Error? }

    /// The bytes decoding `data` would take, from its header; 413 above the whole budget.
    func cost(_ data: [UInt8], name: String) throws -> Int {
        let header = try Self.badRequest { try decoder.probe(data: data, path: name) }
        guard header.decodeBytes <= budgetBytes else {
            throw StudioError(.tooLarge, "\(name): a \(header.width)x\(header.height) picture needs about \(header.decodeBytes >> 20) MiB to decode; this server's decoding budget is \(budgetBytes >> 20) MiB (--decode-memory-mb)")
        }
        return header.decodeBytes
    }

    static func badRequest<T>(_ work: () throws -> T) throws -> T {
        do { return try work() } catch let e as ImageDecodingError {
            if case .tooLarge = e.reason { throw StudioError(.tooLarge, "\(e)") }
            throw StudioError(.badRequest, "\(e)")
        }
    }

    /// Counts bytes and slots in use; waiters are admitted in order as others finish.
    actor Admission {
        let capacity: Int, slots: Int, maxWaiting: Int
        var used = 0, running = 0
        var waiting: [(cost: Int, continuation: CheckedContinuation<Void, Never>)] = []

        init(capacity: Int, slots: Int, maxWaiting: Int) {
            self.capacity = capacity
            self.slots = slots
            self.maxWaiting = maxWaiting
        }

        /// `capped`: refuse (503) when `maxWaiting` others already wait.
        func acquire(_ cost: Int, capped: Bool = true) async throws {
            if waiting.isEmpty, used + cost <= capacity, running < slots {
                used += cost
                running += 1
                return
            }
            guard !capped || waiting.count < maxWaiting else {
                throw StudioError(.unavailable, "the server is busy decoding other images; try again shortly")
            }
            await withCheckedContinuation { waiting.append((cost, $0)) }
        }

        func release(_ cost: Int) {
            used -= cost
            running -= 1
            while let next = waiting.first, used + next.cost <= capacity, running < slots {
                waiting.removeFirst()
                used += next.cost
                running += 1
                next.continuation.resume()
            }
        }
    }
}
