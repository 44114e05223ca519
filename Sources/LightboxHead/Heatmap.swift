import Foundation
import LightboxImaging

/// Grad-CAM through the head: where in the last feature map the evidence for a class lies.
/// The embedding is the mean of the 7x7 feature map, so each position's share of the class
/// probability's gradient is `sum_k dP/de_k * F(position, k) / positions`; negative
/// evidence is cut at zero and the map scaled to 0...1.
public enum Heatmap {
    /// `featureMap`: `[positions, channels]` for one image (NHWC, one image).
    public static func gradCAM(head: DenseHead, featureMap: [Float], side: Int, target: Int) -> [Float] {
        let channels = head.inputs, positions = side * side
        precondition(featureMap.count == positions * channels)
        var embedding = [Float](repeating: 0, count: channels)
        for p in 0..<positions { for k in 0..<channels { embedding[k] += featureMap[p * channels + k] / Float(positions) } }
        return gradCAM(gradient: head.gradientOfProbability(embedding, target: target), featureMap: featureMap, side: side)
    }

    /// Grad-CAM from the gradient of the class probability with respect to the pooled
    /// embedding (any head on a globally averaged feature map), scaled to 0...1.
    public static func gradCAM(gradient: [Float], featureMap: [Float], side: Int) -> [Float] {
        let channels = gradient.count, positions = side * side
        precondition(featureMap.count == positions * channels)
        var cam = (0..<positions).map { p -> Float in
            var s: Float = 0
            for k in 0..<channels { s += gradient[k] * featureMap[p * channels + k] }
            return max(0, s / Float(positions))
        }
        let top = cam.max() ?? 0
        if top > 0 { cam = cam.map { $0 / top } }
        return cam
    }

    /// The picture with the heatmap blended over it (a blue-to-red colour scale, stronger
    /// where the map is high), scaled by `scale`.
    public static func overlay(_ picture: RGBImage, cam: [Float], side: Int, scale: Int = 2) -> RGBImage {
        let w = picture.width * scale, h = picture.height * scale
        let base = Resampler.resize(picture, width: w, height: h)
        let map = Resampler.resize(RGBImage(width: side, height: side, pixels: cam.flatMap { [$0, $0, $0] }), width: w, height: h)
        var out = base.pixels
        for i in 0..<(w * h) {
            let v = min(max(map.pixels[i * 3], 0), 1)
            let color = jet(v)
            let alpha = 0.15 + 0.45 * v
            let grey = (base.pixels[i * 3] + base.pixels[i * 3 + 1] + base.pixels[i * 3 + 2]) / 3
            for c in 0..<3 { out[i * 3 + c] = grey * (1 - alpha) + color[c] * alpha }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    static func jet(_ v: Float) -> [Float] {
        func ramp(_ x: Float) -> Float { min(max(1.5 - abs(4 * v - x), 0), 1) * 255 }
        return [ramp(3), ramp(2), ramp(1)]
    }
}
