// An ordered JSON object.
//
// Invariant: no key appears twice. Members stay in the order they were parsed or first inserted, so a
// value serializes the way it was written; equality ignores order, as JSON does.

/// A JSON object whose members keep their order.
///
/// Lookup is a linear scan: objects on mcpd's paths (requests, tool inputs, schemas) hold a handful of
/// members, for which a scan beats hashing and keeps the type a plain array.
public struct JSONObject: Sendable, Sequence {
    public typealias Element = (key: String, value: JSONValue)

    // Internal so the parser can hand over members it has already made unique.
    var members: [Element]

    public init() {
        members = []
    }

    /// Builds an object from `members` in order; when a key repeats, the last value wins and keeps
    /// the position of the first.
    public init(_ members: [(String, JSONValue)]) {
        self.members = Self.removingDuplicateKeys(members.map { (key: $0.0, value: $0.1) })
    }

    /// Wraps members the caller guarantees to have distinct keys.
    init(uniqueMembers: [Element]) {
        members = uniqueMembers
    }

    /// `members` with each repeated key folded into its first position, holding its last value.
    static func removingDuplicateKeys(_ members: [Element]) -> [Element] {
        if members.count < 2 { return members }
        if members.count <= 16 {
            // Duplicates are rare: a quadratic check on a small object is cheaper than hashing it.
            var hasDuplicate = false
            search: for later in 1..<members.count {
                for earlier in 0..<later where sameKey(members[earlier].key, members[later].key) {
                    hasDuplicate = true
                    break search
                }
            }
            if !hasDuplicate { return members }
        }
        var positions: [String: Int] = [:]
        positions.reserveCapacity(members.count)
        var unique: [Element] = []
        unique.reserveCapacity(members.count)
        for member in members {
            if let position = positions[member.key] {
                unique[position].value = member.value
            } else {
                positions[member.key] = unique.count
                unique.append(member)
            }
        }
        return unique
    }

    /// The member named `key`. Setting replaces the value in place or appends a new member;
    /// setting nil removes the member.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let index = index(of: key) else { return nil }
            return members[index].value
        }
        set {
            let index = index(of: key)
            switch (index, newValue) {
            case (let index?, let value?):
                members[index].value = value
            case (let index?, nil):
                members.remove(at: index)
            case (nil, let value?):
                members.append((key: key, value: value))
            case (nil, nil):
                break
            }
        }
    }

    public var keys: [String] { members.map(\.key) }
    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }

    public func makeIterator() -> IndexingIterator<[Element]> {
        members.makeIterator()
    }

    public var underestimatedCount: Int { members.count }

    private func index(of key: String) -> Int? {
        // A plain loop over the storage: firstIndex copied each member (retain and release) to
        // hand it to the closure.
        let length = key.utf8.count
        return members.withUnsafeBufferPointer { buffer in
            for index in buffer.indices where buffer[index].key.utf8.count == length && buffer[index].key == key {
                return index
            }
            return nil
        }
    }
}

/// String equality with the lengths compared first: == on two different strings takes Swift's
/// Unicode-aware slow path, and member lookups compare a key with most members' keys.
@inline(__always)
func sameKey(_ a: String, _ b: String) -> Bool {
    a.utf8.count == b.utf8.count && a == b
}

extension JSONObject: Equatable {
    /// Objects are equal when they hold the same keys with equal values, in any order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        // Same order is the common case (a value compared with a copy or a re-parse): check it first.
        var sameOrder = true
        for (left, right) in zip(lhs.members, rhs.members) {
            guard left.key == right.key else {
                sameOrder = false
                break
            }
            guard left.value == right.value else { return false }
        }
        if sameOrder { return true }
        for member in lhs.members {
            guard let other = rhs[member.key], other == member.value else { return false }
        }
        return true
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }
}

extension JSONObject: CustomStringConvertible {
    public var description: String { JSONValue.object(self).serialized() }
}
