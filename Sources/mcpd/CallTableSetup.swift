import CallTable
import Glibc
import Logging
import SystemCalls
import Systemd

/// How the supervisor gets its call table: its own in the runtime directory (the default), or one
/// shared with other supervisors (--call-table). Its own table is offered to systemd's fd store, and
/// a table handed back at start (LISTEN_FDS, FDNAME=callTable) gives its rate buckets to the new one,
/// so clients keep their limits across a restart.
enum CallTableSetup {
    /// The name the table is stored under in the fd store.
    static let fdStoreName = "callTable"
    /// 64 bytes each: 1 MiB, room for the buckets of 16,384 clients active within a minute. Beyond
    /// that, new clients pass unlimited (logged) until buckets refill.
    static let rateBuckets = 16_384

    static func open(_ configuration: Configuration, kept: Int32?, notifier: ServiceNotifier) throws -> CallTable {
        // A slot for every call that can be admitted (queued or running), and for workers still
        // being reaped after their replacements started.
        let callSlots = configuration.queueMax + configuration.workersMax * 2 + 16
        // Room for stdio servers' processes too (each has a worker slot).
        let workerSlots = configuration.workersMax * 2 + 136
        if let shared = configuration.callTablePath {
            if let kept { Descriptor.close(kept) }
            let (table, created) = try CallTable.createOrAttach(path: shared, callSlots: callSlots, workerSlots: workerSlots,
                                                                rateBuckets: rateBuckets)
            if !created && table.adoptHeaderIfCreatorExited() {
                Log.info("took over the shared call table's supervisor fields: its creator has exited", ["path": shared])
            }
            Log.info(created ? "created the shared call table" : "attached to the shared call table", ["path": shared])
            return table
        }
        let directory = RuntimeDirectory.resolve(explicit: configuration.runtimeDirectory)
        try RuntimeDirectory.ensureExists(directory)
        let table = try CallTable.create(path: RuntimeDirectory.tablePath(in: directory), callSlots: callSlots,
                                         workerSlots: workerSlots, rateBuckets: rateBuckets)
        if let kept {
            do {
                let previous = try CallTable.attach(descriptor: kept)
                let adopted = table.adoptRateBuckets(from: previous)
                Log.info("kept the rate buckets of the previous call table (from the fd store)", ["buckets": String(adopted)])
            } catch {
                Descriptor.close(kept)
                Log.warn("the call table passed back by the service manager is unusable; rate limits start afresh",
                         ["error": error.description])
            }
        }
        if notifier.isConnected && !notifier.store(descriptor: table.descriptor, name: fdStoreName) {
            Log.warn("could not offer the call table to the service manager's fd store; rate limits restart with mcpd")
        }
        return table
    }
}
