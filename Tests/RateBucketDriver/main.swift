// rate-bucket-driver: a second process for the rate bucket tests. It attaches to a call table by
// path and takes tokens from one bucket as fast as it can, so the test can prove that two processes
// mapping the same table share one limit.
//
// Usage: rate-bucket-driver TABLE KEY LIMIT ATTEMPTS NOW_MICROS
// Prints the number of requests the bucket allowed, then exits 0.
import CallTable
import Glibc
import SystemCalls

func complain(_ message: String) { Descriptor.writeAll(2, "rate-bucket-driver: \(message)\n") }

let arguments = CommandLine.arguments
guard arguments.count == 6, let limit = Int(arguments[3]), let attempts = Int(arguments[4]),
      let now = Int64(arguments[5]) else {
    complain("usage: rate-bucket-driver TABLE KEY LIMIT ATTEMPTS NOW_MICROS")
    exit(2)
}
do {
    let (table, created) = try CallTable.createOrAttach(path: arguments[1], callSlots: 1, workerSlots: 1, rateBuckets: 1)
    guard !created else {
        complain("no table at \(arguments[1]); it must be created by the test")
        exit(1)
    }
    let key = RateKey.hash(arguments[2])
    var allowed = 0
    for _ in 0..<attempts where table.takeRateToken(key: key, limit: limit, nowMicros: now)?.allowed == true {
        allowed += 1
    }
    print(allowed)
} catch {
    complain("\(error)")
    exit(1)
}
