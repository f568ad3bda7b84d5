// The workload generator alone, with every operation succeeding: commits and releases name
// a reservation made earlier on the same account, retries repeat their first attempt
// exactly, ids are unique per thread and across threads, and mixed sends every kind.

import CreditCore
import CreditLoad
import Testing

@Suite struct WorkloadGeneratorTests {
    static let plan = AccountPlan(accountCount: 1000, startingCredits: 1_000_000, overdraftCredits: 0)

    static func operations(_ profile: WorkloadProfile, threadIndex: Int = 0, count: Int = 20_000) -> [LoadOperation] {
        var generator = WorkloadGenerator(
            profile: profile, plan: plan, skew: 0.99, seed: 3, threadIndex: threadIndex, sessionCount: 8)
        var operations: [LoadOperation] = []
        for step in 0..<count {
            let session = step % generator.sessionCount
            guard let operation = generator.next(session: session) else { continue }
            operations.append(operation)
            let outcome: LoadOutcome = operation.isRetry ? .duplicate : .done(available: 0)
            generator.complete(session: session, operation, outcome)
        }
        return operations
    }

    @Test(arguments: WorkloadProfile.allCases)
    func settlesNameOpenReservationsAndRetriesRepeat(profile: WorkloadProfile) {
        var open: [Int64: LoadOperation] = [:]
        var firstAttempts: [Int64: [LoadOperation]] = [:]
        for operation in Self.operations(profile) {
            #expect(operation.credits >= 0)
            #expect(operation.accountIndex >= 0 && operation.accountIndex < Self.plan.accountCount)
            if operation.isRetry {
                var original = operation
                original.isRetry = false
                #expect(firstAttempts[operation.id]?.contains(original) == true, "a retry repeats its first attempt")
                continue
            }
            firstAttempts[operation.id, default: []].append(operation)
            switch operation.kind {
            case .reserve:
                #expect(open[operation.id] == nil)
                open[operation.id] = operation
            case .commit, .release:
                let reservation = open.removeValue(forKey: operation.id)
                #expect(reservation?.accountIndex == operation.accountIndex)
                #expect(reservation?.credits == operation.heldCredits)
            default:
                break
            }
        }
        if profile != .embed { #expect(firstAttempts.values.contains { $0.first?.kind == .reserve }) }
    }

    @Test func mixedSendsEveryKindAndIdsAreUniqueAcrossThreads() {
        let first = Self.operations(.mixed, threadIndex: 0)
        let second = Self.operations(.mixed, threadIndex: 1)
        #expect(Set(first.map(\.kind)) == Set(OperationKind.allCases))
        let creating: (LoadOperation) -> Bool = { !$0.isRetry && ($0.kind == .reserve || $0.kind == .charge) }
        let firstIDs = first.filter(creating).map(\.id), secondIDs = second.filter(creating).map(\.id)
        #expect(Set(firstIDs).count == firstIDs.count)
        #expect(Set(firstIDs).isDisjoint(with: secondIDs))
        // Commits above the hold happen (the long tail), and so do commits below it.
        let commits = first.filter { $0.kind == .commit && !$0.isRetry }
        #expect(commits.contains { $0.credits > $0.heldCredits })
        #expect(commits.contains { $0.credits < $0.heldCredits })
    }
}
