// What a person reads after a run: the summary table (ratios to the first target), the JSON
// summary other tools parse, the `.hgrm` percentile files and an SVG of the latency
// percentile spectrum with every target on one chart. Pure formatting: no I/O here but the
// writes in `writeArtifacts`.

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif
import Histogram

/// The percentiles every report shows, with their JSON keys and column titles.
public let reportedPercentiles: [(key: String, title: String, percentile: Double)] = [
    ("p50", "p50", 50), ("p90", "p90", 90), ("p99", "p99", 99), ("p999", "p99.9", 99.9), ("p9999", "p99.99", 99.99),
]

/// The latency figures of a histogram, nanoseconds, keyed as in the JSON summary (`max` last).
public func latencyFigures(_ histogram: Histogram<UInt64>) -> [(key: String, nanoseconds: UInt64)] {
    guard histogram.totalCount > 0 else { return reportedPercentiles.map { ($0.key, 0) } + [("max", 0)] }
    return reportedPercentiles.map { ($0.key, histogram.valueAtPercentile($0.percentile)) } + [("max", histogram.max)]
}

/// A latency for people: `850 ns`, `12.3 µs`, `4.56 ms`, `1.20 s`.
public func formatNanoseconds(_ value: UInt64) -> String {
    let v = Double(value)
    if value < 1_000 { return "\(value) ns" }
    if value < 1_000_000 { return formatDecimal(v / 1e3) + " µs" }
    if value < 1_000_000_000 { return formatDecimal(v / 1e6) + " ms" }
    return formatDecimal(v / 1e9) + " s"
}

/// Three significant digits for values 1 ... 999.
func formatDecimal(_ value: Double) -> String {
    let decimals = value < 10 ? 2 : value < 100 ? 1 : 0
    return formatFixed(value, decimals: decimals)
}

func formatFixed(_ value: Double, decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int64((value * scale).rounded())
    if decimals == 0 { return String(scaled) }
    let negative = scaled < 0
    let magnitude = negative ? -scaled : scaled
    let whole = magnitude / Int64(scale)
    var fraction = String(magnitude % Int64(scale))
    while fraction.count < decimals { fraction = "0" + fraction }
    return (negative ? "-" : "") + "\(whole).\(fraction)"
}

/// An integer with thousands separators: `1,234,567`.
func formatCount(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (offset, character) in digits.enumerated() {
        if offset > 0 && (digits.count - offset) % 3 == 0 { out.append(",") }
        out.append(character)
    }
    return (value < 0 ? "-" : "") + out
}

/// The summary table, one line per target, throughput ratios to the first target.
public func summaryTable(_ results: [TargetResult]) -> String {
    var rows: [[String]] = [
        ["target", "ops", "ops/s", "x first"] + reportedPercentiles.map(\.title) + ["max", "refused", "over-adm"]
    ]
    let base = results.first?.opsPerSecond ?? 0
    for result in results {
        let refused = result.refusals.reduce(0) { $0 + $1.count }
        let figures = latencyFigures(result.latency)
        rows.append(
            [
                result.name, formatCount(result.operations), formatCount(Int(result.opsPerSecond.rounded())),
                base > 0 ? formatFixed(result.opsPerSecond / base, decimals: result.opsPerSecond / base < 0.1 ? 4 : 2) : "-",
            ] + figures.map { formatNanoseconds($0.nanoseconds) } + [formatCount(refused), formatCount(result.overAdmissions)])
    }
    var widths = [Int](repeating: 0, count: rows[0].count)
    for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
    var out = ""
    for (rowIndex, row) in rows.enumerated() {
        var line = ""
        for (index, cell) in row.enumerated() {
            let pad = String(repeating: " ", count: widths[index] - cell.count)
            line += index == 0 ? cell + pad : "  " + pad + cell
        }
        out += line + "\n"
        if rowIndex == 0 { out += String(repeating: "-", count: line.count) + "\n" }
    }
    return out
}

/// Escapes a string for JSON.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

func jsonLatency(_ histogram: Histogram<UInt64>) -> String {
    "{" + latencyFigures(histogram).map { "\(jsonString($0.key)): \($0.nanoseconds)" }.joined(separator: ", ") + "}"
}

/// The JSON summary: `{"run": {...}, "targets": {NAME: {...}}, "skipped": {NAME: REASON}}`.
/// Every target has `operations`, `ops_per_second`, `latency_ns` (p50, p90, p99, p999,
/// p9999, max over all kinds), `refusals` (by code) and `over_admissions`.
public func summaryJSON(_ results: [TargetResult], skipped: [(name: String, reason: String)], configuration: LoadConfiguration)
    -> String
{
    var out = "{\n  \"run\": {"
    var run: [String] = [
        "\"profile\": \(jsonString(configuration.profile.rawValue))",
        "\"accounts\": \(configuration.plan.accountCount)",
        "\"starting_credits\": \(configuration.plan.startingCredits)",
        "\"overdraft_credits\": \(configuration.plan.overdraftCredits)",
        "\"skew\": \(configuration.skew)",
        "\"threads\": \(configuration.threadCount)",
        "\"sessions_per_thread\": \(configuration.sessionsPerThread)",
        "\"seed\": \(configuration.seed)",
    ]
    switch configuration.stop {
    case .duration(let nanoseconds): run.append("\"duration_seconds\": \(Double(nanoseconds) / 1e9)")
    case .operations(let count): run.append("\"operations\": \(count)")
    }
    run.append("\"rate\": " + (configuration.ratePerSecond.map { String($0) } ?? "null"))
    out += run.joined(separator: ", ") + "},\n  \"targets\": {"
    let base = results.first?.opsPerSecond ?? 0
    var entries: [String] = []
    for result in results {
        var fields: [String] = [
            "\"operations\": \(result.operations)",
            "\"elapsed_ns\": \(result.elapsedNanoseconds)",
            "\"ops_per_second\": \(formatFixed(result.opsPerSecond, decimals: 1))",
            "\"ratio_to_first\": \(base > 0 ? formatFixed(result.opsPerSecond / base, decimals: 6) : "null")",
            "\"latency_ns\": \(jsonLatency(result.latency))",
        ]
        let kinds = result.latencyByKind.map {
            "\(jsonString($0.kind.name)): {\"operations\": \($0.histogram.totalCount), \"latency_ns\": \(jsonLatency($0.histogram))}"
        }
        fields.append("\"by_kind\": {" + kinds.joined(separator: ", ") + "}")
        fields.append("\"refusals\": {" + result.refusals.map { "\(jsonString($0.code)): \($0.count)" }.joined(separator: ", ") + "}")
        fields.append("\"duplicates\": \(result.duplicates)")
        fields.append("\"over_admissions\": \(result.overAdmissions)")
        fields.append("\"reconciliation_mismatches\": \(result.reconciliationMismatches)")
        fields.append("\"problems\": [" + result.problems.map(jsonString).joined(separator: ", ") + "]")
        entries.append("\n    \(jsonString(result.name)): {\n      " + fields.joined(separator: ",\n      ") + "\n    }")
    }
    out += entries.joined(separator: ",") + (entries.isEmpty ? "},\n" : "\n  },\n")
    out += "  \"skipped\": {" + skipped.map { "\(jsonString($0.name)): \(jsonString($0.reason))" }.joined(separator: ", ") + "}\n}\n"
    return out
}

/// The `.hgrm` text of a histogram (values in nanoseconds).
public func hgrmText(_ histogram: Histogram<UInt64>) -> String {
    var out = ""
    histogram.outputPercentileDistribution(to: &out, outputValueUnitScalingRatio: 1)
    return out
}

/// An SVG of the latency percentile spectrum: x is the percentile on a 1/(1-p) log scale
/// (50% ... 99.999%), y the latency on a log scale; one line per target.
public func spectrumSVG(_ results: [TargetResult], title: String) -> String {
    let width = 900.0, height = 540.0
    let left = 90.0, right = 170.0, top = 50.0, bottom = 60.0
    let plotWidth = width - left - right, plotHeight = height - top - bottom
    let xDecadesMax = 5.0  // 1/(1-p) up to 10^5: 99.999%
    let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    var curves: [(name: String, points: [(x: Double, y: Double)])] = []
    var yMin = Double.greatestFiniteMagnitude, yMax = 1.0
    for result in results where result.latency.totalCount > 0 {
        var points: [(Double, Double)] = []
        for step in result.latency.percentiles(ticksPerHalfDistance: 5) {
            let p = min(step.percentileLevelIteratedTo, 99.9999) / 100
            let x = min(log10(1 / (1 - p)), xDecadesMax)
            let y = Double(max(step.value, 1))
            points.append((x, y))
            if x >= xDecadesMax { break }
        }
        points.append((min(log10(Double(result.latency.totalCount)), xDecadesMax), Double(max(result.latency.max, 1))))
        for point in points {
            yMin = min(yMin, point.1)
            yMax = max(yMax, point.1)
        }
        curves.append((result.name, points))
    }
    if curves.isEmpty { yMin = 1 }
    let yLow = floor(log10(yMin)), yHigh = max(ceil(log10(yMax)), yLow + 1)
    func px(_ x: Double) -> Double { left + x / xDecadesMax * plotWidth }
    func py(_ y: Double) -> Double { top + plotHeight - (log10(y) - yLow) / (yHigh - yLow) * plotHeight }
    func f(_ v: Double) -> String { formatFixed(v, decimals: 1) }
    var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
        viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(f(left))" y="28" font-size="15">\(xmlEscape(title))</text>

        """
    let xLabels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
    for decade in 0...Int(xDecadesMax) {
        let x = px(Double(decade))
        svg += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(top + plotHeight))\" stroke=\"#ddd\"/>\n"
        svg += "<text x=\"\(f(x))\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\">\(xLabels[decade])</text>\n"
    }
    var decade = yLow
    while decade <= yHigh {
        let y = py(pow(10, decade))
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y))\" stroke=\"#ddd\"/>\n"
        let label = powerOfTenLabel(Int(decade))
        svg += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(label)</text>\n"
        decade += 1
    }
    svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 15))\" text-anchor=\"middle\">percentile</text>\n"
    svg += "<text x=\"20\" y=\"\(f(top + plotHeight / 2))\" transform=\"rotate(-90 20 \(f(top + plotHeight / 2)))\" "
        + "text-anchor=\"middle\">latency (log scale)</text>\n"
    for (index, curve) in curves.enumerated() {
        let color = colors[index % colors.count]
        let path = curve.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
        svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
        let legendY = top + 20 + Double(index) * 20
        svg += "<line x1=\"\(f(width - right + 15))\" y1=\"\(f(legendY - 4))\" x2=\"\(f(width - right + 40))\" "
            + "y2=\"\(f(legendY - 4))\" stroke=\"\(color)\" stroke-width=\"3\"/>\n"
        svg += "<text x=\"\(f(width - right + 46))\" y=\"\(f(legendY))\">\(xmlEscape(curve.name))</text>\n"
    }
    return svg + "</svg>\n"
}

/// `1 ns`, `10 ns`, `100 ns`, `1 µs`, ... for 10^exponent nanoseconds.
func powerOfTenLabel(_ exponent: Int) -> String {
    let units = ["ns", "µs", "ms", "s"]
    let unit = min(max(exponent, 0) / 3, units.count - 1)
    var value = 1
    for _ in 0..<(max(exponent, 0) - unit * 3) { value *= 10 }
    return "\(value) \(units[unit])"
}

func xmlEscape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;")
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// Writes `text` to `path`, replacing it.
public func writeTextFile(_ path: String, _ text: String) throws {
    guard let file = fopen(path, "w") else {
        throw LoadTargetError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    let bytes = Array(text.utf8)
    guard fwrite(bytes, 1, bytes.count, file) == bytes.count else {
        throw LoadTargetError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
}

/// Writes the `.hgrm` files (overall and per kind) and `latency.svg` into `directory`
/// (created if missing); returns the SVG's path.
public func writeArtifacts(_ results: [TargetResult], directory: String, title: String) throws -> String {
    if mkdir(directory, 0o755) != 0 && errno != EEXIST {
        throw LoadTargetError("cannot create \(directory): \(String(cString: strerror(errno)))")
    }
    for result in results {
        try writeTextFile("\(directory)/\(result.name).hgrm", hgrmText(result.latency))
        for (kind, histogram) in result.latencyByKind {
            try writeTextFile("\(directory)/\(result.name)-\(kind.name).hgrm", hgrmText(histogram))
        }
    }
    let path = "\(directory)/latency.svg"
    try writeTextFile(path, spectrumSVG(results, title: title))
    return path
}
