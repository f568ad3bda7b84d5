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
}
