/// A JPEG's EXIF orientation (tag 0x0112): how the stored pixels must be turned to show the
/// picture upright, as cameras and phones record it.
enum ExifOrientation {
    /// The orientation 1...8 in `jpeg`'s APP1 Exif segment, or nil (no Exif, or unreadable).
    static func read(_ jpeg: [UInt8]) -> Int? {
        var i = 2  // after SOI
        while i + 4 <= jpeg.count, jpeg[i] == 0xFF {
            let marker = jpeg[i + 1]
            if marker == 0xDA || marker == 0xD9 { return nil }  // image data or end: no Exif before it
            let length = Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3])
            guard length >= 2, i + 2 + length <= jpeg.count else { return nil }
            if marker == 0xE1, length >= 16, Array(jpeg[(i + 4)..<(i + 10)]) == Array("Exif\0\0".utf8) {
                return orientation(tiff: Array(jpeg[(i + 10)..<(i + 2 + length)]))
            }
            i += 2 + length
        }
        return nil
    }

    private static func orientation(tiff t: [UInt8]) -> Int? {
        guard t.count >= 8 else { return nil }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ o: Int) -> Int? {
            guard o + 2 <= t.count else { return nil }
            return little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let a = u16(o), let b = u16(o + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard let ifd = u32(4), let count = u16(ifd) else { return nil }
        for k in 0..<min(count, 512) {
            let entry = ifd + 2 + k * 12
            guard let tag = u16(entry) else { return nil }
            if tag == 0x0112, let value = u16(entry + 8), (1...8).contains(value) { return value }
        }
        return nil
    }

    /// `image` turned upright for orientation `o` (EXIF's eight cases: mirrors and rotations).
    static func apply(_ o: Int, to image: RGBImage) -> RGBImage {
        guard o >= 2 && o <= 8 else { return image }
        let w = image.width, h = image.height
        let swap = o >= 5
        let ow = swap ? h : w, oh = swap ? w : h
        var out = [Float](repeating: 0, count: image.pixels.count)
        for y in 0..<oh {
            for x in 0..<ow {
                // Source pixel for output (x, y).
                let (sx, sy): (Int, Int)
                switch o {
                case 2: (sx, sy) = (w - 1 - x, y)            // mirror horizontally
                case 3: (sx, sy) = (w - 1 - x, h - 1 - y)    // rotate 180
                case 4: (sx, sy) = (x, h - 1 - y)            // mirror vertically
                case 5: (sx, sy) = (y, x)                    // transpose
                case 6: (sx, sy) = (y, h - 1 - x)            // rotate 90 clockwise
                case 7: (sx, sy) = (w - 1 - y, h - 1 - x)    // transverse
                default: (sx, sy) = (w - 1 - y, x)           // 8: rotate 90 counter-clockwise
                }
                for c in 0..<3 { out[(y * ow + x) * 3 + c] = image.pixels[(sy * w + sx) * 3 + c] }
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }
}
