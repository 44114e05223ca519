import Foundation
import LightboxHead
import LightboxWorkflows

// Every JSON body the REST API returns, and the one way they are encoded. Optional properties
// are left out of the JSON when nil (never written as null) unless a type says otherwise.
// Keys and shapes are what the page (Page/Resources/studio.js), the e2e test and
// OpenAPIDocument.swift rely on; StudioAPITests.testResponseBodiesKeepTheirKeys holds them to it.

/// The JSON encoding of every response body: keys sorted (by code point: the same answer is the
/// same bytes), `/` unescaped, dates ISO 8601 in UTC to the second (`2025-01-31T09:30:00Z`).
enum ResponseJSON {
    static func encode<T: Encodable>(_ body: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(body)
    }
}

/// Any failed request: `{"error": "what went wrong"}`.
struct ErrorResponse: Encodable {
    var error: String
}

/// `GET /api/options`: every training option with its range, default and help.
typealias OptionsResponse = [TrainingOptionRule]

/// A project, as listed by `GET /api/projects` and returned on creation.
struct ProjectResponse: Encodable {
    var id: Int64
    var name: String
    var created: Date

    init(_ p: Project) { id = p.id!; name = p.name; created = p.created }
}

/// A class with its number of images.
struct ClassResponse: Encodable {
    var id: Int64
    var name: String
    var images: Int
}

/// A stored image's description (its bytes are `GET /api/images/{id}`).
struct ImageResponse: Encodable {
    var id: Int64
    var classId: Int64
    var filename: String
    var width: Int
    var height: Int
    /// The project's other classes that hold the same picture (training leaves all its copies out).
    var alsoIn: [String]

    init(_ i: ImageRecord, alsoIn: [String] = []) {
        id = i.id!; classId = i.classId; filename = i.filename; width = i.width; height = i.height
        self.alsoIn = alsoIn
    }
}

/// `GET /api/projects/{id}`: the project with its classes, its runs (newest first), and the
/// design its next run would have (cross-fitting folds, or one split) with the reason.
struct ProjectDetailResponse: Encodable {
    var project: ProjectResponse
    var classes: [ClassResponse]
    var runs: [RunResponse]
    var design: StudioDesign
}

/// `POST /api/projects/{id}/import`: images imported, the project's classes, and what was skipped.
struct ImportResponse: Encodable, Sendable {
    /// A file or data set entry that was not imported, with the reason.
    struct Skipped: Encodable, Sendable {
        var item: String
        var reason: String
    }

    /// Images imported (with `dryRun`: that would be offered, before each is decoded).
    var imported: Int
    var classes: Int
    /// Images per class, imported or (with `dryRun`) offered.
    var perClass: [String: Int]
    var skipped: [Skipped]
    /// Nothing was stored: the preview of an import.
    var dryRun: Bool
}

/// `GET /api/import/roots`: the folders imports may read from (empty: importing is off).
struct ImportRootsResponse: Encodable {
    var roots: [String]
}

/// A run: status, the options it was started with, live or stored progress, metrics once finished.
struct RunResponse: Encodable {
    var id: Int64
    var projectId: Int64
    var status: RunStatus
    var created: Date
    var finished: Date?
    var error: String?
    var options: RunOptions?
    var progress: RunProgress?
    /// The run's metrics.json (LightboxWorkflows' `RunDocument`), embedded as it was written.
    var metrics: JSONValue?

    /// `live` is the progress this process holds for the run, if any; otherwise the stored one.
    init(_ r: RunRecord, live: RunProgress?) {
        id = r.id!
        projectId = r.projectId
        status = r.status
        created = r.created
        finished = r.finished
        error = r.error
        options = storedJSON(RunOptions.self, r.options)
        // Live progress holding a non-finite loss cannot be written as JSON: the stored one is shown.
        if let live, (try? JSONEncoder().encode(live)) != nil {
            progress = live
        } else {
            progress = r.progress.flatMap { storedJSON(RunProgress.self, $0) }
        }
        metrics = r.metrics.flatMap { storedJSON(JSONValue.self, $0) }
        // Runs from before metrics.json carried its headline get the one Headline computes from
        // the same figures: the page shows the headline, it never words one itself.
        if case .object(var fields)? = metrics, fields["headline"] == nil,
           let headline = r.metrics.flatMap({ runHeadline(metricsJSON: Data($0.utf8)) }),
           let value = (try? JSONEncoder().encode(headline)).flatMap({ try? JSONDecoder().decode(JSONValue.self, from: $0) }) {
            fields["headline"] = value
            metrics = .object(fields)
        }
    }
}

/// A run's headline: the one its metrics.json stores (the object its report.html renders), or,
/// for a run from before it was stored, the one `Headline` computes from the same metrics and
/// audit verdict.
func runHeadline(metricsJSON: Data) -> Headline? {
    struct Stored: Decodable {
        var headline: Headline?
        var evaluation: String?
        var patient_ids: Bool?
        var audit: Audit?
        struct Audit: Decodable { var outcome: String?, shortcut_suspected: Bool?, verdict: String? }
    }
    guard let stored = try? JSONDecoder().decode(Stored.self, from: metricsJSON) else { return nil }
    if let headline = stored.headline { return headline }
    guard let metrics = try? JSONDecoder().decode(ClassificationMetrics.self, from: metricsJSON) else { return nil }
    let shortcut = stored.audit.flatMap { a in
        a.verdict.map { Headline.Shortcut(outcome: a.outcome, suspected: a.shortcut_suspected ?? false, verdict: $0) }
    }
    return Headline(metrics: metrics, scope: stored.evaluation == "out-of-fold" ? "out-of-fold" : "test", shortcut: shortcut,
                    patientIDs: stored.patient_ids)
}

/// A stored JSON column, or nil when it is not what it should be.
private func storedJSON<T: Decodable>(_ type: T.Type, _ text: String) -> T? {
    try? JSONDecoder().decode(type, from: Data(text.utf8))
}

/// A run as `GET /api/projects/{id}/runs` lists it: status, dates, options and its headline
/// numbers (nil until it finishes), for a run history.
struct RunSummaryResponse: Encodable {
    var id: Int64
    var status: RunStatus
    var created: Date
    var finished: Date?
    var error: String?
    var options: RunOptions?
    var headline: RunHeadline?

    init(_ r: RunRecord) {
        id = r.id!
        status = r.status
        created = r.created
        finished = r.finished
        error = r.error
        options = storedJSON(RunOptions.self, r.options)
        headline = r.metrics.flatMap { RunHeadline(metricsJSON: Data($0.utf8)) }
    }
}

/// A finished run's headline numbers from its metrics.json (out of fold over every picture, or
/// the test split's), with what they rest on and what they must be read against: the accuracy of always answering the largest class, and whether the AUC's 95%
/// interval contains 0.5 (no better than chance). `headline` is metrics.json's headline (the
/// box at the top of report.html); the baseline and the AUC's interval here are its figures.
struct RunHeadline: Encodable {
    var method: String?
    var accuracy: Double?
    var auc: Double?
    var aucCI: [Double]?
    var sensitivity: Double?
    var specificity: Double?
    /// The operating point's threshold (absent when the model predicts the most probable class).
    var threshold: Double?
    var positiveClass: String?
    var nImages: Int?
    var nPatients: Int?
    /// What the figures rest on: K folds (1: one split), and "out-of-fold" or "held-out test"
    /// (absent in runs from before cross-fitting, which were held-out tests of one split).
    var folds: Int?
    var evaluation: String?
    /// The accuracy of always answering the scored pictures' largest class.
    var majorityBaseline: Double?
    /// The AUC's 95% interval contains 0.5.
    var noBetterThanChance: Bool?
    var shortcutSuspected: Bool?
    /// The figures with their intervals, the baseline, the notes and the shortcut verdict, as report.html shows them.
    var headline: Headline?

    /// The keys of metrics.json this reads (LightboxWorkflows' RunDocument).
    private struct Metrics: Decodable {
        var method: String?
        var accuracy: Double?
        var auc: Double?
        var auc_ci: [Double]?
        var sensitivity: Double?
        var specificity: Double?
        var threshold: Double?
        var operating_point_note: String?
        var positive_class: String?
        var n_images: Int?
        var n_patients: Int?
        var folds: Int?
        var evaluation: String?
        var audit: Audit?
        struct Audit: Decodable { var shortcut_suspected: Bool? }
    }

    init?(metricsJSON: Data) {
        guard let m = try? JSONDecoder().decode(Metrics.self, from: metricsJSON) else { return nil }
        headline = runHeadline(metricsJSON: metricsJSON)
        method = m.method
        accuracy = m.accuracy
        auc = m.auc
        // The headline's interval: none below five patients in a class.
        aucCI = headline?.figures.first { $0.key == "auc" }?.interval
        sensitivity = m.sensitivity
        specificity = m.specificity
        // metrics.json's threshold is 0.5 for a model that predicts by argmax; with its note there is no operating point.
        threshold = m.operating_point_note == nil ? m.threshold : nil
        positiveClass = m.positive_class
        nImages = m.n_images
        nPatients = m.n_patients
        folds = m.folds
        evaluation = m.evaluation
        majorityBaseline = headline?.baseline?.accuracy
        if let ci = aucCI, ci.count == 2 { noBetterThanChance = ci[0] <= 0.5 && 0.5 <= ci[1] }
        shortcutSuspected = m.audit?.shortcut_suspected
    }
}

/// A scored image of a finished run (out of fold, or in the test split), as
/// `GET /api/runs/{id}/predictions` lists them.
struct TestPredictionResponse: Encodable {
    /// The stored image this row is; null (written, not left out) when it is no longer stored.
    var imageId: Int64?
    var label: String
    var predicted: String
    /// Class name to probability.
    var probabilities: [String: Double]
    /// Cross-fitting: the fold (1-K) whose model scored the picture, never having seen its
    /// patient; absent for one split.
    var fold: Int?

    enum CodingKeys: String, CodingKey { case imageId, label, predicted, probabilities, fold }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(imageId, forKey: .imageId)
        try c.encode(label, forKey: .label)
        try c.encode(predicted, forKey: .predicted)
        try c.encode(probabilities, forKey: .probabilities)
        try c.encodeIfPresent(fold, forKey: .fold)
    }
}

/// `POST /api/runs/{id}/predict`: the predicted class, every class's probability, the heatmap
/// as a `data:image/png;base64,` URL, and the disclaimer to show beside them. A model with an
/// operating point adds it (`positiveClass` is predicted when its probability reaches
/// `threshold`), so the answer can be shown beside the rule that gave it; without one (both
/// absent) the answer is the most probable class.
struct PredictionResponse: Encodable {
    var predicted: String
    var probabilities: [String: Double]
    /// Absent when the request asked for none (`?heatmap=0`).
    var heatmap: String?
    var disclaimer: String
    var threshold: Double?
    var positiveClass: String?
    /// Where the lung locator found the lungs, drawn on the heatmap; absent without a heatmap.
    var lungs: PredictionLungs?
}

/// Any JSON value: for documents other parts of Lightbox write (a run's metrics.json), which
/// the API embeds unchanged. Integers (to Int64's range) stay integers: `1` is not written back as `1.0`.
enum JSONValue: Codable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let v = try? c.decode(Bool.self) {
            self = .bool(v)
        } else if let v = try? c.decode(Int64.self) {
            self = .integer(v)
        } else if let v = try? c.decode(Double.self) {
            self = .number(v)
        } else if let v = try? c.decode(String.self) {
            self = .string(v)
        } else if let v = try? c.decode([JSONValue].self) {
            self = .array(v)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let v): try c.encode(v)
        case .integer(let v): try c.encode(v)
        case .number(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        }
    }
}
