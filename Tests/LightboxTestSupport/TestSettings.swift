import Foundation
import LightboxCore

/// The run context tests pass explicitly (nothing is installed process-wide): the developer's
/// cache `~/.cache/lightbox` (where `lightbox setup` put the weights and scripts/test.sh the test
/// data), the default pixel limit and data URL, every core.
public enum TestSettings {
    public static let local = LightboxSettings(home: (NSHomeDirectory() as NSString).appendingPathComponent(".cache/lightbox"))
}

extension TestSettings {
    /// The pretrained weights' folder in `local` (what `PretrainedMobileNetV2.folder(in:)` gives).
    public static var weightsFolder: String { local.folder("weights") }
}
