import XCTest
import LightboxWorkflows

/// What SlurmArray reads from Slurm's own words, without a cluster (the one-node cluster tests
/// in LightboxCLITests drive the rest).
final class SlurmArrayTests: XCTestCase {
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
