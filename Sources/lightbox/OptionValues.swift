import ArgumentParser
import LightboxCore
import LightboxData
import LightboxImaging
import LightboxInterop

// The library's option enums as command-line values, in one place: each is spelled by its raw
// value (the same strings the model bundle, the job file and the Studio's API use), and
// argument-parser lists its cases in help. Options whose refusals the shared rules word
// (`--method`, `--equalize`, `--balance`, `--split`) are parsed by `TrainingOptionRules` instead.

/// `--resize` (train, embed).
extension ResizePolicy: ExpressibleByArgument {}

/// `--source` (train, evaluate, audit, dataset inspect).
extension SourceKind: ExpressibleByArgument {}

/// `--identify-by` (every command that reads pictures and writes outputs).
extension PictureIdentity: ExpressibleByArgument {}

/// `--dicom-window` (every command that reads pictures).
extension DICOMWindow: ExpressibleByArgument {}

/// `export --format`.
extension ExportFormat: ExpressibleByArgument {}

/// `--precision` (train, embed, predict, evaluate, audit, serve).
extension Precision: ExpressibleByArgument {}
