import Foundation
import LightboxCore
import LightboxImaging
import LightboxModels

/// `lightbox lungs`: each picture's lung box in its own pixels, and with an overlay folder each
/// picture with its box drawn.
public enum LungsRun {
    /// One picture's answer as `--json` prints it.
    public struct Record: Encodable, Sendable {
        public var path: String
        /// `[x0, y0, x1, y1]` in the picture's own pixels (upright), rounded to 0.1 pixel.
        public var box: [Double]
        public var width: Int
        public var height: Int
        /// The overlay written, when asked.
        public var overlay: String?

        public init(_ located: LungFinder.Located, overlay: String? = nil) {
            path = located.path
            box = located.box.pixels(width: located.width, height: located.height).map { ($0 * 10).rounded() / 10 }
            width = located.width
            height = located.height
            self.overlay = overlay
        }
    }

    /// The PNG of the picture `path` (decoded at up to `maxSide` pixels on its longer side where
    /// the decoder can reduce it) with `box` drawn.
    public static func overlayPNG(_ path: String, box: LungBox, decoder: ImageDecoder, maxSide: Int = 1024) throws -> Data {
        let image = try decoder.decode(file: path, reduceFor: DecodeTarget(size: maxSide, policy: .pad))
        return try PNGEncoder.encode(box.drawn(on: image))
    }
}
