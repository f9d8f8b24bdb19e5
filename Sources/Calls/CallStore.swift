import SystemCalls

/// Every call the API knows: running ones, and ended ones of the execute API kept for late streams,
/// status queries and request_id idempotency for `retentionMs` (10 minutes), bounded by `maxEnded`
/// so that memory stays bounded under any load (the oldest ended calls go first).
public final class CallStore {
    /// Running calls, and the ended ones kept for `retentionMs`: two maps, so that a call that
    /// keeps nothing once it ends costs one insertion and one removal.
    private var active: [String: CallRecord] = [:]
    private var retained: [String: CallRecord] = [:]
    private var byRequestId: [String: CallRecord] = [:]
    /// Retained calls in the order they ended; `endedHead` is the oldest still retained. An
    /// evicted slot is emptied at once, so each record is freed as it is evicted, one at a time:
    /// compacting the array then only moves empty slots. (Holding them until the compaction freed
    /// 50,000 records in one go, a 20–60 ms stall of the event loop every 50,000 execute calls.)
    private var ended: [CallRecord?] = []
    private var endedHead = 0
    let retentionMs: Int64
    let maxEnded: Int

    public init(retentionMs: Int64 = 600_000, maxEnded: Int = 50_000) {
        self.retentionMs = retentionMs
        self.maxEnded = maxEnded
    }

    public func insert(_ call: CallRecord) {
        active[call.id] = call
        if let requestId = call.requestId { byRequestId[Self.idempotencyKey(call.owner, requestId)] = call }
    }

    /// The caller's call with this id; another owner's call is reported as absent.
    public func call(id: String, owner: String) -> CallRecord? {
        guard let call = active[id] ?? retained[id], call.owner == owner else { return nil }
        return call
    }

    /// The call this owner started with this request_id within the retention window.
    public func call(owner: String, requestId: String) -> CallRecord? {
        byRequestId[Self.idempotencyKey(owner, requestId)]
    }

    public func activeCalls(owner: String) -> [CallRecord] {
        active.values.filter { $0.owner == owner }.sorted { $0.createdAtWallMs < $1.createdAtWallMs }
    }

    public var activeCount: Int { active.count }

    public func markEnded(_ call: CallRecord) {
        active[call.id] = nil
        // A call that keeps no events (MCP's, the registry's invoke) never had its id given to its
        // caller, so nothing can ask for it once it has ended: it is not retained. Retaining them
        // held 50,000 records (~35 MB) under load and slowed every lookup (~8 % of row 3).
        guard call.keepsEvents || call.requestId != nil else { return }
        retained[call.id] = call
        ended.append(call)
        evict(now: Clock.monotonicMillis())
    }

    public func evict(now: Int64) {
        while endedHead < ended.count, let oldest = ended[endedHead] {
            guard ended.count - endedHead > maxEnded || now - oldest.endedAtMs >= retentionMs else { break }
            retained[oldest.id] = nil
            if let requestId = oldest.requestId, byRequestId[Self.idempotencyKey(oldest.owner, requestId)] === oldest {
                byRequestId[Self.idempotencyKey(oldest.owner, requestId)] = nil
            }
            ended[endedHead] = nil
            endedHead += 1
        }
        if endedHead > 4096 && endedHead * 2 > ended.count {
            ended.removeFirst(endedHead)
            endedHead = 0
        }
    }

    private static func idempotencyKey(_ owner: String, _ requestId: String) -> String { owner + "\u{0}" + requestId }
}
