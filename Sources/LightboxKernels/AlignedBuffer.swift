import Foundation

/// A 64-byte-aligned float buffer (one AVX-512 line), owned by this object.
public final class AlignedBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let status = posix_memalign(&raw, 64, max(count, 1) * MemoryLayout<Float>.stride)
        precondition(status == 0 && raw != nil, "out of memory allocating \(count) floats")
        pointer = raw!.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { free(pointer) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}
