// RFC 4648 base64: binary carried in JSON strings (resource blobs, requestState) and Basic
// credentials.

public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let a = UInt32(bytes[index])
            let b = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let c = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let triple = a << 16 | b << 8 | c
            out.append(alphabet[Int(triple >> 18 & 63)])
            out.append(alphabet[Int(triple >> 12 & 63)])
            out.append(index + 1 < bytes.count ? alphabet[Int(triple >> 6 & 63)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(triple & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded or unpadded base64; nil for anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        for byte in text.utf8 where byte != UInt8(ascii: "=") {
            guard let index = alphabet.firstIndex(of: byte) else { return nil }
            values.append(UInt8(index))
        }
        var out: [UInt8] = []
        var index = 0
        while index + 1 < values.count {
            let a = UInt32(values[index]), b = UInt32(values[index + 1])
            let c = index + 2 < values.count ? UInt32(values[index + 2]) : 0
            let d = index + 3 < values.count ? UInt32(values[index + 3]) : 0
            let quad = a << 18 | b << 12 | c << 6 | d
            out.append(UInt8(quad >> 16 & 255))
            if index + 2 < values.count { out.append(UInt8(quad >> 8 & 255)) }
            if index + 3 < values.count { out.append(UInt8(quad & 255)) }
            index += 4
        }
        return out
    }
}
