import Testing
@testable import SystemCalls

@Suite struct RandomTests {
    @Test func uuidsAreVersion4AndNeverRepeatAcrossManyReserveRefills() {
        // 20,000 ids take 320,000 bytes: the 4 KiB reserve is refilled about 80 times.
        var seen = Set<String>()
        for _ in 0..<20_000 {
            let id = Random.uuid()
            #expect(id.count == 36)
            #expect(Array(id.utf8)[14] == UInt8(ascii: "4"))
            seen.insert(id)
        }
        #expect(seen.count == 20_000)
    }

    @Test func largeRequestsComeStraightFromTheKernel() {
        var first = [UInt8](repeating: 0, count: 8192)
        var second = [UInt8](repeating: 0, count: 8192)
        first.withUnsafeMutableBytes { Random.fill($0) }
        second.withUnsafeMutableBytes { Random.fill($0) }
        #expect(first != second)
        #expect(first.contains { $0 != 0 })
    }

    @Test func concurrentCallersNeverGetTheSameBytes() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 {
                group.addTask { (0..<2_000).map { _ in Random.hexToken(byteCount: 16) } }
            }
            var all: [String] = []
            for await batch in group { all += batch }
            return all
        }
        #expect(Set(ids).count == ids.count)
    }
}
