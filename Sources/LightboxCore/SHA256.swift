import COpenSSL
import Foundation

/// SHA-256 digests through OpenSSL's libcrypto.
public enum SHA256 {
    /// The 32-byte digest.
    public static func digest(_ data: Data) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = data.withUnsafeBytes { raw in
            EVP_Digest(raw.baseAddress, raw.count, &digest, &length, EVP_sha256(), nil)
        }
        precondition(ok == 1, "OpenSSL SHA-256 failed")
        return digest
    }

    /// The digest as 64 lowercase hex digits.
    public static func hex(_ data: Data) -> String {
        digest(data).map { String(format: "%02x", $0) }.joined()
    }
}

/// HMAC (RFC 2104) over OpenSSL's SHA-256.
public enum HMACSHA256 {
    public static func hex(key: [UInt8], message: [UInt8]) -> String {
        digest(key: key, message: message).map { String(format: "%02x", $0) }.joined()
    }

    public static func digest(key: [UInt8], message: [UInt8]) -> [UInt8] {
        let block = 64
        var k = key.count > block ? SHA256.digest(Data(key)) : key
        k += [UInt8](repeating: 0, count: block - k.count)
        let inner = SHA256.digest(Data(k.map { $0 ^ 0x36 } + message))
        return SHA256.digest(Data(k.map { $0 ^ 0x5c } + inner))
    }
}
