/// A minimal reader for Python's pickle protocol 2, enough for torch's legacy
/// checkpoints: it builds plain values and records calls to globals (such as
/// `torch._utils._rebuild_tensor_v2`) instead of executing anything.
struct PickleReader {
    /// A reference type so that containers mutated after being memoised stay shared.
    final class Box<T> { var value: T; init(_ v: T) { value = v } }

    indirect enum Value {
        case none
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
        case bytes([UInt8])
        case tuple([Value])
        case list(Box<[Value]>)
        case dict(Box<[(Value, Value)]>)
        case global(module: String, name: String)
        /// `callable(*arguments)`, recorded, not evaluated.
        case call(callable: Value, arguments: [Value])
        /// An object standing for data outside the pickle (torch: a storage).
        case persistent(Value)
        case mark

        var string: String? { if case .string(let s) = self { return s } else { return nil } }
        var int: Int? { if case .int(let i) = self { return i } else { return nil } }
        var tupleItems: [Value]? { if case .tuple(let t) = self { return t } else { return nil } }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    private let bytes: [UInt8]
    private(set) var position: Int

    init(bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    private mutating func byte() throws -> UInt8 {
        guard position < bytes.count else { throw Failure(description: "pickle ends early at byte \(position)") }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, position + n <= bytes.count else { throw Failure(description: "pickle ends early at byte \(position)") }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    private mutating func uint(_ n: Int) throws -> UInt64 {
        var v: UInt64 = 0
        for (i, b) in try take(n).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    private mutating func line() throws -> String {
        var out: [UInt8] = []
        while true {
            let b = try byte()
            if b == 0x0A { break }
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads one pickle (up to its STOP opcode) and returns its value.
    mutating func load() throws -> Value {
        var stack: [Value] = []
        var memo: [Int: Value] = [:]

        func pop() throws -> Value {
            guard let v = stack.popLast() else { throw Failure(description: "pickle stack underflow") }
            return v
        }
        func popToMark() throws -> [Value] {
            guard let m = stack.lastIndex(where: { if case .mark = $0 { return true } else { return false } }) else {
                throw Failure(description: "pickle MARK missing")
            }
            let items = Array(stack[(m + 1)...])
            stack.removeSubrange(m...)
            return items
        }

        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                                   // PROTO
            case 0x95: _ = try take(8)                                  // FRAME
            case 0x2E: return try pop()                                 // STOP
            case 0x28: stack.append(.mark)                              // MARK
            case 0x4E: stack.append(.none)                              // NONE
            case 0x88: stack.append(.bool(true))                        // NEWTRUE
            case 0x89: stack.append(.bool(false))                       // NEWFALSE
            case 0x4B: stack.append(.int(Int(try uint(1))))             // BININT1
            case 0x4D: stack.append(.int(Int(try uint(2))))             // BININT2
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A:                                                  // LONG1
                let n = Int(try byte())
                let raw = try take(n)
                var v: Int64 = 0
                for (i, b) in raw.enumerated() where i < 8 { v |= Int64(b) << (8 * Int64(i)) }
                if n > 0 && n < 8 && (raw.last! & 0x80) != 0 { v -= Int64(1) << (8 * Int64(n)) }
                stack.append(.int(Int(v)))
            case 0x47:                                                  // BINFLOAT (big-endian)
                var v: UInt64 = 0
                for b in try take(8) { v = (v << 8) | UInt64(b) }
                stack.append(.float(Double(bitPattern: v)))
            case 0x58:                                                  // BINUNICODE
                let n = Int(try uint(4))
                stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x8C:                                                  // SHORT_BINUNICODE
                let n = Int(try byte())
                stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x55:                                                  // SHORT_BINSTRING
                let n = Int(try byte())
                stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x54:                                                  // BINSTRING
                let n = Int(try uint(4))
                stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x43:                                                  // SHORT_BINBYTES
                let n = Int(try byte())
                stack.append(.bytes(Array(try take(n))))
            case 0x42:                                                  // BINBYTES
                let n = Int(try uint(4))
                stack.append(.bytes(Array(try take(n))))
            case 0x29: stack.append(.tuple([]))                         // EMPTY_TUPLE
            case 0x85: stack.append(.tuple([try pop()]))                // TUPLE1
            case 0x86:                                                  // TUPLE2
                let b = try pop(), a = try pop()
                stack.append(.tuple([a, b]))
            case 0x87:                                                  // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                stack.append(.tuple([a, b, c]))
            case 0x74: stack.append(.tuple(try popToMark()))            // TUPLE
            case 0x5D: stack.append(.list(Box([])))                     // EMPTY_LIST
            case 0x6C: stack.append(.list(Box(try popToMark())))        // LIST
            case 0x7D: stack.append(.dict(Box([])))                     // EMPTY_DICT
            case 0x61:                                                  // APPEND
                let v = try pop()
                guard case .list(let l) = stack.last else { throw Failure(description: "APPEND to a non-list") }
                l.value.append(v)
            case 0x65:                                                  // APPENDS
                let items = try popToMark()
                guard case .list(let l) = stack.last else { throw Failure(description: "APPENDS to a non-list") }
                l.value += items
            case 0x73:                                                  // SETITEM
                let v = try pop(), k = try pop()
                guard case .dict(let d) = stack.last else { throw Failure(description: "SETITEM on a non-dict") }
                d.value.append((k, v))
            case 0x75:                                                  // SETITEMS
                let items = try popToMark()
                guard items.count % 2 == 0, case .dict(let d) = stack.last else {
                    throw Failure(description: "SETITEMS on a non-dict")
                }
                for i in stride(from: 0, to: items.count, by: 2) { d.value.append((items[i], items[i + 1])) }
            case 0x63:                                                  // GLOBAL
                let module = try line(), name = try line()
                stack.append(.global(module: module, name: name))
            case 0x93:                                                  // STACK_GLOBAL
                let name = try pop(), module = try pop()
                stack.append(.global(module: module.string ?? "", name: name.string ?? ""))
            case 0x52:                                                  // REDUCE
                let args = try pop(), callable = try pop()
                if case .global(let module, let name) = callable,
                   module == "collections", name == "OrderedDict" {
                    stack.append(.dict(Box([])))
                } else {
                    stack.append(.call(callable: callable, arguments: args.tupleItems ?? [args]))
                }
            case 0x81:                                                  // NEWOBJ
                let args = try pop(), cls = try pop()
                stack.append(.call(callable: cls, arguments: args.tupleItems ?? [args]))
            case 0x62: _ = try pop()                                    // BUILD: object state is not needed
            case 0x51: stack.append(.persistent(try pop()))             // BINPERSID
            case 0x71:                                                  // BINPUT
                memo[Int(try byte())] = stack.last
            case 0x72:                                                  // LONG_BINPUT
                memo[Int(try uint(4))] = stack.last
            case 0x94: memo[memo.count] = stack.last                    // MEMOIZE
            case 0x68, 0x6A:                                            // BINGET, LONG_BINGET
                let key = op == 0x68 ? Int(try byte()) : Int(try uint(4))
                guard let v = memo[key] else { throw Failure(description: "pickle memo \(key) missing") }
                stack.append(v)
            case 0x30: _ = try pop()                                    // POP
            case 0x32: stack.append(stack.last ?? .none)                // DUP
            default:
                throw Failure(description: String(format: "unsupported pickle opcode 0x%02X at byte %d", op, position - 1))
            }
        }
    }
}
