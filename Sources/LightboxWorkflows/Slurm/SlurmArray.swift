import Foundation
import LightboxCore

/// What `--executor slurm` asks of the cluster, beyond the array itself.
public struct SlurmOptions: Sendable, Equatable {
    public var partition: String?
    public var time: String?
    public var cpusPerTask: Int?
    public var memory: String?
    /// Passed to sbatch as they are (`--sbatch-arg`, repeatable).
    public var extraArguments: [String]
    /// Resubmissions of tasks that failed, were cancelled or ended without their result.
    public var retries: Int
    /// Seconds between two looks at the job.
    public var pollInterval: Double
    /// Seconds every unfinished task may stay stuck (`SlurmArray.isStuck`) before the run stops
    /// following the job (a hold lifted soon, or a requeue in passing, is not worth failing for).
    public var heldTimeout: Double

    public init(partition: String? = nil, time: String? = nil, cpusPerTask: Int? = nil, memory: String? = nil,
                extraArguments: [String] = [], retries: Int = 2, pollInterval: Double = 1, heldTimeout: Double = 120) {
        self.partition = partition
        self.time = time
        self.cpusPerTask = cpusPerTask
        self.memory = memory
        self.extraArguments = extraArguments
        self.retries = retries
        self.pollInterval = pollInterval
        self.heldTimeout = heldTimeout
    }

    /// sbatch's options for these settings (before the script).
    public var sbatchArguments: [String] {
        var arguments: [String] = []
        if let partition { arguments.append("--partition=\(partition)") }
        if let time { arguments.append("--time=\(time)") }
        if let cpusPerTask { arguments.append("--cpus-per-task=\(cpusPerTask)") }
        if let memory { arguments.append("--mem=\(memory)") }
        return arguments + extraArguments
    }
}

public enum SlurmError: Error, CustomStringConvertible, Equatable {
    case missingCommand(String)
    case commandFailed(command: String, message: String)
    case tasksFailed(shards: [Int], states: [Int: String], logs: String)
    /// Tasks that Slurm keeps pending for a reason that does not pass by itself (a hold, a limit
    /// the job can never meet): following them would wait forever.
    case tasksStuck(job: String, shards: [Int], reasons: [Int: String])
    /// A value the batch script would carry that holds a line break or another control character.
    case unsafeArgument(String)

    public var description: String {
        switch self {
        case .missingCommand(let name):
            return "\(name) not found on PATH: --executor slurm needs Slurm's client commands (sbatch, squeue) on this machine"
        case .commandFailed(let command, let message):
            return "\(command) failed: \(message)"
        case .tasksFailed(let shards, let states, let logs):
            let list = shards.map { "\($0) (\(states[$0] ?? "no result"))" }.joined(separator: ", ")
            return "shards \(list) did not finish after the allowed retries; their logs are in \(logs)"
        case .unsafeArgument(let value):
            return "\(FileNames.shown(value)): a line break or control character in a file name cannot go into the Slurm batch script; rename it (or choose another --out or --cache-dir)"
        case .tasksStuck(let job, let shards, let reasons):
            let why = Set(shards.compactMap { reasons[$0] }).sorted()
            let held = why.allSatisfy { $0.localizedCaseInsensitiveContains("held") }
            return "Slurm keeps shards \(SlurmArray.arraySpec(shards)) of job \(job) pending (\(why.joined(separator: ", "))); "
                + "they will not run by themselves: "
                + (held ? "`scontrol release \(job)` and rerun this command to follow them, or `scancel \(job)` and rerun it to submit them again"
                        : "`scancel \(job)` and rerun this command with a --partition, --time or --sbatch-arg the cluster allows")
        }
    }
}

/// A Slurm job array over shards: submits the shards not yet done, follows them with squeue
/// (sacct when accounting exists, once squeue has forgotten the job), resubmits the shards
/// whose tasks ended without their result, up to `retries` times. "Done" is decided by the
/// caller (a shard's manifest), not by Slurm's task state: a task that completed without
/// writing its result is run again, and a result already there is never recomputed.
public final class SlurmArray {
    public let options: SlurmOptions
    /// Environment for the Slurm commands (SLURM_CONF, PATH); the job inherits it (sbatch's default --export=ALL).
    public let environment: [String: String]
    public var note: (String) -> Void = { _ in }

    public init(options: SlurmOptions, environment: [String: String]) {
        self.options = options
        self.environment = environment
    }

    /// States in which a task will not run again by itself.
    public static let finalStates: Set<String> = [
        "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
        "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT",
    ]

    /// Whether a task in `state`, pending for `reason` (squeue's %T and %r), will not run by
    /// itself: held (by a user, an administrator, or Slurm after a failed launch or too many
    /// requeues), or over a limit the job can never meet (a per-job QOS or association limit, a
    /// partition's time limit, bad constraints, an invalid account or QOS, a dependency that
    /// can no longer be met). Waiting for nodes that are down (`PartitionNodeLimit`,
    /// `ReqNodeNotAvail`) is not stuck: the nodes may come back.
    public static func isStuck(state: String, reason: String) -> Bool {
        if ["REQUEUE_HOLD", "RESV_DEL_HOLD"].contains(state) { return true }
        guard state == "PENDING" else { return false }
        return reason.localizedCaseInsensitiveContains("held") || reason.localizedCaseInsensitiveContains("hold")
            || (reason.hasSuffix("PerJobLimit") && (reason.hasPrefix("QOS") || reason.hasPrefix("Assoc")))
            || ["PartitionTimeLimit", "BadConstraints", "InvalidAccount", "InvalidQOS", "DependencyNeverSatisfied"].contains(reason)
    }

    /// `command` on PATH (as a shell finds it), or nil.
    public func locate(_ command: String) -> String? {
        if command.contains("/") { return FileManager.default.isExecutableFile(atPath: command) ? command : nil }
        for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = (String(directory) as NSString).appendingPathComponent(command)
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Checks that sbatch and squeue are there before any work is done.
    public func checkCommands() throws {
        for command in ["sbatch", "squeue"] where locate(command) == nil { throw SlurmError.missingCommand(command) }
        // Slurm's commands wait a minute for a missing configuration file before they give up.
        if let conf = environment["SLURM_CONF"], !conf.isEmpty, !FileManager.default.fileExists(atPath: conf) {
            throw SlurmError.commandFailed(command: "sbatch", message: "SLURM_CONF names \(conf), which does not exist")
        }
    }

    /// Which cluster the commands talk to, for messages.
    var clusterDescription: String {
        if let conf = environment["SLURM_CONF"], !conf.isEmpty { return "SLURM_CONF=\(conf)" }
        return "the system's slurm.conf"
    }

    struct Output { var status: Int32; var stdout: String; var stderr: String }

    func execute(_ command: String, _ arguments: [String]) throws -> Output {
        guard let path = locate(command) else { throw SlurmError.missingCommand(command) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes to the end before waiting (a full pipe would block the child).
        final class Box: @unchecked Sendable { var data = Data() }
        let stderr = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { stderr.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr.data, as: UTF8.self))
    }

    /// The first meaningful line of a Slurm command's complaint ("sbatch: error: " removed).
    static func firstLine(_ text: String) -> String {
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard var line = lines.first(where: { $0.localizedCaseInsensitiveContains("error") }) ?? lines.first else {
            return "no message"
        }
        for prefix in ["sbatch: error: ", "squeue: error: ", "sacct: error: ", "error: "] where line.hasPrefix(prefix) {
            line.removeFirst(prefix.count)
        }
        return line
    }

    /// Slurm's compact array spelling: 0-3,5,7-8.
    public static func arraySpec(_ indices: [Int]) -> String {
        let sorted = Array(Set(indices)).sorted()
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// Submits `script` as an array over `indices`; returns the job id.
    public func submit(script: String, indices: [Int], jobName: String, logDirectory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let arguments = ["--parsable", "--array=\(Self.arraySpec(indices))", "--job-name=\(jobName)",
                         "--output=\((logDirectory as NSString).appendingPathComponent("%x-%A_%a.out"))"]
            + options.sbatchArguments + [script]
        let result = try execute("sbatch", arguments)
        let id = result.stdout.split(separator: "\n").last.map { String($0.split(separator: ";")[0]) } ?? ""
        guard result.status == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw SlurmError.commandFailed(command: "sbatch",
                                           message: Self.firstLine(result.stderr + "\n" + result.stdout) + " (\(clusterDescription))")
        }
        return id
    }

    /// Array task index -> state for `job`, or nil when Slurm no longer knows the job.
    public func taskStates(job: String) throws -> [Int: String]? {
        try taskStatesAndReasons(job: job)?.states
    }

    /// Array task index -> state, and for tasks squeue lists, why they are (not) running
    /// (squeue's %r: "None", "Priority", "JobHeldUser"...); nil when Slurm no longer knows the job.
    func taskStatesAndReasons(job: String) throws -> (states: [Int: String], reasons: [Int: String])? {
        let queue = try execute("squeue", ["-h", "-r", "-t", "all", "-j", job, "-o", "%K|%T|%r"])
        if queue.status == 0 {
            var states: [Int: String] = [:], reasons: [Int: String] = [:]
            for line in queue.stdout.split(separator: "\n") {
                let fields = line.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
                guard fields.count == 3, let index = Int(fields[0]) else { continue }
                states[index] = String(fields[1])
                reasons[index] = String(fields[2]).trimmingCharacters(in: .whitespaces)
            }
            if !states.isEmpty { return (states, reasons) }
        } else if !queue.stderr.contains("Invalid job id") {
            throw SlurmError.commandFailed(command: "squeue", message: Self.firstLine(queue.stderr) + " (\(clusterDescription))")
        }
        // Forgotten by the controller: accounting, if there is any, still knows.
        guard locate("sacct") != nil,
              let accounting = try? execute("sacct", ["-n", "-P", "-X", "-j", job, "-o", "JobID,State"]),
              accounting.status == 0
        else { return nil }
        var states: [Int: String] = [:]
        for line in accounting.stdout.split(separator: "\n") {
            let fields = line.split(separator: "|")
            guard fields.count >= 2, let underscore = fields[0].firstIndex(of: "_"),
                  let index = Int(fields[0][fields[0].index(after: underscore)...]) else { continue }
            states[index] = String(fields[1].split(separator: " ")[0])  // "CANCELLED by 0"
        }
        return states.isEmpty ? nil : (states, [:])
    }

    /// Waits until no task of `job` is queued or running; `tick` runs at every look.
    /// Returns the last states seen (empty when the job is unknown).
    /// Throws `tasksStuck` when every unfinished task has stayed stuck (`isStuck`) for
    /// `options.heldTimeout` seconds.
    public func follow(job: String, tick: () -> Void) throws -> [Int: String] {
        var last: [Int: String] = [:]
        var failures = 0
        var stuckSince: Date?
        while true {
            let seen: (states: [Int: String], reasons: [Int: String])?
            do {
                seen = try taskStatesAndReasons(job: job)
                failures = 0
            } catch let error as SlurmError {
                // A busy or restarting controller: keep looking for a while before giving up.
                failures += 1
                if failures >= 10 { throw error }
                Thread.sleep(forTimeInterval: options.pollInterval)
                continue
            }
            tick()
            guard let (states, reasons) = seen else { return last }
            last = states
            let unfinished = states.keys.filter { !Self.finalStates.contains(states[$0]!) }.sorted()
            if unfinished.isEmpty { return states }
            if unfinished.allSatisfy({ Self.isStuck(state: states[$0]!, reason: reasons[$0] ?? "") }) {
                let since = stuckSince ?? Date()
                stuckSince = since
                if Date().timeIntervalSince(since) >= options.heldTimeout {
                    // Why each is stuck: its pending reason, else its state (REQUEUE_HOLD).
                    let why = Dictionary(uniqueKeysWithValues: unfinished.map { i in
                        (i, [nil, "", "None"].contains(reasons[i]) ? states[i]! : reasons[i]!)
                    })
                    throw SlurmError.tasksStuck(job: job, shards: unfinished, reasons: why)
                }
            } else {
                stuckSince = nil
            }
            Thread.sleep(forTimeInterval: options.pollInterval)
        }
    }

    /// Runs `shards` (array indices) until `isDone` holds for each: submits the pending ones,
    /// follows the job, resubmits the ones still pending (up to `options.retries` times).
    /// `resume` is a job id from an earlier, interrupted run: followed first if Slurm still
    /// runs it. `submitted` is told every job id with the shards it runs.
    public func run(shards: [Int], script: String, jobName: String, logDirectory: String,
                    resume: String? = nil, isDone: (Int) -> Bool,
                    submitted: (String, [Int]) -> Void = { _, _ in }, tick: () -> Void = {}) throws {
        try checkCommands()
        var states: [Int: String] = [:]
        if let resume, let known = try? taskStates(job: resume),
           !known.values.allSatisfy(Self.finalStates.contains) {
            note("following Slurm job \(resume) from an earlier run")
            states = try follow(job: resume, tick: tick)
        }
        var pending = shards.filter { !isDone($0) }
        var attempt = 0
        while !pending.isEmpty {
            if attempt > 0 {
                guard attempt <= options.retries else {
                    throw SlurmError.tasksFailed(shards: pending, states: states, logs: logDirectory)
                }
                let why = pending.map { "\($0) (\(states[$0] ?? "no result"))" }.joined(separator: ", ")
                note("resubmitting shards \(why): retry \(attempt) of \(options.retries)")
            }
            let job = try submit(script: script, indices: pending, jobName: jobName, logDirectory: logDirectory)
            submitted(job, pending)
            states = try follow(job: job, tick: tick)
            pending = pending.filter { !isDone($0) }
            attempt += 1
        }
    }
}

/// The batch script of a sharded command: one array task runs `executable arguments` with
/// `--shard $SLURM_ARRAY_TASK_ID/N` and as many kernel threads as Slurm gave it cores.
public enum SlurmBatchScript {
    /// `text` quoted for a POSIX shell.
    public static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Every value in the script is quoted for the shell; values with a line break or another
    /// control character are refused (`SlurmError.unsafeArgument`): a quoted line break is valid
    /// shell, but the script is also read line by line by sbatch and by people, and a file name
    /// like that is almost always a mistake. `description` goes into a comment, its control
    /// characters shown as `?`.
    public static func make(executable: String, arguments: [String], shards: Int, description: String) throws -> String {
        for value in [executable] + arguments where value.unicodeScalars.contains(where: isControl) {
            throw SlurmError.unsafeArgument(value)
        }
        let comment = String(String.UnicodeScalarView(description.unicodeScalars.map { isControl($0) ? "?" : $0 }))
        return """
            #!/bin/sh
            # \(comment)
            # Written by lightbox for sbatch --array: task K runs shard K of \(shards).
            exec \(([executable] + arguments).map(quote).joined(separator: " ")) \\
                --shard "${SLURM_ARRAY_TASK_ID}/\(shards)" --threads "${SLURM_CPUS_PER_TASK:-1}"

            """
    }

    /// C0 and C1 control characters and DEL (a tab included): nothing a path on a cluster should
    /// hold. The names that reach a script were refused where they entered (`FileNames`); this is
    /// the script's own guard.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool { FileNames.isControl(scalar) }

    /// This process's executable, as a path other processes on the cluster can start
    /// (it must be on a file system the nodes share).
    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }
}
