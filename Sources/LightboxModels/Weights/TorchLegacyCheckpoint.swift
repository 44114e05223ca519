import Foundation

/// Reads a PyTorch checkpoint in the legacy (pre-1.6, non-zip) serialization format
/// without torch: a magic-number pickle, a protocol pickle, a system-info pickle, the
/// state-dict pickle (tensors refer to storages by key), a pickle listing the storage
/// keys, then each storage as an 8-byte element count followed by raw little-endian data.
public enum TorchLegacyCheckpoint {
    /// The float tensors of the state dict in `path`, by name.
    public static func load(path: String) throws -> [String: Tensor] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WeightsError("\(path): cannot read file")
        }
        do {
            return try parse([UInt8](data))
        } catch let e as PickleReader.Failure {
            throw WeightsError("\(path): not a readable torch checkpoint (\(e.description))")
        } catch let e as WeightsError {
            throw WeightsError("\(path): \(e.description)")
        }
    }

    struct StorageRef { var key: String; var elementSize: Int; var isFloat: Bool }
    struct TensorRef { var storage: StorageRef; var offset: Int; var shape: [Int]; var strides: [Int] }

    static func parse(_ bytes: [UInt8]) throws -> [String: Tensor] {
        if bytes.starts(with: [0x50, 0x4B]) {
            throw WeightsError("zip-format torch checkpoints are not supported; expected the legacy format")
        }
        var reader = PickleReader(bytes: bytes)
        let magicValue = try reader.load()
        guard case .int = magicValue else { throw WeightsError("missing torch magic number") }
        _ = try reader.load()  // protocol version
        _ = try reader.load()  // system info (endianness, type sizes)
        let root = try reader.load()
        let keysValue = try reader.load()
        guard case .list(let keyBox) = keysValue else { throw WeightsError("storage key list missing") }

        // Raw storages follow the pickles, in the order of the key list.
        var offset = reader.position
        var storages: [String: (start: Int, count: Int)] = [:]
        let refs = try tensorRefs(in: root)
        let sizes = Dictionary(refs.values.map { ($0.storage.key, $0.storage.elementSize) }, uniquingKeysWith: { a, _ in a })
        for key in keyBox.value.compactMap(\.string) {
            guard offset + 8 <= bytes.count else { throw WeightsError("truncated storage '\(key)'") }
            var count = 0
            for i in 0..<8 { count |= Int(bytes[offset + i]) << (8 * i) }
            offset += 8
            let elementSize = sizes[key] ?? 4
            guard count >= 0, count <= (bytes.count - offset) / elementSize else {
                throw WeightsError("truncated storage '\(key)'")
            }
            storages[key] = (offset, count)
            offset += count * elementSize
        }

        var result: [String: Tensor] = [:]
        for (name, ref) in refs where ref.storage.isFloat {
            guard let storage = storages[ref.storage.key] else { throw WeightsError("storage for '\(name)' missing") }
            result[name] = try gather(ref, storage: storage, bytes: bytes, name: name)
        }
        return result
    }

    /// Copies a (possibly strided) float32 view out of its storage.
    static func gather(_ ref: TensorRef, storage: (start: Int, count: Int), bytes: [UInt8], name: String) throws -> Tensor {
        guard let count = ShapeMath.elementCount(ref.shape), ref.offset >= 0, ref.strides.allSatisfy({ $0 >= 0 }) else {
            throw WeightsError("tensor '\(name)' has an impossible shape or strides")
        }
        var maxIndex = ref.offset
        for (n, s) in zip(ref.shape, ref.strides) where n > 0 { maxIndex += (n - 1) * s }
        guard count == 0 || maxIndex < storage.count else { throw WeightsError("tensor '\(name)' reaches past its storage") }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            var index = [Int](repeating: 0, count: ref.shape.count)
            for i in 0..<count {
                var element = ref.offset
                for d in 0..<index.count { element += index[d] * ref.strides[d] }
                let bits = raw.loadUnaligned(fromByteOffset: storage.start + element * 4, as: UInt32.self)
                values[i] = Float(bitPattern: UInt32(littleEndian: bits))
                var d = index.count - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] < ref.shape[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return Tensor(shape: ref.shape, values: values)
    }

    /// The state dict's `name -> tensor` entries (a `{"state_dict": ...}` wrapper is unwrapped).
    static func tensorRefs(in root: PickleReader.Value) throws -> [String: TensorRef] {
        guard case .dict(let box) = root else { throw WeightsError("checkpoint is not a dictionary of tensors") }
        var out: [String: TensorRef] = [:]
        for (k, v) in box.value {
            guard let name = k.string else { continue }
            if name == "state_dict", case .dict = v { return try tensorRefs(in: v) }
            if let ref = tensorRef(v) { out[name] = ref }
        }
        guard !out.isEmpty else { throw WeightsError("no tensors found in checkpoint") }
        return out
    }

    /// Recognises `_rebuild_tensor_v2(storage, offset, size, stride, ...)` calls.
    static func tensorRef(_ value: PickleReader.Value) -> TensorRef? {
        guard case .call(let callable, let args) = value,
              case .global(let module, let name) = callable,
              module == "torch._utils", name == "_rebuild_tensor_v2" || name == "_rebuild_tensor",
              args.count >= 4,
              case .persistent(let pid) = args[0], let fields = pid.tupleItems, fields.count >= 3,
              case .global(_, let storageType) = fields[1], let key = fields[2].string,
              let offset = args[1].int,
              let shape = args[2].tupleItems?.compactMap(\.int),
              let strides = args[3].tupleItems?.compactMap(\.int), shape.count == strides.count
        else { return nil }
        let sizes: [String: Int] = ["FloatStorage": 4, "LongStorage": 8, "IntStorage": 4, "DoubleStorage": 8,
                                    "HalfStorage": 2, "ByteStorage": 1, "BoolStorage": 1, "ShortStorage": 2]
        return TensorRef(storage: StorageRef(key: key, elementSize: sizes[storageType] ?? 4,
                                             isFloat: storageType == "FloatStorage"),
                         offset: offset, shape: shape, strides: strides)
    }
}
