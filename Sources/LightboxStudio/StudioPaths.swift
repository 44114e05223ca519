import LightboxCore
import LightboxModels

public enum LightboxStudioPaths {
    /// `$LIGHTBOX_HOME/studio`.
    public static var defaultDataDirectory: String { LightboxHome.subdirectory("studio") }
}
