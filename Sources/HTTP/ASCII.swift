/// Byte-level helpers for the ASCII tokens of HTTP (header names, media types, host names).
/// Request handling compares these on every request; working on UTF-8 bytes avoids String's
/// Unicode-aware comparison and the allocations of lowercasing.
public enum ASCII {
    @inlinable
    public static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= 65 && byte <= 90 ? byte + 32 : byte
    }

    /// Whether two byte sequences are equal, ignoring ASCII case.
    @inlinable
    public static func equalIgnoringCase<A: Collection, B: Collection>(_ a: A, _ b: B) -> Bool
    where A.Element == UInt8, B.Element == UInt8 {
        guard a.count == b.count else { return false }
        // Indices stepped by hand: zip and allSatisfy cost ~10 instructions a byte more, and the
        // Accept header is compared on every POST.
        var left = a.startIndex, right = b.startIndex
        while left != a.endIndex {
            if lowercased(a[left]) != lowercased(b[right]) { return false }
            a.formIndex(after: &left)
            b.formIndex(after: &right)
        }
        return true
    }
}
