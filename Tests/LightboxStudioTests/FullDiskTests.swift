import Foundation
import LightboxCore
import XCTest
import LightboxImaging
@testable import LightboxStudio

/// The Studio's storage on a 2 MiB tmpfs: uploads fail with a clear error once the disk is
/// full, nothing crashes, and what was stored stays readable.
final class FullDiskTests: XCTestCase {
    func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// A read-only file system (root ignores permissions, so a read-only mount is the test).
    func testReadOnlyDataDirectoryIsAnError() throws {
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("studio-ro-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: mountPoint) }
        guard try run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", mountPoint.path]) == 0 else {
            if getuid() == 0 { XCTFail("cannot mount a tmpfs as root") }
            throw XCTSkip("mounting a tmpfs needs root")
        }
        defer { _ = try? run("/bin/umount", [mountPoint.path]) }
        XCTAssertThrowsError(try StudioStore(directory: mountPoint.appendingPathComponent("data"))) { error in
            XCTAssertTrue("\(error)".contains(mountPoint.path), "\(error)")
        }
    }

    func testFullDiskIsAnErrorNotACrash() throws {
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("studio-tiny-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: mountPoint) }
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint.path]
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else {
            // CI runs as root, where the mount works; elsewhere this check cannot run.
            if getuid() == 0 { XCTFail("cannot mount a tmpfs as root") }
            throw XCTSkip("mounting a tmpfs needs root")
        }
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [mountPoint.path]
            try? umount.run()
            umount.waitUntilExit()
        }

        let store = try StudioStore(directory: mountPoint.appendingPathComponent("data"))
        let project = try store.createProject(name: "p")
        let cls = try store.addClass(projectId: project.id!, name: "c")
        var stored = 0, failure: Error?
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 where failure == nil {
            // A 128x128 noise PNG does not compress: each is about 49 KiB.
            let rgb = (0..<(128 * 128 * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let png = try PNGEncoder.encode(rgb: rgb, width: 128, height: 128)
            do {
                _ = try store.addImage(projectId: project.id!, classId: cls.id!, data: png, filename: "n.png", width: 128, height: 128)
                stored += 1
            } catch {
                failure = error
            }
        }
        let error = try XCTUnwrap(failure, "2 MiB must fill up")
        XCTAssertGreaterThan(stored, 5)
        if let e = error as? StudioError {
            XCTAssertTrue(e.description.contains("disk full"), e.description)
        }
        // What was stored before is intact and readable.
        let images = try store.images(projectId: project.id!)
        XCTAssertGreaterThanOrEqual(images.count, stored - 1)
        for image in images.prefix(3) {
            XCTAssertNoThrow(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(file: store.imagePath(image).path))
        }
    }
}
