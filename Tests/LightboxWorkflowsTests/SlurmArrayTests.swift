import XCTest
import LightboxWorkflows

/// What SlurmArray reads from Slurm's own words, without a cluster (the one-node cluster tests
/// in LightboxCLITests drive the rest).
final class SlurmArrayTests: XCTestCase {
    /// Every value in the batch script is quoted; a line break or control character in one is
    /// refused with the value shown, and the comment line never carries one.
    func testTheBatchScriptQuotesEveryValueAndRefusesControlCharacters() throws {
        let script = try SlurmBatchScript.make(executable: "/opt/light box/lightbox", arguments: ["train", "--fold-job", "/runs/it's/fold-job.json"],
                                               shards: 3, description: "lightbox train run\nrm -rf ~: folds")
        XCTAssertTrue(script.contains(#"exec '/opt/light box/lightbox' 'train' '--fold-job' '/runs/it'\''s/fold-job.json' \"#), script)
        XCTAssertTrue(script.contains("# lightbox train run?rm -rf ~: folds\n"), script)
        XCTAssertFalse(script.contains("\nrm -rf"), script)
        XCTAssertTrue(script.contains(#"--shard "${SLURM_ARRAY_TASK_ID}/3""#), script)
        for bad in ["/runs/a\nb", "/runs/a\rb", "/runs/\u{1b}[31m", "/runs/a\u{85}b", "/runs/tab\there"] {
            XCTAssertThrowsError(try SlurmBatchScript.make(executable: "/bin/lightbox", arguments: ["embed", "--out", bad], shards: 2, description: "d")) { error in
                XCTAssertEqual(error as? SlurmError, .unsafeArgument(bad))
                XCTAssertTrue("\(error)".contains("cannot go into the Slurm batch script"), "\(error)")
                XCTAssertFalse("\(error)".unicodeScalars.contains(where: SlurmBatchScript.isControl), "\(error)")
            }
        }
        XCTAssertThrowsError(try SlurmBatchScript.make(executable: "/bin/light\nbox", arguments: [], shards: 1, description: "d"))
    }

    func testArraySpecIsSlurmsCompactSpelling() {
        XCTAssertEqual(SlurmArray.arraySpec([0, 1, 2, 3]), "0-3")
        XCTAssertEqual(SlurmArray.arraySpec([7, 0, 2, 3, 5, 8, 2]), "0,2-3,5,7-8")
        XCTAssertEqual(SlurmArray.arraySpec([4]), "4")
    }

    /// Holds and limits a job can never meet are stuck; waiting for resources, priority or
    /// nodes that may come back is not, and neither is a running task.
    func testStuckTasksAreHoldsAndLimitsNotWaits() {
        for (state, reason) in [("PENDING", "JobHeldUser"), ("PENDING", "JobHeldAdmin"), ("PENDING", "launch failed requeued held"),
                                ("PENDING", "JobHoldMaxRequeue"), ("REQUEUE_HOLD", "None"), ("RESV_DEL_HOLD", ""),
                                ("PENDING", "QOSMaxWallDurationPerJobLimit"), ("PENDING", "AssocMaxCpuPerJobLimit"),
                                ("PENDING", "PartitionTimeLimit"), ("PENDING", "InvalidAccount"), ("PENDING", "DependencyNeverSatisfied")] {
            XCTAssertTrue(SlurmArray.isStuck(state: state, reason: reason), "\(state) \(reason)")
        }
        for (state, reason) in [("PENDING", "Priority"), ("PENDING", "Resources"), ("PENDING", "None"), ("PENDING", "PartitionNodeLimit"),
                                ("PENDING", "ReqNodeNotAvail, UnavailableNodes:n1"), ("PENDING", "QOSGrpCpuLimit"), ("PENDING", "BeginTime"),
                                ("RUNNING", "None"), ("CONFIGURING", "None"), ("COMPLETING", "None")] {
            XCTAssertFalse(SlurmArray.isStuck(state: state, reason: reason), "\(state) \(reason)")
        }
    }
}
