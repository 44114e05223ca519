import Foundation
import LightboxTestSupport
import XCTest
import LightboxCore
import LightboxData
import LightboxImaging
@testable import LightboxWorkflows
@testable import LightboxHead

/// The shared option rules: one table, one message format, and the run budget estimated by
/// TrainingSetBuilder's own rule. The CLI tests check that `lightbox train` prints these same
/// messages (TrainOptionCommandTests).
final class TrainingOptionRulesTests: XCTestCase {
    func config(_ change: (inout TrainingConfiguration) throws -> Void = { _ in }) throws -> TrainingConfiguration {
        var c = try TrainingConfiguration(data: "-", output: "-", settings: TestSettings.local)
        try change(&c)
        return c
    }

    func refusal(_ c: TrainingConfiguration) -> String? {
        do {
            try TrainingOptionRules.validate(c)
            return nil
        } catch {
            XCTAssertTrue(error is TrainingOptionError, "\(error)")
            return "\(error)"
        }
    }

    func testTableCoversEveryOptionWithItsDefault() throws {
        let keys = TrainingOptionRules.rules.map(\.key.rawValue)
        for key in ["epochs", "batchSize", "learningRate", "denseUnits", "dropout", "earlyStopping", "augmentCopies", "balance",
                    "split", "seed", "resize", "positive", "rotation", "shift", "zoom", "brightness", "contrast", "gamma", "noise"] {
            XCTAssertTrue(keys.contains(key), key)
        }
        XCTAssertEqual(Set(keys).count, keys.count, "keys are unique")
        XCTAssertEqual(TrainingOptionRules.rule(.batchSize).flag, "--batch-size")
        XCTAssertEqual(TrainingOptionRules.rule(.augmentCopies).flag, "--augment-copies")
        XCTAssertEqual(TrainingOptionRules.rule(.epochs).range, "1-1000")
        XCTAssertEqual(TrainingOptionRules.rule(.learningRate).range, "above 0 and below 10")
        XCTAssertEqual(TrainingOptionRules.rule(.dropout).range, "at least 0 and below 1")
        // Defaults in the table are the library's defaults.
        let t = TrainingOptions(), a = AugmentationRanges()
        let defaults: [String: String] = ["epochs": "\(t.epochs)", "batchSize": "\(t.batchSize)", "learningRate": "0.001",
                                          "denseUnits": "\(t.denseUnits)", "dropout": "0", "earlyStopping": "0",
                                          "augmentCopies": "0", "balance": "none", "split": "70/15/15", "seed": "\(t.seed)",
                                          "resize": ResizePolicy.crop.rawValue, "rotation": "10", "shift": "0.05", "zoom": "0.1",
                                          "brightness": "0.1", "contrast": "0.1", "gamma": "0.1", "noise": "2"]
        for (key, value) in defaults { XCTAssertEqual(TrainingOptionKey(rawValue: key).map(TrainingOptionRules.rule)?.defaultValue, value, key) }
        XCTAssertEqual([a.rotation, a.shift, a.zoom, a.brightness, a.contrast, a.gamma, a.noise], [10, 0.05, 0.1, 0.1, 0.1, 0.1, 2])
        XCTAssertNil(refusal(try config()), "the defaults pass")
        // JSON for the Studio's page.
        let json = try JSONEncoder().encode(TrainingOptionRules.rules)
        XCTAssertEqual(try JSONDecoder().decode([TrainingOptionRule].self, from: json), TrainingOptionRules.rules)
        let first = try XCTUnwrap((try JSONSerialization.jsonObject(with: json) as? [[String: Any]])?.first)
        XCTAssertEqual(first["key"] as? String, "epochs")
        XCTAssertEqual(first["range"] as? String, "1-1000")
        XCTAssertEqual(first["flag"] as? String, "--epochs")
    }

    func testEachOutOfRangeValueIsRefusedWithOneMessage() throws {
        XCTAssertEqual(refusal(try config { $0.training.epochs = 0 }), "epochs (--epochs) must be 1-1000 (got 0)")
        XCTAssertEqual(refusal(try config { $0.augmentCopies = 30 }), "augmentCopies (--augment-copies) must be 0-20 (got 30)")
        XCTAssertEqual(refusal(try config { $0.training.learningRate = 0 }), "learningRate (--learning-rate) must be above 0 and below 10 (got 0.0)")
        XCTAssertEqual(refusal(try config { $0.training.learningRate = .nan }), "learningRate (--learning-rate) must be above 0 and below 10 (got nan)")
        XCTAssertEqual(refusal(try config { $0.training.dropout = 1 }), "dropout (--dropout) must be at least 0 and below 1 (got 1.0)")
        XCTAssertEqual(refusal(try config { $0.augmentation.zoom = 1 }), "zoom (--zoom) must be 0-0.9 (got 1)")
        XCTAssertEqual(refusal(try config { $0.balance = .augmentTo(0) }),
                       "balance (--balance) must be none, oversample or augment-to:N with N at least 1 (got augment-to:0)")
        XCTAssertEqual(refusal(try config { $0.split = try SplitFractions(train: 0.8, validation: 0.2, test: 0) }),
                       "split (--split) must be \(SplitFractions.rule) (got 80/20/0)")
        let outOfRange: [(inout TrainingConfiguration) -> Void] = [
            { $0.training.epochs = 1001 }, { $0.training.batchSize = 0 }, { $0.training.batchSize = 4097 },
            { $0.training.learningRate = 10 }, { $0.training.learningRate = -1 }, { $0.training.denseUnits = 0 },
            { $0.training.denseUnits = 5000 }, { $0.training.dropout = -0.1 }, { $0.training.earlyStoppingPatience = -1 },
            { $0.augmentCopies = -1 }, { $0.augmentation.rotation = 181 }, { $0.augmentation.shift = .infinity },
            { $0.augmentation.noise = -1 }, { $0.augmentation.gamma = 1 }, { $0.positiveClass = "" },
        ]
        for (i, change) in outOfRange.enumerated() { XCTAssertNotNil(refusal(try config(change)), "case \(i)") }
        let edges: [(inout TrainingConfiguration) -> Void] = [
            { $0.training.epochs = 1 }, { $0.training.epochs = 1000 }, { $0.training.batchSize = 4096 },
            { $0.training.dropout = 0 }, { $0.augmentCopies = 20 }, { $0.augmentation.rotation = 180 },
            { $0.balance = .augmentTo(99_999_999_999) },  // allowed by the rules; the budget decides
        ]
        for (i, change) in edges.enumerated() { XCTAssertNil(refusal(try config(change)), "edge \(i)") }
    }

    /// Cross-fitting's options: 1-20 folds, a test share of 0-50%; it refuses what would choose on
    /// the scored folds (early stopping) or be ignored (--split), and a test share needs folds.
    func testCrossFittingOptions() throws {
        XCTAssertEqual(refusal(try config { $0.folds = 21 }), "folds (--folds) must be 1-20 (got 21)")
        XCTAssertEqual(refusal(try config { $0.folds = 0 }), "folds (--folds) must be 1-20 (got 0)")
        XCTAssertEqual(refusal(try config { $0.testSplit = 0.6 }), "testSplit (--test-split) must be 0-50 (got 60)")
        XCTAssertNotNil(refusal(try config { $0.training.earlyStoppingPatience = 3 }))
        XCTAssertNil(refusal(try config { $0.training.earlyStoppingPatience = 3; $0.folds = 1; $0.method = .head }))
        XCTAssertNotNil(refusal(try config { $0.split = try SplitFractions(train: 0.85, validation: 0.14, test: 0.01) }))
        XCTAssertNil(refusal(try config { $0.split = try SplitFractions(train: 0.85, validation: 0.14, test: 0.01); $0.folds = 1 }))
        XCTAssertNotNil(refusal(try config { $0.testSplit = 0.2; $0.folds = 1 }))
        XCTAssertNil(refusal(try config { $0.testSplit = 0.2; $0.folds = 20 }))
        let c = try config { $0.folds = 5; $0.ensemble = 2 }
        XCTAssertEqual(c.members, 10)
        XCTAssertEqual(try config { $0.folds = 1; $0.method = .finetune }.members, 3)
        XCTAssertEqual(try config { $0.method = .finetune }.members, 5)
    }

    func testSplitAndBalanceText() throws {
        XCTAssertThrowsError(try TrainingOptionRules.parseSplit("90/20/0")) {
            XCTAssertEqual("\($0)", "split (--split) must be TRAIN/VALIDATION/TEST percentages adding up to 100 (or fractions adding up to 1), training and test above 0 (got '90/20/0')")
            XCTAssertEqual(($0 as? TrainingOptionError)?.key, "split")
        }
        for bad in ["80/20", "100/0/0", "60/40/0", "0/50/50", "a/b/c", "70/15/15/0", "-10/60/50", "nan/50/50", ""] {
            XCTAssertThrowsError(try TrainingOptionRules.parseSplit(bad), bad)
        }
        XCTAssertEqual(try TrainingOptionRules.parseSplit("70/15/15"), try SplitFractions())
        XCTAssertEqual(try TrainingOptionRules.parseSplit("0.7/0.15/0.15"), try SplitFractions())
        XCTAssertEqual(try TrainingOptionRules.parseSplit("60/0/40").validation, 0)

        XCTAssertThrowsError(try TrainingOptionRules.parseBalance("augment-to:x")) {
            XCTAssertEqual("\($0)", "balance (--balance) must be none, oversample or augment-to:N with N at least 1 (got 'augment-to:x')")
        }
        XCTAssertEqual(try TrainingOptionRules.parseBalance("augment-to:99999999999"), .augmentTo(99_999_999_999))
        XCTAssertEqual(try TrainingOptionRules.parseResize("pad"), .pad)
        XCTAssertThrowsError(try TrainingOptionRules.parseResize("zoom")) {
            XCTAssertEqual("\($0)", "resize (--resize) must be crop, pad, stretch (got 'zoom')")
        }
    }

    // MARK: - Budget

    /// The estimate counts what TrainingSetBuilder really draws: exactly when every class is
    /// brought up (or nothing is balanced), at most when augment-to:N leaves samples out.
    func testEstimateFollowsTrainingSetBuilder() throws {
        func images(_ counts: [String: Int]) -> [LabeledImage] {
            counts.sorted { $0.key < $1.key }.flatMap { label, n in
                (0..<n).map { LabeledImage(path: "/\(label)/\($0).png", label: label, group: "\(label)\($0)") }
            }
        }
        let cases: [([String: Int], BalancePolicy, Int)] = [
            (["a": 30, "b": 7], .none, 0), (["a": 30, "b": 7], .none, 3), (["a": 30, "b": 7], .oversample, 2),
            (["a": 30, "b": 7], .augmentTo(135), 0), (["a": 30, "b": 7], .augmentTo(40), 1), (["a": 3, "b": 5, "c": 9], .augmentTo(50), 4),
            (["a": 30, "b": 7], .augmentTo(20), 2),  // a is over N: a subset
        ]
        for (counts, balance, copies) in cases {
            let c = try config { $0.balance = balance; $0.augmentCopies = copies }
            let built = TrainingSetBuilder.build(train: images(counts), balance: balance, augmentCopies: copies,
                                                 ranges: AugmentationRanges(), seed: 1).samples
            let e = TrainingOptionRules.estimate(trainImagesPerClass: counts, config: c)
            // Distinct copies: oversampling repeats samples, each embedded once.
            let augmented = Double(Set(built.filter { $0.augmentation != nil }).count)
            XCTAssertEqual(e.trainingRows, Double(built.count), "\(counts) \(balance) \(copies)")
            if case .augmentTo(let n) = balance, counts.values.contains(where: { $0 * (1 + copies) > n }) {
                XCTAssertGreaterThanOrEqual(e.augmentedImages, augmented, "\(counts) \(balance) \(copies)")
            } else {
                XCTAssertEqual(e.augmentedImages, augmented, "\(counts) \(balance) \(copies)")
            }
        }
    }

    func testHugeAugmentToIsRefusedWithoutDrawingAnything() throws {
        let counts = ["COVID-19": 50, "OTHER": 40]
        let c = try config { $0.balance = .augmentTo(99_999_999_999) }
        XCTAssertThrowsError(try TrainingOptionRules.checkBudget(trainImagesPerClass: counts, config: c)) {
            XCTAssertEqual(($0 as? TrainingOptionError)?.key, "budget")
            XCTAssertEqual("\($0)", "this run would embed about 199999999908 augmented images (balance augment-to:99999999999, augmentCopies 0); the limit is 50000 a run: lower N in augment-to:N (--balance) or augmentCopies (--augment-copies)")
        }
        // No overflow at the very top of Int either.
        XCTAssertThrowsError(try TrainingOptionRules.checkBudget(trainImagesPerClass: counts, config: try config { $0.balance = .augmentTo(.max) })) {
            XCTAssertTrue("\($0)".contains("about 1.84e+19 augmented images"), "\($0)")
        }
    }

    func testRealRunsFitAndExtremeOnesAreRefusedWithTheLimit() throws {
        // The 2020 blog's run, and the 20,000-image benchmark, fit.
        XCTAssertNoThrow(try TrainingOptionRules.checkBudget(trainImagesPerClass: ["COVID-19": 235, "OTHER": 57],
                                                             config: try config { $0.balance = .augmentTo(135) }))
        XCTAssertNoThrow(try TrainingOptionRules.checkBudget(trainImagesPerClass: ["a": 7000, "b": 7000], config: try config()))
        XCTAssertNoThrow(try TrainingOptionRules.checkBudget(trainImagesPerClass: ["a": 2500, "b": 2500],
                                                             config: try config { $0.augmentCopies = 10 }))
        // Too many copies.
        XCTAssertThrowsError(try TrainingOptionRules.checkBudget(trainImagesPerClass: ["a": 3000, "b": 3000],
                                                                 config: try config { $0.augmentCopies = 20 })) {
            XCTAssertTrue("\($0)".hasPrefix("this run would embed about 120000 augmented images"), "\($0)")
        }
        // Too long: the widest head, one row a batch, every epoch, on 14,000 rows.
        XCTAssertThrowsError(try TrainingOptionRules.checkBudget(trainImagesPerClass: ["a": 7000, "b": 7000], config: try config {
            $0.training.epochs = 1000; $0.training.batchSize = 1; $0.training.denseUnits = 4096
        })) {
            XCTAssertTrue("\($0)".hasPrefix("this run is estimated to take about ") && "\($0)".hasSuffix("the limit is 2 hours"), "\($0)")
        }
        // Too much memory: a million images.
        XCTAssertThrowsError(try TrainingOptionRules.checkBudget(trainImagesPerClass: ["a": 500_000, "b": 500_000], config: try config())) {
            XCTAssertTrue("\($0)".hasPrefix("this run would hold about ") && "\($0)".hasSuffix("the limit is 4 GiB"), "\($0)")
        }
    }

    /// Fine-tuning's own costs: decoded training pictures in memory, a step per image, epoch and
    /// member. The default job fits (estimated within a factor of two of its measured 56 s);
    /// 20,000 training images fit in memory, but not in the time limit for 20 epochs of three
    /// members; 40,000 do not fit in memory.
    func testFineTuningIsEstimatedOnItsOwnCosts() throws {
        // One split (three members on 70% of the pictures) as the costs were measured; then the
        // cross-fitted default, five members on 80% of them, every picture decoded and scored.
        let fine = try config { $0.method = .finetune; $0.training.epochs = 6; $0.folds = 1 }
        let dev = TrainingOptionRules.estimate(trainImagesPerClass: ["COVID-19": 235, "OTHER": 57], config: fine)
        XCTAssertGreaterThan(dev.seconds, 40)
        XCTAssertLessThan(dev.seconds, 112)
        let crossFitted = TrainingOptionRules.estimate(trainImagesPerClass: ["COVID-19": 268, "OTHER": 67],
                                                       config: try config { $0.method = .finetune; $0.training.epochs = 6 })
        XCTAssertGreaterThan(crossFitted.seconds, 1.5 * dev.seconds)
        XCTAssertLessThan(crossFitted.seconds, 2.5 * dev.seconds)
        XCTAssertEqual(dev.augmentedImages, 0)
        XCTAssertNoThrow(try TrainingOptionRules.checkBudget(trainImagesPerClass: ["COVID-19": 235, "OTHER": 57], config: fine))
        let long = try config { $0.method = .finetune; $0.training.epochs = 20; $0.folds = 1 }
        XCTAssertThrowsError(try TrainingOptionRules.checkBudget(trainImagesPerClass: ["a": 10_000, "b": 10_000], config: long)) {
            XCTAssertTrue("\($0)".hasPrefix("fine-tuning is estimated to take about ") && "\($0)".contains("--ensemble"), "\($0)")
        }
        let one = try config { $0.method = .finetune; $0.training.epochs = 2; $0.ensemble = 1; $0.folds = 1 }
        XCTAssertNoThrow(try TrainingOptionRules.checkBudget(trainImagesPerClass: ["a": 10_000, "b": 10_000], config: one))
        XCTAssertThrowsError(try TrainingOptionRules.checkBudget(trainImagesPerClass: ["a": 20_000, "b": 20_000], config: one)) {
            XCTAssertTrue("\($0)".hasPrefix("fine-tuning on 40000 training images would hold about 6.8 GiB"), "\($0)")
        }
    }

    func testExpectedTrainImagesRoundUp() throws {
        XCTAssertEqual(TrainingOptionRules.expectedTrainImages(perClass: ["a": 10, "b": 1], split: try SplitFractions()),
                       ["a": 7, "b": 1])
    }
}
