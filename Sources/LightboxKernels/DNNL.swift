import Foundation
import CDNNL

/// An in-order queue for running primitives: one per thread that runs them.
public final class DNNLStream: @unchecked Sendable {
    let stream: dnnl_stream_t

    public init() throws {
        var stream: dnnl_stream_t?
        try DNNL.check(dnnl_stream_create(&stream, DNNL.shared.engine, dnnl_stream_default_flags.rawValue), "create stream")
        self.stream = stream!
    }

    deinit { dnnl_stream_destroy(stream) }
}

/// The oneDNN CPU engine shared by every primitive in the process, and a stream for setup work.
/// oneDNN's C API changed in 3.x: everything that touches it stays in this file,
/// Convolution.swift (DNNLConvolution), DNNLDepthwiseConvolution.swift, BF16Products.swift and
/// Precision.swift.
final class DNNL: @unchecked Sendable {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    static let shared: DNNL = {
        do { return try DNNL() } catch { fatalError("oneDNN CPU engine unavailable: \(error)") }
    }()

    private init() throws {
        var engine: dnnl_engine_t?
        try DNNL.check(dnnl_engine_create(&engine, dnnl_cpu, 0), "create engine")
        var stream: dnnl_stream_t?
        try DNNL.check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "create stream")
        self.engine = engine!
        self.stream = stream!
    }

    static func check(_ status: dnnl_status_t, _ what: String) throws {
        guard status == dnnl_success else { throw KernelError("oneDNN: \(what) failed (status \(status.rawValue))") }
    }

    /// Creates a primitive descriptor under one process-wide lock. oneDNN 2.6's brgemm
    /// convolutions keep a setup value in a global (`brg_blocking_t::last_ic_block_size`, 1 for
    /// fp32 and 2 for bf16; made thread-local in oneDNN 3.1), so fp32 and bf16 convolutions set
    /// up on two threads at once (each worker building its plan) could read each other's.
    static func describe(_ create: () -> dnnl_status_t) -> dnnl_status_t {
        descriptorLock.lock()
        defer { descriptorLock.unlock() }
        return create()
    }

    private static let descriptorLock = NSLock()

    /// Primitive attributes (the caller destroys them): a sum post-op (add the destination's
    /// contents) when `sum`, then the activation, and a scratchpad of the primitive's own: the
    /// library's shared one is not safe when two threads run primitives at once.
    static func attributes(sum: Bool, activation: ConvolutionSpec.Activation) throws -> dnnl_primitive_attr_t? {
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "attributes")
        do {
            var postOps: dnnl_post_ops_t?
            try check(dnnl_post_ops_create(&postOps), "post-ops")
            defer { dnnl_post_ops_destroy(postOps) }
            if sum { try check(dnnl_post_ops_append_sum(postOps, 1.0), "sum post-op") }
            switch activation {
            case .relu6: try check(dnnl_post_ops_append_eltwise(postOps, 1.0, dnnl_eltwise_clip, 0, 6), "relu6 post-op")
            case .relu: try check(dnnl_post_ops_append_eltwise(postOps, 1.0, dnnl_eltwise_relu, 0, 0), "relu post-op")
            case .none: break
            }
            try check(dnnl_primitive_attr_set_post_ops(attr, postOps), "set post-ops")
            try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode")
        } catch {
            dnnl_primitive_attr_destroy(attr)
            throw error
        }
        return attr
    }

    /// The name of the implementation oneDNN chose for `pd` (what ONEDNN_VERBOSE prints).
    static func implementation(_ pd: dnnl_primitive_desc_t?) -> String {
        var name: UnsafePointer<CChar>?
        _ = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name)
        return name.map { String(cString: $0) } ?? "unknown"
    }

    /// A plain memory descriptor of `dims` in `tag` layout.
    static func descriptor(_ dims: [Int], _ tag: dnnl_format_tag_t, _ type: dnnl_data_type_t = dnnl_f32) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        let d = dims64(dims)
        try check(withDims(d) { dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), $0, type, tag) },
                  "memory descriptor \(dims)")
        return md
    }

    /// `dims` as oneDNN's fixed-size `dnnl_dims_t` tuple.
    static func dims64(_ dims: [Int]) -> dnnl_dims_t {
        var t: dnnl_dims_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &t) { raw in
            let p = raw.bindMemory(to: Int64.self)
            for (i, v) in dims.enumerated() { p[i] = Int64(v) }
        }
        return t
    }

    /// Passes a `dnnl_dims_t` as the pointer to its first element. (`&tuple.0` would hand
    /// over a pointer to a temporary copy of that one element in optimised builds.)
    static func withDims<R>(_ dims: dnnl_dims_t, _ body: (UnsafePointer<Int64>) throws -> R) rethrows -> R {
        var d = dims
        return try withUnsafePointer(to: &d) { try $0.withMemoryRebound(to: Int64.self, capacity: 12, body) }
    }

    /// Memory over a buffer the caller owns (nil: none yet, set before each use).
    func memory(_ md: dnnl_memory_desc_t, _ handle: UnsafeMutableRawPointer?) throws -> dnnl_memory_t {
        var md = md
        var mem: dnnl_memory_t?
        try DNNL.check(dnnl_memory_create(&mem, &md, engine, handle), "create memory")
        return mem!
    }

    /// Memory whose buffer oneDNN allocates and owns.
    func ownedMemory(_ md: dnnl_memory_desc_t) throws -> dnnl_memory_t {
        var md = md
        var mem: dnnl_memory_t?
        // DNNL_MEMORY_ALLOCATE is the cast macro ((void *)(size_t)-1).
        try DNNL.check(dnnl_memory_create(&mem, &md, engine, UnsafeMutableRawPointer(bitPattern: UInt.max)), "allocate memory")
        return mem!
    }

    /// A reorder primitive from one layout to another, to run on a stream, and its own
    /// scratchpad when it needs one (the caller destroys both; pass the scratchpad as
    /// DNNL_ARG_SCRATCHPAD). Its own, as for the convolutions: the library's shared one is not
    /// safe when two threads run primitives at once.
    func reorderPrimitive(_ fromMD: dnnl_memory_desc_t, _ toMD: dnnl_memory_desc_t) throws -> (dnnl_primitive_t, dnnl_memory_t?) {
        var a = fromMD, b = toMD
        var attr: dnnl_primitive_attr_t?
        try DNNL.check(dnnl_primitive_attr_create(&attr), "attributes")
        defer { dnnl_primitive_attr_destroy(attr) }
        try DNNL.check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode")
        var pd: dnnl_primitive_desc_t?
        try DNNL.check(dnnl_reorder_primitive_desc_create(&pd, &a, engine, &b, engine, attr), "reorder descriptor")
        defer { dnnl_primitive_desc_destroy(pd) }
        var prim: dnnl_primitive_t?
        try DNNL.check(dnnl_primitive_create(&prim, pd), "reorder primitive")
        var scratchpadMD = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)!.pointee
        let scratchpad = dnnl_memory_desc_get_size(&scratchpadMD) > 0 ? try ownedMemory(scratchpadMD) : nil
        return (prim!, scratchpad)
    }

    /// Copies `from` into `to`, converting layouts.
    func reorder(_ from: dnnl_memory_t, _ fromMD: dnnl_memory_desc_t, to: dnnl_memory_t, _ toMD: dnnl_memory_desc_t) throws {
        var a = fromMD, b = toMD
        var pd: dnnl_primitive_desc_t?
        try DNNL.check(dnnl_reorder_primitive_desc_create(&pd, &a, engine, &b, engine, nil), "reorder descriptor")
        defer { dnnl_primitive_desc_destroy(pd) }
        var prim: dnnl_primitive_t?
        try DNNL.check(dnnl_primitive_create(&prim, pd), "reorder primitive")
        defer { dnnl_primitive_destroy(prim) }
        var args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)]
        try DNNL.check(dnnl_primitive_execute(prim, stream, 2, &args), "reorder")
        try DNNL.check(dnnl_stream_wait(stream), "reorder wait")
    }
}
