import LightboxCore
import LightboxModels

public enum LightboxStudioPaths {
    /// `$LIGHTBOX_HOME/studio`.
    public static var defaultDataDirectory: String { LightboxSettings.current.folder("studio") }
}
