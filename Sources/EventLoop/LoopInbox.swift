import Glibc
import Synchronization
import SystemCalls

/// Brings values from other threads onto the loop's thread: the one way work done off the loop
/// (a blocking HTTP exchange on a background queue, say) reports back.
///
/// Invariants: `Sender.post` may be called from any thread, any number of times; `deliver` runs
/// only on the loop's thread, once per posted value, in posting order. A pipe wakes the loop:
/// one byte per post at most (a full pipe already means "wake up"), drained before the queue is
/// read, so no value is left behind without a pending wake-up.
public final class LoopInbox<Message: Sendable>: EventHandler {
    /// The thread-safe half, shared by the loop side and every sender.
    final class Mailbox: Sendable {
        let readFD: Int32
        let writeFD: Int32
        let queue = Mutex<[Message]>([])

        init() throws(SystemError) {
            let (read, write) = try Descriptor.pipe()
            do {
                try Descriptor.setNonBlocking(read)
                try Descriptor.setNonBlocking(write)
            } catch {
                Descriptor.close(read)
                Descriptor.close(write)
                throw error
            }
            readFD = read
            writeFD = write
        }

        deinit {
            Descriptor.close(readFD)
            Descriptor.close(writeFD)
        }

        func post(_ message: Message) {
            let wasEmpty = queue.withLock { queue in
                queue.append(message)
                return queue.count == 1
            }
            // Only the post that makes the queue non-empty must wake the loop: later ones find
            // the wake-up already pending (the loop drains the pipe before it empties the queue).
            guard wasEmpty else { return }
            var byte: UInt8 = 1
            _ = withUnsafeBytes(of: &byte) { Descriptor.write(writeFD, $0) }
        }

        func take() -> [Message] {
            queue.withLock { queue in
                let taken = queue
                queue.removeAll(keepingCapacity: true)
                return taken
            }
        }
    }

    /// What background work holds to report back; cheap to copy, safe to send anywhere.
    public struct Sender: Sendable {
        let mailbox: Mailbox
        public func post(_ message: Message) { mailbox.post(message) }
    }

    private let mailbox: Mailbox
    /// Weak: the loop holds this handler, and may be torn down first at exit.
    private weak var loop: EventLoop?
    private let deliver: (Message) -> Void

    /// `deliver` is called on the loop's thread for every posted message.
    public init(loop: EventLoop, deliver: @escaping (Message) -> Void) throws(SystemError) {
        mailbox = try Mailbox()
        self.loop = loop
        self.deliver = deliver
        try loop.register(mailbox.readFD, for: .readable, handler: self)
    }

    deinit { loop?.unregister(mailbox.readFD) }

    public var sender: Sender { Sender(mailbox: mailbox) }

    public func handleEvents(_ events: EventMask) {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 1) { scratch in
            while case .transferred(_) = Descriptor.read(mailbox.readFD, into: scratch.baseAddress!, count: scratch.count) {}
        }
        for message in mailbox.take() { deliver(message) }
    }
}
