import Foundation

/// The safetensors format: an 8-byte little-endian header length, a JSON header
/// (`name -> {dtype, shape, data_offsets}`, plus optional `__metadata__`), then raw
/// little-endian data. Only F32 tensors are written or read.
public enum SafeTensors {
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            let size = t.values.count * 4
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + size]]
            offset += size
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (json.count + 8) % 8 != 0 { json.append(0x20) }  // pad so the data is 8-byte aligned
        var out = Data()
        var length = UInt64(json.count).littleEndian
        out.append(Data(bytes: &length, count: 8))
        out.append(json)
        for name in names {
            tensors[name]!.values.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        return out
    }

    public static func decode(_ data: Data, source: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw WeightsError("\(source): too short to be a safetensors file") }
        var length = 0
        for i in 0..<8 { length |= Int(bytes[i]) << (8 * i) }
        guard length > 0, length <= bytes.count - 8 else {  // (8 + length could overflow)
            // The length is the file's first 8 bytes: not quoted (no error quotes a file's bytes).
            throw WeightsError("\(source): the safetensors header length (its first 8 bytes) does not fit the file (\(bytes.count) bytes)")
        }
        let headerObject: Any
        do {
            headerObject = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)]))
        } catch {
            throw WeightsError("\(source): safetensors header is not valid JSON")
        }
        guard let header = headerObject as? [String: Any] else { throw WeightsError("\(source): safetensors header is not an object") }
        let dataStart = 8 + length
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (name, entry) in header {
            if name == "__metadata__" {
                metadata = entry as? [String: String] ?? [:]
                continue
            }
            guard let e = entry as? [String: Any], let dtype = e["dtype"] as? String,
                  let shape = e["shape"] as? [Int], let offsets = e["data_offsets"] as? [Int], offsets.count == 2 else {
                throw WeightsError("\(source): malformed header entry for '\(name)'")
            }
            guard dtype == "F32" else { throw WeightsError("\(source): tensor '\(name)' has dtype \(dtype), only F32 is supported") }
            guard let count = ShapeMath.elementCount(shape), offsets[0] >= 0, offsets[1] >= offsets[0],
                  offsets[1] - offsets[0] == count * 4, offsets[1] <= bytes.count - dataStart else {
                throw WeightsError("\(source): tensor '\(name)' (shape \(shape)) does not fit the file: truncated or corrupt")
            }
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { dst in
                bytes.withUnsafeBytes { src in
                    dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(dataStart + offsets[0])..<(dataStart + offsets[1])]))
                }
            }
            tensors[name] = Tensor(shape: shape, values: values)
        }
        return (tensors, metadata)
    }
}
