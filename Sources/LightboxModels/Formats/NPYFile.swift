import Foundation

/// NumPy's `.npy` format (version 1.0) for little-endian float32 arrays.
public enum NPYFile {
    public static func encode(_ values: [Float], shape: [Int]) -> Data {
        precondition(shape.reduce(1, *) == values.count)
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        // magic (6) + version (2) + length (2) + header + newline must be a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        out.append(contentsOf: Array(header.utf8))
        values.withUnsafeBytes { out.append(contentsOf: $0) }
        return out
    }

    /// Reads a float32 little-endian C-order `.npy` file.
    public static func decode(_ data: Data, source: String) throws -> (values: [Float], shape: [Int]) {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes.starts(with: [0x93] + Array("NUMPY".utf8)) else {
            throw WeightsError("\(source): not a .npy file")
        }
        let major = bytes[6]
        guard major == 1 || bytes.count >= 12 else { throw WeightsError("\(source): truncated .npy header") }
        let headerLength = major == 1 ? Int(bytes[8]) | Int(bytes[9]) << 8
                                      : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        let start = major == 1 ? 10 : 12
        guard start + headerLength <= bytes.count else { throw WeightsError("\(source): truncated .npy header") }
        let header = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
        guard header.contains("'<f4'"), header.contains("'fortran_order': False"),
              let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw WeightsError("\(source): only little-endian float32 C-order .npy files are supported")
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let dataStart = start + headerLength
        guard let count = ShapeMath.elementCount(shape), bytes.count - dataStart == count * 4 else { throw WeightsError("\(source): data does not match shape \(shape)") }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[dataStart...])) }
        }
        return (values, shape)
    }
}
