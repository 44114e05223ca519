import CHDF5
import Foundation
import LightboxCore
import LightboxModels

/// The little of HDF5 (Debian's libhdf5, C API) that a Keras `.h5` file needs: groups, string
/// and string-list attributes, float32 datasets. The file is built in memory (HDF5's core
/// driver) and handed over as bytes, so that it reaches the disk through AtomicFile like every
/// other export. Every call is checked; a failure throws an error naming the file. libhdf5 is
/// the serial build: one writer at a time (`lock`).
final class HDF5Writer {
    static let lock = NSLock()
    let path: String
    private let file: hid_t
    private var groups: [hid_t] = []
    private var closed = false

    /// `path` names the file in errors; nothing is written to it.
    init(naming path: String) throws {
        lightbox_h5_quiet()
        self.path = path
        let access = H5Pcreate(lightbox_h5p_file_access())
        defer { H5Pclose(access) }
        H5Pset_fapl_core(access, 1 << 20, false)  // in memory, no backing file
        file = H5Fcreate(path, lightbox_h5f_acc_trunc(), hid_t(H5P_DEFAULT), access)
        guard file >= 0 else { throw WeightsError("\(path): cannot create the HDF5 file") }
    }

    deinit { close() }

    /// The complete file's bytes.
    func image() throws -> Data {
        guard H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0 else { throw failure("the file") }
        let size = H5Fget_file_image(file, nil, 0)
        guard size > 0 else { throw failure("the file") }
        var data = Data(count: size)
        let written = data.withUnsafeMutableBytes { H5Fget_file_image(file, $0.baseAddress, size) }
        guard written == size else { throw failure("the file") }
        return data
    }

    func close() {
        guard !closed else { return }
        closed = true
        for id in groups.reversed() { H5Gclose(id) }
        H5Fclose(file)
    }

    /// The root group.
    var root: hid_t { file }

    func group(_ name: String, in parent: hid_t) throws -> hid_t {
        let id = H5Gcreate2(parent, name, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        guard id >= 0 else { throw failure("group \(name)") }
        groups.append(id)
        return id
    }

    /// A variable-length UTF-8 string attribute (as h5py writes a Python `str`): no 64 KiB limit,
    /// which a model's JSON configuration exceeds.
    func attribute(_ name: String, string value: String, on object: hid_t) throws {
        let type = H5Tcopy(lightbox_h5t_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, lightbox_h5t_variable())
        H5Tset_cset(type, H5T_CSET_UTF8)
        let space = H5Screate(H5S_SCALAR)
        defer { H5Sclose(space) }
        let attribute = H5Acreate2(object, name, type, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        guard attribute >= 0 else { throw failure("attribute \(name)") }
        defer { H5Aclose(attribute) }
        let status = value.withCString { text -> herr_t in
            var pointer: UnsafePointer<CChar>? = text
            return H5Awrite(attribute, type, &pointer)
        }
        guard status >= 0 else { throw failure("attribute \(name)") }
    }

    /// A one-dimensional attribute of fixed-length byte strings (as Keras writes `layer_names`
    /// and `weight_names`: a NumPy array of `bytes`).
    func attribute(_ name: String, strings values: [String], on object: hid_t) throws {
        let width = max(1, values.map(\.utf8.count).max() ?? 1)
        var buffer = [CChar](repeating: 0, count: width * max(1, values.count))
        for (i, v) in values.enumerated() { for (j, b) in v.utf8.enumerated() { buffer[i * width + j] = CChar(bitPattern: b) } }
        let type = H5Tcopy(lightbox_h5t_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, width)
        H5Tset_strpad(type, H5T_STR_NULLPAD)
        var dims = [hsize_t(values.count)]
        let space = H5Screate_simple(1, &dims, nil)
        defer { H5Sclose(space) }
        let attribute = H5Acreate2(object, name, type, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        guard attribute >= 0 else { throw failure("attribute \(name)") }
        defer { H5Aclose(attribute) }
        guard H5Awrite(attribute, type, buffer) >= 0 else { throw failure("attribute \(name)") }
    }

    /// A float32 dataset; `name` may hold slashes (intermediate groups are made).
    func dataset(_ name: String, shape: [Int], values: [Float], in parent: hid_t) throws {
        precondition(shape.reduce(1, *) == values.count)
        let links = H5Pcreate(lightbox_h5p_link_create())
        defer { H5Pclose(links) }
        H5Pset_create_intermediate_group(links, 1)
        var dims = shape.map { hsize_t($0) }
        let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), &dims, nil)
        defer { H5Sclose(space) }
        let set = H5Dcreate2(parent, name, lightbox_h5t_ieee_f32le(), space, links, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        guard set >= 0 else { throw failure("dataset \(name)") }
        defer { H5Dclose(set) }
        let status = values.withUnsafeBufferPointer {
            H5Dwrite(set, lightbox_h5t_native_float(), hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), $0.baseAddress)
        }
        guard status >= 0 else { throw failure("dataset \(name)") }
    }

    private func failure(_ what: String) -> WeightsError {
        WeightsError("\(path): HDF5 could not write \(what)")
    }
}
