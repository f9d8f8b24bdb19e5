// Splits a command line into words the way a POSIX shell would, without ever running one: curl
// command lines are pasted from documentation and browsers' "Copy as cURL", so they arrive quoted
// and continued over several lines. Nothing is expanded: `$VAR` and `$(...)` stay literal text.

enum ShellWords {
    /// The words of `line`.
    ///
    /// Understood: blanks (space, tab, newline) between words; 'single quotes' (everything literal);
    /// "double quotes" (backslash escapes only `$`, backquote, `"`, `\` and a newline);
    /// $'ANSI-C quotes' (what browsers emit for bodies with control characters); a backslash
    /// outside quotes (escapes the next character; backslash-newline is a line continuation);
    /// `#` starting a word (a comment to the end of the line).
    ///
    /// Refused: unterminated quotes, and unquoted shell operators (`|`, `;`, `&`, `<`, `>`, `(`,
    /// `)`, backquote), because a shell would act on them and the line would not mean what it says
    /// (e.g. an unquoted `&` in a URL would cut it short).
    static func split(_ line: String) throws(ToolSourceError) -> [String] {
        var splitter = Splitter(Array(line.unicodeScalars))
        return try splitter.words()
    }

    private struct Splitter {
        let scalars: [Unicode.Scalar]
        var index = 0
        var result: [String] = []
        var word = String.UnicodeScalarView()
        /// A word has started, even when it is empty so far ('' is a word of its own).
        var inWord = false

        init(_ scalars: [Unicode.Scalar]) {
            self.scalars = scalars
        }

        mutating func words() throws(ToolSourceError) -> [String] {
            while index < scalars.count {
                let scalar = scalars[index]
                switch scalar {
                case " ", "\t", "\n", "\r":
                    finishWord()
                    index += 1
                case "\\":
                    index += 1
                    if index < scalars.count {
                        if scalars[index] == "\n" {
                            index += 1  // continuation: the backslash and the newline vanish
                        } else if scalars[index] == "\r", index + 1 < scalars.count, scalars[index + 1] == "\n" {
                            index += 2  // the same, pasted with Windows line ends
                        } else {
                            append(scalars[index])
                            index += 1
                        }
                    } else {
                        inWord = true  // a trailing lone backslash means nothing
                    }
                case "'":
                    try singleQuoted()
                case "\"":
                    try doubleQuoted()
                case "$" where index + 1 < scalars.count && scalars[index + 1] == "'":
                    try ansiQuoted()
                case "#" where !inWord:
                    while index < scalars.count && scalars[index] != "\n" { index += 1 }
                case "|", ";", "&", "<", ">", "(", ")", "`":
                    throw ToolSourceError(
                        "unquoted '\(scalar)' in the curl command: a shell would treat it as an operator; "
                            + "give a single curl command and quote URLs and data that contain it")
                default:
                    append(scalar)
                    index += 1
                }
            }
            finishWord()
            return result
        }

        private mutating func append(_ scalar: Unicode.Scalar) {
            word.append(scalar)
            inWord = true
        }

        private mutating func finishWord() {
            if inWord { result.append(String(word)) }
            word = String.UnicodeScalarView()
            inWord = false
        }

        private mutating func singleQuoted() throws(ToolSourceError) {
            inWord = true
            index += 1
            while index < scalars.count, scalars[index] != "'" {
                word.append(scalars[index])
                index += 1
            }
            guard index < scalars.count else { throw ToolSourceError("unterminated single quote in the curl command") }
            index += 1
        }

        private mutating func doubleQuoted() throws(ToolSourceError) {
            inWord = true
            index += 1
            while index < scalars.count, scalars[index] != "\"" {
                if scalars[index] == "\\", index + 1 < scalars.count {
                    let next = scalars[index + 1]
                    switch next {
                    case "\n":
                        index += 2
                        continue
                    case "$", "`", "\"", "\\":
                        word.append(next)
                        index += 2
                        continue
                    default:
                        break  // any other backslash is kept, as the shell keeps it
                    }
                }
                word.append(scalars[index])
                index += 1
            }
            guard index < scalars.count else { throw ToolSourceError("unterminated double quote in the curl command") }
            index += 1
        }

        /// $'...' with the escapes bash gives it: \n \t \r \\ \' \" \a \b \e \f \v \0NN \xHH \uHHHH.
        private mutating func ansiQuoted() throws(ToolSourceError) {
            inWord = true
            index += 2
            while index < scalars.count, scalars[index] != "'" {
                guard scalars[index] == "\\", index + 1 < scalars.count else {
                    word.append(scalars[index])
                    index += 1
                    continue
                }
                let escape = scalars[index + 1]
                index += 2
                switch escape {
                case "n": word.append("\n")
                case "t": word.append("\t")
                case "r": word.append("\r")
                case "a": word.append("\u{07}")
                case "b": word.append("\u{08}")
                case "e", "E": word.append("\u{1B}")
                case "f": word.append("\u{0C}")
                case "v": word.append("\u{0B}")
                case "\\", "'", "\"", "?": word.append(escape)
                case "x": appendCode(radix: 16, maxDigits: 2, fallback: "\\x")
                case "u": appendCode(radix: 16, maxDigits: 4, fallback: "\\u")
                case "U": appendCode(radix: 16, maxDigits: 8, fallback: "\\U")
                case "0": appendCode(radix: 8, maxDigits: 3, fallback: "\0")
                default:
                    word.append("\\")
                    word.append(escape)
                }
            }
            guard index < scalars.count else { throw ToolSourceError("unterminated $'...' quote in the curl command") }
            index += 1
        }

        /// Reads up to `maxDigits` digits in `radix` as one scalar; without digits, `fallback`.
        private mutating func appendCode(radix: UInt32, maxDigits: Int, fallback: String) {
            var value: UInt32 = 0
            var digits = 0
            while digits < maxDigits, index < scalars.count,
                  let digit = Self.digitValue(scalars[index], radix: radix) {
                value = value &* radix &+ digit
                digits += 1
                index += 1
            }
            if digits == 0 {
                word.append(contentsOf: fallback.unicodeScalars)
            } else if let scalar = Unicode.Scalar(value) {
                word.append(scalar)
            } else {
                word.append("\u{FFFD}")
            }
        }

        private static func digitValue(_ scalar: Unicode.Scalar, radix: UInt32) -> UInt32? {
            let value: UInt32
            switch scalar {
            case "0"..."9": value = scalar.value - 48
            case "a"..."f": value = scalar.value - 97 + 10
            case "A"..."F": value = scalar.value - 65 + 10
            default: return nil
            }
            return value < radix ? value : nil
        }
    }
}
