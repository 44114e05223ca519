extension RGBImage {
    /// The pixels of `region` (which must lie within the picture) as a picture of their own.
    public func cropped(to region: Resampler.Region) -> RGBImage {
        precondition(region.x >= 0 && region.y >= 0 && region.width > 0 && region.height > 0
                     && region.x + region.width <= width && region.y + region.height <= height)
        if region == Resampler.Region(x: 0, y: 0, width: width, height: height) { return self }
        var out = [Float](repeating: 0, count: region.width * region.height * 3)
        let row = region.width * 3
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<region.height {
                    let from = ((region.y + y) * width + region.x) * 3
                    for i in 0..<row { dst[y * row + i] = src[from + i] }
                }
            }
        }
        return RGBImage(width: region.width, height: region.height, pixels: out)
    }
}
