// Which allocator the executable runs on: jemalloc (the default, trait `Jemalloc`) or
// glibc malloc (`swift build --disable-default-traits`). Asking jemalloc its version also
// keeps the linker from dropping the library as unused.
#if Jemalloc
    import CJemalloc
#endif

enum Allocator {
    static var name: String {
        #if Jemalloc
            var version: UnsafePointer<CChar>? = nil
            var size = MemoryLayout<UnsafePointer<CChar>?>.size
            guard mallctl("version", &version, &size, nil, 0) == 0, let version else { return "jemalloc" }
            return "jemalloc " + String(cString: version)
        #else
            return "glibc malloc"
        #endif
    }

    /// Has the allocator give back the pages freed so far, on the calling thread (jemalloc:
    /// every arena's dirty pages purged; glibc malloc: nothing). Why: pages freed by one
    /// thread into another's arena are otherwise purged later by whichever thread next
    /// allocates there, inside its own work (measured: single requests of 20-40 ms while a
    /// snapshot thread freed a ledger copy's chunks, README "Measured (journal)").
    static func releaseFreedMemory() {
        #if Jemalloc
            // MALLCTL_ARENAS_ALL (4096): every arena.
            _ = mallctl("arena.4096.purge", nil, nil, nil, 0)
        #endif
    }
}
