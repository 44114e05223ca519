import Foundation

/// Minimal inline-SVG charts for the self-contained report.
enum SVGChart {
    struct Series {
        var name: String
        var color: String
        var points: [(Double, Double)]
        var dashed = false
    }

    /// A line chart with axes, ticks and a legend.
    static func lines(_ series: [Series], xLabel: String, yLabel: String, yRange: ClosedRange<Double>? = nil,
                      xRange: ClosedRange<Double>? = nil, width: Double = 460, height: Double = 280, square: Bool = false) -> String {
        let all = series.flatMap(\.points)
        guard !all.isEmpty else { return "<p>(no data)</p>" }
        let xr = xRange ?? (all.map(\.0).min()!...max(all.map(\.0).max()!, all.map(\.0).min()! + 1))
        var yr = yRange ?? (min(0, all.map(\.1).min()!)...max(all.map(\.1).max()!, 1e-9))
        if yr.upperBound == yr.lowerBound { yr = yr.lowerBound...(yr.lowerBound + 1) }
        let left = 52.0, right = 12.0, top = 12.0, bottom = 40.0
        let w = width - left - right, h = height - top - bottom
        func x(_ v: Double) -> Double { left + (v - xr.lowerBound) / (xr.upperBound - xr.lowerBound) * w }
        func y(_ v: Double) -> Double { top + h - (v - yr.lowerBound) / (yr.upperBound - yr.lowerBound) * h }
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height))' viewBox='0 0 \(Int(width)) \(Int(height))' role='img'>"
        svg += "<rect x='\(left)' y='\(top)' width='\(w)' height='\(h)' fill='#fafafa' stroke='#999'/>"
        for i in 0...4 {
            let fy = yr.lowerBound + Double(i) / 4 * (yr.upperBound - yr.lowerBound)
            let fx = xr.lowerBound + Double(i) / 4 * (xr.upperBound - xr.lowerBound)
            svg += "<line x1='\(left)' x2='\(left + w)' y1='\(y(fy))' y2='\(y(fy))' stroke='#e3e3e3'/>"
            svg += "<text x='\(left - 6)' y='\(y(fy) + 4)' font-size='11' text-anchor='end'>\(format(fy))</text>"
            svg += "<text x='\(x(fx))' y='\(top + h + 16)' font-size='11' text-anchor='middle'>\(format(fx))</text>"
        }
        svg += "<text x='\(left + w / 2)' y='\(height - 6)' font-size='12' text-anchor='middle'>\(HTML.escape(xLabel))</text>"
        svg += "<text x='14' y='\(top + h / 2)' font-size='12' text-anchor='middle' transform='rotate(-90 14 \(top + h / 2))'>\(HTML.escape(yLabel))</text>"
        for (n, s) in series.enumerated() {
            let path = s.points.map { "\(format2(x($0.0))),\(format2(y($0.1)))" }.joined(separator: " ")
            svg += "<polyline fill='none' stroke='\(s.color)' stroke-width='2' \(s.dashed ? "stroke-dasharray='5,4'" : "") points='\(path)'/>"
            svg += "<rect x='\(left + 10)' y='\(top + 8 + Double(n) * 16)' width='12' height='3' fill='\(s.color)'/>"
            svg += "<text x='\(left + 28)' y='\(top + 13 + Double(n) * 16)' font-size='11'>\(HTML.escape(s.name))</text>"
        }
        return svg + "</svg>"
    }

    static func format(_ v: Double) -> String {
        abs(v) >= 10 || v == v.rounded() ? String(format: "%.0f", v) : String(format: "%.2f", v)
    }

    static func format2(_ v: Double) -> String { String(format: "%.1f", v) }
}

enum HTML {
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }
}
