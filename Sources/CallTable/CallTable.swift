// The mapping of a call table and its header fields. Creating, attaching and opening are here;
// call slots and worker slots are in their own files. The layout is described in Layout.swift.
import CMcpd
import Glibc
import SystemCalls

/// One process's mapping of the call table.
///
/// A `CallTable` owns its descriptor and its mapping: `deinit` unmaps and closes both. Use one per
/// process and keep it on one thread; the operations are atomic on the shared region, but the claim
/// hints kept here are plain process-local state.
public final class CallTable {
    /// The table's file descriptor (close-on-exec). The supervisor hands it to workers, which attach.
    public let descriptor: Int32
    /// False for a read-only mapping (mcpctl); every writing operation traps on it.
    public let isWritable: Bool

    let base: UnsafeMutableRawPointer
    let geometry: Layout.Geometry
    /// Where the next claim starts scanning, so that claims spread over the slots and stay O(1)
    /// while the table is far from full.
    var nextCallSlotHint = 0
    var nextWorkerSlotHint = 0

    private init(descriptor: Int32, base: UnsafeMutableRawPointer, geometry: Layout.Geometry, isWritable: Bool) {
        self.descriptor = descriptor
        self.base = base
        self.geometry = geometry
        self.isWritable = isWritable
    }

    deinit {
        munmap(base, geometry.totalSize)
        Descriptor.close(descriptor)
    }

    public var callSlotCount: Int { geometry.callSlotCount }
    public var workerSlotCount: Int { geometry.workerSlotCount }

    // MARK: creating, attaching, opening

    /// Creates a new table at `path` for the supervisor, replacing any table there.
    ///
    /// The table is built in a new file beside `path` and renamed over it once complete, so a reader
    /// never sees a half-written header and a reader of the old table keeps its old mapping intact.
    /// The space is allocated up front: a sparse file on a full tmpfs would SIGBUS a later write.
    public static func create(path: String, callSlots: Int, workerSlots: Int,
                              rateBuckets: Int) throws(CallTableError) -> CallTable {
        try checkRange(callSlots, Layout.callSlotRange, "callSlots")
        try checkRange(workerSlots, Layout.workerSlotRange, "workerSlots")
        try checkRange(rateBuckets, Layout.rateBucketRange, "rateBuckets")
        let geometry = Layout.Geometry(callSlots: callSlots, workerSlots: workerSlots, rateBuckets: rateBuckets)

        let temporary = "\(path).\(getpid()).new"
        // A leftover from a crashed supervisor that had the same pid.
        unlink(temporary)
        let fd = Glibc.open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(0o640))
        guard fd >= 0 else { throw failure("cannot create the call table \(temporary)", errno) }
        func abandon(_ error: CallTableError) -> CallTableError {
            Descriptor.close(fd)
            unlink(temporary)
            return error
        }
        // The process umask may have removed bits; group read is part of the contract (mcpctl).
        guard fchmod(fd, mode_t(0o640)) == 0 else { throw abandon(failure("fchmod \(temporary)", errno)) }
        do {
            _ = try retryingInterrupts("ftruncate") { ftruncate(fd, off_t(geometry.totalSize)) }
        } catch {
            throw abandon(failure("cannot size the call table \(temporary) to \(geometry.totalSize) bytes", error.errno))
        }
        var rc: Int32
        repeat { rc = posix_fallocate(fd, 0, off_t(geometry.totalSize)) } while rc == EINTR
        // Filesystems without fallocate keep the sparse file; tmpfs, ext4 and xfs all have it.
        if rc != 0 && rc != EOPNOTSUPP {
            throw abandon(failure("cannot allocate \(geometry.totalSize) bytes for the call table \(temporary)", rc))
        }
        guard let base = map(fd, length: geometry.totalSize, writable: true) else {
            throw abandon(failure("cannot map the call table \(temporary)", errno))
        }
        let table = CallTable(descriptor: fd, base: base, geometry: geometry, isWritable: true)
        table.writeHeader()
        guard rename(temporary, path) == 0 else {
            let error = failure("cannot rename \(temporary) to \(path)", errno)
            unlink(temporary)
            throw error  // `table` unmaps and closes as it goes
        }
        return table
    }

    /// Maps an inherited descriptor read-write (a worker), after validating the header.
    /// On success the table owns the descriptor; on failure it stays open and the caller's.
    public static func attach(descriptor: Int32) throws(CallTableError) -> CallTable {
        try mapExisting(descriptor, source: "call table (descriptor \(descriptor))", writable: true)
    }

    /// Opens the table at `path` (mcpctl), after validating the header: read-only, or read-write
    /// for the commands that ask the supervisor to cancel calls.
    public static func open(path: String, writable: Bool = false) throws(CallTableError) -> CallTable {
        let fd = Glibc.open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT: throw CallTableError("no call table at \(path) (is mcpd running, with this runtime directory?)")
            case EACCES:
                throw CallTableError("permission denied \(writable ? "writing" : "reading") \(path) (mcpctl needs "
                                     + (writable ? "the mcpd user)" : "the mcpd user or its group)"))
            default: throw failure("cannot open \(path)", code)
            }
        }
        do {
            return try mapExisting(fd, source: path, writable: writable)
        } catch {
            Descriptor.close(fd)
            throw error
        }
    }

    private static func mapExisting(_ fd: Int32, source: String, writable: Bool) throws(CallTableError) -> CallTable {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("cannot stat the \(source)", errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw CallTableError("\(source) is not a regular file") }
        let fileSize = Int(info.st_size)
        // The header is validated from a private copy first: mapping past the end of a truncated file
        // would turn the first read of a missing page into SIGBUS.
        var header = [UInt8](repeating: 0, count: Layout.headerSize)
        let read = header.withUnsafeMutableBytes { buffer in
            Result { () throws(SystemError) -> Int in
                try retryingInterrupts("pread") { pread(fd, buffer.baseAddress, min(fileSize, Layout.headerSize), 0) }
            }
        }
        let headerBytes: Int
        switch read {
        case .success(let count): headerBytes = count
        case .failure(let error): throw failure("cannot read the \(source)", error.errno)
        }
        let geometry = try validate(header: header[..<headerBytes], fileSize: fileSize, source: source)
        guard let base = map(fd, length: geometry.totalSize, writable: writable) else {
            throw failure("cannot map the \(source)", errno)
        }
        return CallTable(descriptor: fd, base: base, geometry: geometry, isWritable: writable)
    }

    /// Checks a header copy against what this build understands and returns where the regions are.
    static func validate(header: ArraySlice<UInt8>, fileSize: Int, source: String) throws(CallTableError) -> Layout.Geometry {
        // A private copy, not the shared region: plain loads are right here.
        func u32(_ offset: Int) -> UInt32 { header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) } }
        func u64(_ offset: Int) -> UInt64 { header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) } }
        func truncated() -> CallTableError {
            CallTableError("\(source) is truncated: \(fileSize) bytes, shorter than the \(Layout.headerSize)-byte header")
        }

        guard header.count >= 8 else { throw truncated() }
        guard u64(Layout.Header.magic) == Layout.magic else {
            throw CallTableError("\(source) is not an mcpd call table (it does not start with \"MCPDLBT1\")")
        }
        guard header.count >= Layout.headerSize else { throw truncated() }
        let version = u32(Layout.Header.layoutVersion)
        guard version == Layout.version else {
            throw CallTableError("\(source): layout version \(version) is not supported (this \(programName) reads version \(Layout.version))")
        }
        guard u32(Layout.Header.ready) == 1 else {
            throw CallTableError("\(source): table not ready (mcpd has not finished creating it)")
        }
        let sizes: [(String, Int, Int)] = [
            ("header size", Layout.Header.headerSize, Layout.headerSize),
            ("call slot size", Layout.Header.callSlotSize, Layout.callSlotSize),
            ("worker slot size", Layout.Header.workerSlotSize, Layout.workerSlotSize),
            ("rate bucket size", Layout.Header.rateBucketSize, Layout.rateBucketSize),
        ]
        for (name, offset, expected) in sizes where Int(u32(offset)) != expected {
            throw CallTableError("\(source): \(name) \(u32(offset)) is not supported (layout version \(Layout.version) uses \(expected))")
        }
        let geometry = Layout.Geometry(
            callSlotCount: Int(u32(Layout.Header.callSlotCount)),
            workerSlotCount: Int(u32(Layout.Header.workerSlotCount)),
            rateBucketCount: Int(u32(Layout.Header.rateBucketCount)),
            callSlotsOffset: Int(clamping: u64(Layout.Header.callSlotsOffset)),
            workerSlotsOffset: Int(clamping: u64(Layout.Header.workerSlotsOffset)),
            rateBucketsOffset: Int(clamping: u64(Layout.Header.rateBucketsOffset)),
            totalSize: Int(clamping: u64(Layout.Header.totalSize)))
        if let problem = geometry.problem() {
            throw CallTableError("\(source) has an inconsistent header: \(problem)")
        }
        guard geometry.totalSize <= fileSize else {
            throw CallTableError("\(source) is truncated: \(fileSize) bytes, but its header says \(geometry.totalSize)")
        }
        return geometry
    }

    // MARK: header

    public var supervisorPid: Int32 { Int32(bitPattern: load32(header(Layout.Header.supervisorPid))) }

    public var supervisorState: SupervisorState {
        SupervisorState(rawValue: load32(header(Layout.Header.supervisorState))) ?? .none
    }

    public func setSupervisorState(_ state: SupervisorState) {
        requireWritable()
        store32(header(Layout.Header.supervisorState), state.rawValue)
    }

    /// Stamps the supervisor heartbeat with the wall clock; probes compare it with their own clock.
    public func stampSupervisorHeartbeat() {
        requireWritable()
        store64(header(Layout.Header.supervisorHeartbeatMs), UInt64(bitPattern: Clock.wallMillis()))
    }

    public var supervisorHeartbeatMs: Int64 { Int64(bitPattern: load64(header(Layout.Header.supervisorHeartbeatMs))) }

    public var startedAtMs: Int64 { Int64(bitPattern: load64(header(Layout.Header.startedAtMs))) }

    public var cancelEpoch: UInt64 { load64(header(Layout.Header.cancelEpoch)) }

    /// Starts a new cancel epoch: every call started before it is to be abandoned. Returns the new epoch.
    @discardableResult
    public func bumpCancelEpoch() -> UInt64 {
        requireWritable()
        return mcpd_add_u64(header(Layout.Header.cancelEpoch), 1) &+ 1
    }

    public var queueDepth: Int { Int(load32(header(Layout.Header.queueDepth))) }
    public var queueCapacity: Int { Int(load32(header(Layout.Header.queueCapacity))) }

    public func setQueue(depth: Int, capacity: Int) {
        requireWritable()
        store32(header(Layout.Header.queueDepth), UInt32(clamping: depth))
        store32(header(Layout.Header.queueCapacity), UInt32(clamping: capacity))
    }

    public func increment(_ counter: CallTableCounter) {
        requireWritable()
        _ = mcpd_add_u64(header(Layout.Header.counters + 8 * counter.rawValue), 1)
    }

    public func value(of counter: CallTableCounter) -> UInt64 {
        load64(header(Layout.Header.counters + 8 * counter.rawValue))
    }

    /// Copies the whole table out: the header, then every call and worker slot that is not free.
    public func snapshot() -> CallTableSnapshot {
        var counters: [CallTableCounter: UInt64] = [:]
        for counter in CallTableCounter.allCases { counters[counter] = value(of: counter) }
        var calls: [CallRecord] = []
        for slot in 0..<callSlotCount where callStateRaw(slot) != CallState.free.rawValue {
            if let record = readCall(slot: slot) { calls.append(record) }
        }
        var workers: [WorkerRecord] = []
        for slot in 0..<workerSlotCount {
            if let record = readWorker(slot: slot) { workers.append(record) }
        }
        return CallTableSnapshot(
            supervisorPid: supervisorPid, supervisorState: supervisorState,
            supervisorHeartbeatMs: supervisorHeartbeatMs, startedAtMs: startedAtMs,
            cancelEpoch: cancelEpoch, queueDepth: queueDepth, queueCapacity: queueCapacity,
            counters: counters, calls: calls, workers: workers,
            callSlotCount: callSlotCount, workerSlotCount: workerSlotCount)
    }

    // MARK: helpers shared by the slot files

    /// Fills a new header. `ready` is stored last, after a full barrier, so that a reader that sees
    /// ready = 1 sees every other header field too.
    private func writeHeader() {
        typealias H = Layout.Header
        store64(header(H.magic), Layout.magic)
        store32(header(H.layoutVersion), Layout.version)
        store32(header(H.headerSize), UInt32(Layout.headerSize))
        store32(header(H.callSlotCount), UInt32(geometry.callSlotCount))
        store32(header(H.callSlotSize), UInt32(Layout.callSlotSize))
        store32(header(H.workerSlotCount), UInt32(geometry.workerSlotCount))
        store32(header(H.workerSlotSize), UInt32(Layout.workerSlotSize))
        store32(header(H.rateBucketCount), UInt32(geometry.rateBucketCount))
        store32(header(H.rateBucketSize), UInt32(Layout.rateBucketSize))
        store64(header(H.callSlotsOffset), UInt64(geometry.callSlotsOffset))
        store64(header(H.workerSlotsOffset), UInt64(geometry.workerSlotsOffset))
        store64(header(H.rateBucketsOffset), UInt64(geometry.rateBucketsOffset))
        store64(header(H.totalSize), UInt64(geometry.totalSize))
        store32(header(H.supervisorPid), UInt32(bitPattern: getpid()))
        store32(header(H.supervisorState), SupervisorState.starting.rawValue)
        let now = UInt64(bitPattern: Clock.wallMillis())
        store64(header(H.startedAtMs), now)
        store64(header(H.supervisorHeartbeatMs), now)
        mcpd_fence()
        store32(header(H.ready), 1)
    }

    @inline(__always) func header(_ offset: Int) -> UnsafeMutableRawPointer { base + offset }

    @inline(__always) func requireWritable() {
        precondition(isWritable, "the call table is mapped read-only")
    }

    private static func map(_ fd: Int32, length: Int, writable: Bool) -> UnsafeMutableRawPointer? {
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        let address = mmap(nil, length, protection, MAP_SHARED, fd, 0)
        guard let address, address != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }
        return address
    }

    private static func checkRange(_ value: Int, _ range: ClosedRange<Int>, _ name: String) throws(CallTableError) {
        guard range.contains(value) else {
            throw CallTableError("\(name) must be in \(Layout.describe(range)), not \(value)")
        }
    }

    private static func failure(_ what: String, _ code: Int32) -> CallTableError {
        CallTableError("\(what): \(String(cString: strerror(code)))")
    }

    /// The running program's name, so that a version error names the tool that refuses the table.
    private static var programName: String {
        let path = CommandLine.arguments.first ?? "mcpd"
        return path.split(separator: "/").last.map(String.init) ?? path
    }
}

// The only ways this module touches the region. Loads acquire and stores release, which is also
// what makes the seqlocks correct: no field access moves across the sequence accesses around it.
@inline(__always) func load32(_ p: UnsafeMutableRawPointer) -> UInt32 { mcpd_load_u32(p) }
@inline(__always) func load64(_ p: UnsafeMutableRawPointer) -> UInt64 { mcpd_load_u64(p) }
@inline(__always) func store32(_ p: UnsafeMutableRawPointer, _ value: UInt32) { mcpd_store_u32(p, value) }
@inline(__always) func store64(_ p: UnsafeMutableRawPointer, _ value: UInt64) { mcpd_store_u64(p, value) }
