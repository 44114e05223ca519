import COpenSSL
import Foundation

/// SHA-256 digests through OpenSSL's libcrypto.
public enum SHA256 {
    public static func hex(_ data: Data) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = data.withUnsafeBytes { raw in
            EVP_Digest(raw.baseAddress, raw.count, &digest, &length, EVP_sha256(), nil)
        }
        precondition(ok == 1, "OpenSSL SHA-256 failed")
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}
