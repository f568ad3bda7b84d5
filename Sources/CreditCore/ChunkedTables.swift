// The ledger's other growing tables in chunked form, for the same reason as
// `ChunkedArray`: after a snapshot's copy, the next write copies one chunk, not the table.
// `DeadlineHeap` replaces swift-collections' `Heap` (an Array inside) and `RefundTable`
// replaces a `Dictionary` (copied whole on its first write after a copy).

/// A 4-ary min-heap over a `ChunkedArray`. Elements must be distinct under `<` (deadlines
/// are: time, kind, index), so the order of removal is the same as any other min-heap's.
/// Sifting moves a hole and writes each level once (no swaps), and four children share a
/// cache line or two: half the levels of a binary heap.
struct DeadlineHeap<Element: Comparable>: Sendable where Element: Sendable {
    private var storage = ChunkedArray<Element>()
    /// Children per node.
    private static var arity: Int { 4 }

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
        var hole = storage.count - 1
        while hole > 0 {
            let parent = (hole - 1) / Self.arity
            let parentElement = storage[parent]
            guard element < parentElement else { break }
            storage[hole] = parentElement
            hole = parent
        }
        storage[hole] = element
    }

    @discardableResult
    mutating func removeMin() -> Element? {
        guard let first = min else { return nil }
        let last = storage.removeLast()
        let count = storage.count
        if count == 0 { return first }
        // Move the hole from the root down to where `last` belongs.
        var hole = 0
        while true {
            let firstChild = Self.arity * hole + 1
            guard firstChild < count else { break }
            var smallest = firstChild
            var smallestElement = storage[firstChild]
            for child in (firstChild + 1)..<Swift.min(firstChild + Self.arity, count) {
                let candidate = storage[child]
                if candidate < smallestElement {
                    smallest = child
                    smallestElement = candidate
                }
            }
            guard smallestElement < last else { break }
            storage[hole] = smallestElement
            hole = smallest
        }
        storage[hole] = last
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
