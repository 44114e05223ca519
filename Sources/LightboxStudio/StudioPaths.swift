import LightboxCore
import LightboxModels

public enum LightboxStudioPaths {
    /// The `studio` folder of the run's cache (`$LIGHTBOX_HOME/studio` for the CLI).
    public static func defaultDataDirectory(in settings: LightboxSettings) -> String { settings.folder("studio") }
}
