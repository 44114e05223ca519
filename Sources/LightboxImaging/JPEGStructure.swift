/// A JPEG's marker structure, walked without decoding: whether the data reaches its end
/// (a file cut short does not), and whether libjpeg will hold the whole picture's DCT
/// coefficients in memory while decoding it.
enum JPEGStructure {
    /// Whether walking `jpeg`'s segments and entropy-coded data reaches an EOI marker.
    /// Segments are skipped by their declared length (an EXIF thumbnail's own EOI inside
    /// APP1 does not count); in scan data, stuffed zeros and restart markers are passed over.
    static func reachesEndOfImage(_ d: [UInt8]) -> Bool {
        var i = 2  // after SOI
        while i + 1 < d.count {
            guard d[i] == 0xFF else { i += 1; continue }  // scan data, or stray bytes libjpeg skips
            switch d[i + 1] {
            case 0xD9: return true
            case 0xFF: i += 1                             // fill byte before a marker
            case 0x00, 0x01, 0xD0...0xD8: i += 2          // stuffed zero, TEM, RSTn, SOI: no length
            default:
                guard i + 3 < d.count else { return false }
                i += 2 + (Int(d[i + 2]) << 8 | Int(d[i + 3]))
            }
        }
        return false
    }

    /// Whether the frame is decoded in several scans (progressive, or a first scan that does
    /// not hold every component): libjpeg then keeps every coefficient of the whole picture
    /// (2 bytes per sample of each component) until the last scan. True when the structure
    /// cannot be read, so that estimates stay on the safe side.
    static func isMultiScan(_ d: [UInt8]) -> Bool {
        var i = 2
        var frameComponents: Int?
        while i + 3 < d.count {
            guard d[i] == 0xFF else { i += 1; continue }
            let marker = d[i + 1]
            if marker == 0xFF { i += 1; continue }
            let length = Int(d[i + 2]) << 8 | Int(d[i + 3])
            switch marker {
            case 0xC2, 0xC6, 0xCA, 0xCE:                  // progressive frames
                return true
            case 0xC0, 0xC1, 0xC3, 0xC5, 0xC7, 0xC9, 0xCB, 0xCD, 0xCF:  // sequential frames
                guard i + 9 < d.count else { return true }
                frameComponents = Int(d[i + 9])
            case 0xDA:                                    // the first scan
                guard let frameComponents, i + 4 < d.count else { return true }
                return Int(d[i + 4]) < frameComponents
            case 0xD9:
                return true
            default:
                break
            }
            i += 2 + length
        }
        return true
    }
}
