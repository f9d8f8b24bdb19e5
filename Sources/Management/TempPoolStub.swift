// TEMPORARY until the stdio pool lands.
import JSON
import Pool
extension WorkerPool {
    var onToolsDiscovered: (([JSONValue]) -> Void)? { get { nil } set {} }
}
