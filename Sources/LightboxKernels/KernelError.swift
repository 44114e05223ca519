/// A native kernel library refused an operation.
public struct KernelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
