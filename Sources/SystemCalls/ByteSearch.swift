import Glibc

// Byte-level searches over a string's UTF-8, for the tokens every request meets (paths, owner
// strings). The generic Collection algorithms step through String.UTF8View one index at a time,
// ~12 instructions a byte and no vectorisation; memchr and memcmp read the contiguous storage that
// native strings have. Non-contiguous (bridged) strings take the generic path.
extension StringProtocol {
    /// The UTF-8 offset of the first `byte`, nil when there is none.
    @inlinable
    public func utf8Offset(of byte: UInt8) -> Int? {
        if let found = utf8.withContiguousStorageIfAvailable({ bytes -> Int? in
            guard let base = bytes.baseAddress, let hit = memchr(base, Int32(byte), bytes.count) else { return nil }
            return UnsafeRawPointer(base).distance(to: UnsafeRawPointer(hit))
        }) {
            return found
        }
        return utf8.firstIndex(of: byte).map { utf8.distance(from: utf8.startIndex, to: $0) }
    }

    /// Whether the UTF-8 bytes begin with `prefix`.
    @inlinable
    public func hasUTF8Prefix(_ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        let pattern = UnsafeBufferPointer(start: prefix.utf8Start, count: count)
        if let found = utf8.withContiguousStorageIfAvailable({ bytes -> Bool in
            bytes.count >= count && (count == 0 || memcmp(bytes.baseAddress!, prefix.utf8Start, count) == 0)
        }) {
            return found
        }
        return utf8.starts(with: pattern)
    }

    /// The part before the UTF-8 offset `offset` (a character boundary: the offset of an ASCII byte).
    @inlinable
    public func prefix(utf8Offset offset: Int) -> SubSequence {
        self[..<utf8.index(utf8.startIndex, offsetBy: offset)]
    }
}
