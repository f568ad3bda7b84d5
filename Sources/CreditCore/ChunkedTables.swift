// The ledger's other growing tables in chunked form, for the same reason as
// `ChunkedArray`: after a snapshot's copy, the next write copies one chunk, not the table.
// `DeadlineHeap` replaces swift-collections' `Heap` (an Array inside) and `RefundTable`
// replaces a `Dictionary` (copied whole on its first write after a copy).

/// A binary min-heap over a `ChunkedArray`. Elements must be distinct under `<` (deadlines
/// are: time, kind, index), so the order of removal is the same as any other min-heap's.
struct DeadlineHeap<Element: Comparable>: Sendable where Element: Sendable {
    private var storage = ChunkedArray<Element>()

    init() {}

    /// A heap of `elements`, in any order.
    init(_ elements: [Element]) {
        for element in elements.sorted() { storage.append(element) }  // a sorted array is a heap
    }

    var count: Int { storage.count }
    var min: Element? { storage.isEmpty ? nil : storage[0] }
    /// The elements in heap order (not sorted).
    var unordered: ChunkedArray<Element> { storage }

    mutating func insert(_ element: Element) {
        storage.append(element)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard storage[child] < storage[parent] else { break }
            storage.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func removeMin() -> Element? {
        guard let first = min else { return nil }
        let last = storage.removeLast()
        if storage.isEmpty { return first }
        storage[0] = last
        var parent = 0
        let count = storage.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { break }
            let right = left + 1
            let smaller = right < count && storage[right] < storage[left] ? right : left
            guard storage[smaller] < storage[parent] else { break }
            storage.swapAt(smaller, parent)
            parent = smaller
        }
        return first
    }
}

/// A table from string ids to values, in insertion order: an `IdentityTable` for the ids
/// and a `ChunkedArray` for the values. Entries are never removed.
struct RefundTable<Value: Sendable>: Sendable {
    private var ids = IdentityTable()
    private(set) var values = ChunkedArray<Value>()

    init() {}

    var count: Int { values.count }
    /// The ids in insertion order, matching `values`.
    var keys: ChunkedArray<String> { ids.keys }

    subscript(id: String) -> Value? {
        get { ids[id].map { values[Int($0)] } }
        set {
            guard let newValue else { preconditionFailure("entries are never removed") }
            let lookup = ids.find(id)
            if let index = lookup.index {
                values[Int(index)] = newValue
            } else {
                _ = ids.insert(id, at: lookup)
                values.append(newValue)
            }
        }
    }
}
