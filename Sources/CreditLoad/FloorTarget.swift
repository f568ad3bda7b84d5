// The `floor` target: the same access pattern doing nothing but one atomic read-modify-write
// per operation on a bare table of `Atomic<Int64>` (available credits per account). No ids,
// no holds table, no events: the physical limit of this machine for this traffic, so a
// report can say how close to it the engine runs.

import CreditCore
import Synchronization

/// A table of atomics, one per account. Safe from any thread.
public final class FloorTarget: LoadTarget, @unchecked Sendable {
    // @unchecked: `table` is written only through its atomics, and allocated/freed only by
    // setUp/tearDown, which the harness calls while no client runs.
    public let name = "floor"
    public let batchCountMax = 1
    var table: UnsafeMutablePointer<Atomic<Int64>>?
    var plan: AccountPlan?

    public init() {}

    public func setUp(_ plan: AccountPlan) throws {
        tearDown()
        let table = UnsafeMutablePointer<Atomic<Int64>>.allocate(capacity: plan.accountCount)
        for account in 0..<plan.accountCount {
            (table + account).initialize(to: Atomic(plan.startingCredits))
        }
        self.table = table
        self.plan = plan
    }

    public func makeClient(threadIndex: Int) throws -> any LoadClient {
        guard let table, let plan else { throw LoadTargetError("floor: not set up") }
        return FloorClient(table: table, plan: plan)
    }

    public func readAccounts(_ body: (Int, AccountFigures) -> Void) throws {
        guard let table, let plan else { throw LoadTargetError("floor: not set up") }
        for account in 0..<plan.accountCount {
            body(account, AccountFigures(availableCredits: table[account].load(ordering: .relaxed), heldCredits: 0))
        }
    }

    public func tearDown() {
        guard let table, let plan else { return }
        table.deinitialize(count: plan.accountCount)
        table.deallocate()
        self.table = nil
        self.plan = nil
    }
}

/// One thread's handle on the floor table.
final class FloorClient: LoadClient {
    let table: UnsafeMutablePointer<Atomic<Int64>>
    let plan: AccountPlan

    init(table: UnsafeMutablePointer<Atomic<Int64>>, plan: AccountPlan) {
        self.table = table
        self.plan = plan
    }

    @inline(__always)
    func perform(_ operation: LoadOperation) throws -> LoadOutcome {
        let slot = table + operation.accountIndex
        if operation.isRetry {
            // No ids here: the gateway's retry is answered from nothing, with one load.
            _ = slot.pointee.load(ordering: .relaxed)
            return .duplicate
        }
        switch operation.kind {
        case .reserve, .charge:
            // Admission: one compare-and-swap (retried only when another thread won the slot).
            // Relaxed is enough: the slot is the only memory the decision reads or writes.
            let floor = -plan.overdraft(ofAccount: operation.accountIndex)
            var current = slot.pointee.load(ordering: .relaxed)
            while true {
                let next = current - operation.credits
                if next < floor { return .refused(.insufficientCredits) }
                let (exchanged, original) = slot.pointee.weakCompareExchange(
                    expected: current, desired: next, ordering: .relaxed)
                if exchanged { return .done(available: next) }
                current = original
            }
        case .commit:
            let change = operation.heldCredits - operation.credits
            return .done(available: slot.pointee.wrappingAdd(change, ordering: .relaxed).newValue)
        case .release:
            return .done(available: slot.pointee.wrappingAdd(operation.heldCredits, ordering: .relaxed).newValue)
        case .grant, .refund:
            return .done(available: slot.pointee.wrappingAdd(operation.credits, ordering: .relaxed).newValue)
        }
    }
}
