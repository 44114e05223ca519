import Foundation
import LightboxCore
import LightboxImaging

/// How much of a Grad-CAM heatmap falls inside a box of the model's input square: each cell of
/// the `side` x `side` map counts with the share of its area the box covers.
public enum HeatmapMass {
    /// The share of `cam`'s mass (`side` x `side`, row by row, non-negative) inside `box`
    /// (fractions of the input square); nil when the map is zero everywhere.
    public static func share(cam: [Float], side: Int, box: LungBox) -> Double? {
        guard side > 0, cam.count == side * side else { return nil }
        let b = box.clamped(), n = Double(side)
        func overlap(_ cell: Int, _ from: Double, _ to: Double) -> Double {
            max(0, min(Double(cell + 1) / n, to) - max(Double(cell) / n, from)) * n
        }
        var inside = 0.0, total = 0.0
        for y in 0..<side {
            let oy = overlap(y, b.y0, b.y1)
            for x in 0..<side {
                let v = Double(max(0, cam[y * side + x]))
                total += v
                inside += v * oy * overlap(x, b.x0, b.x1)
            }
        }
        return total > 0 ? inside / total : nil
    }

    /// The mean mass inside the lungs over the pictures with a heatmap, its 95% interval from
    /// 1,000 resamplings of the patients (`groups[i]` is picture i's), and the baseline: the
    /// mean share of the input the boxes cover.
    static func summary(_ pictures: [ShortcutAudit.Picture], groups: [String]) -> ShortcutAudit.HeatmapMassSummary? {
        let rows = pictures.indices.filter { pictures[$0].heatmapMassInLungs != nil }
        guard !rows.isEmpty else { return nil }
        let mass = rows.map { pictures[$0].heatmapMassInLungs! }, share = rows.map { pictures[$0].boxShareOfInput }
        let mean = mass.reduce(0, +) / Double(mass.count), baseline = share.reduce(0, +) / Double(share.count)
        var byPatient: [String: [Int]] = [:]
        for (r, i) in rows.enumerated() { byPatient[groups[i], default: []].append(r) }
        let patients = byPatient.keys.sorted().map { byPatient[$0]! }
        var interval: [Double]?
        if patients.count >= 2 {
            var generator = SeededGenerator(seed: 42, stream: "heatmap mass in lungs")
            var means: [Double] = []
            for _ in 0..<1000 {
                var sum = 0.0, count = 0
                for _ in patients.indices {
                    let members = patients[Int(generator.next() % UInt64(patients.count))]
                    for r in members { sum += mass[r] }
                    count += members.count
                }
                means.append(sum / Double(count))
            }
            means.sort()
            interval = [means[24], means[974]]
        }
        let intervalText = interval.map { String(format: " (95%% interval %.0f-%.0f%%, resampling patients)", $0[0] * 100, $0[1] * 100) } ?? ""
        // Points above the baseline, said as they are: a few points over an even spread is not
        // "looking at the lungs".
        let points = (mean - baseline) * 100
        let reading = (interval?[0] ?? mean) <= baseline
            ? "not clearly more than an even spread would put there, so the model's evidence is not gathered on the lungs"
            : points < 10
            ? String(format: "%.0f points more than an even spread would put there, little more than spreading evenly", points)
            : String(format: "%.0f points more than an even spread would put there: the model's evidence gathers on the lungs' region", points)
        let text = String(format: "On average %.0f%% of a picture's heatmap falls inside its predicted lung box%@, whose area is %.0f%% of the model's input on average (what a heatmap spread evenly would put inside): %@. Where a model looks is not proof of what it reads.",
                          mean * 100, intervalText, baseline * 100, reading)
        return ShortcutAudit.HeatmapMassSummary(nImages: mass.count, mean: mean, interval: interval, baseline: baseline, text: text)
    }
}
