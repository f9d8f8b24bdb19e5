// SystemCalls: the one thin layer over the kernel. Everything above it sees typed errors and
// values (`IOResult`), never errno; EINTR is retried here and nowhere else.
import Glibc

/// A failed system call: which one, and the errno it returned.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public let operation: String
    public let errno: Int32

    public init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        "\(operation): \(String(cString: strerror(errno)))"
    }
}

/// The outcome of a non-blocking read or write.
public enum IOResult: Equatable, Sendable {
    case transferred(Int)
    case wouldBlock
    case endOfFile
    case failed(Int32)
}

/// Calls `body` until it stops failing with EINTR; returns its result or throws its errno.
@inline(__always)
public func retryingInterrupts<T: BinaryInteger>(_ operation: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SystemError(operation, errno: code)
    }
}
