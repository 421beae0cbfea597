import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// An exclusive lock on a state directory (`tiesim.lock`, holding the owner's pid), so two tiesim
/// processes never share one broker's files. The kernel drops it when the process dies.
/// The descriptor is close-on-exec: a child that inherited it would hold the lock after tiesim died.
final class StateLock: Sendable {
    private let descriptor: Int32
    private let path: String
    private let released = Atomic<Bool>(false)

    init(directory: String) throws {
        path = directory + "/tiesim.lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SimulatedFabric.StartError.failed("cannot create \(path): \(String(cString: strerror(errno)))") }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let owner = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(descriptor)
            throw SimulatedFabric.StartError.alreadyRunning(stateDirectory: directory, pid: owner.isEmpty ? "?" : owner)
        }
        ftruncate(descriptor, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
    }

    /// Releases the lock; later calls do nothing (a second close could close a descriptor reused since).
    func release() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        ftruncate(descriptor, 0)
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
