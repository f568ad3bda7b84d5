// The packed admission word: every field round-trips at its extremes, fields do not bleed
// into each other, and figures outside a field's range are reported as not representable
// (the engine then takes the slow path) instead of being packed wrong.

@testable import CreditEngine
import Synchronization
import Testing

@Suite struct AdmissionWordTests {
    static let extremes: [AdmissionState] = [
        AdmissionState(available: 0, capUsage: 0, sequence: 0, paused: false, expiredBacking: false),
        AdmissionState(available: AdmissionState.availableMax, capUsage: AdmissionState.capUsageMax,
            sequence: UInt16(AdmissionState.sequenceModulus - 1), paused: true, expiredBacking: true),
        AdmissionState(available: AdmissionState.availableMin, capUsage: 1, sequence: 1, paused: true, expiredBacking: false),
        AdmissionState(available: -1, capUsage: 0, sequence: 4095, paused: false, expiredBacking: true),
        AdmissionState(available: -1_001_000_000_000_000, capUsage: 4_000_000_000_000_000, sequence: 7, paused: false, expiredBacking: false),
    ]

    @Test(arguments: extremes)
    func fieldsRoundTrip(_ state: AdmissionState) {
        #expect(state.isRepresentable)
        #expect(AdmissionState(state.word) == state)
    }

    @Test func outOfRangeFiguresAreNotRepresentable() {
        var state = Self.extremes[0]
        state.available = AdmissionState.availableMax + 1
        #expect(!state.isRepresentable)
        state.available = AdmissionState.availableMin - 1
        #expect(!state.isRepresentable)
        state.available = 0
        state.capUsage = AdmissionState.capUsageMax + 1
        #expect(!state.isRepresentable)
        state.capUsage = -1
        #expect(!state.isRepresentable)
    }

    @Test func theSequenceWrapsAtItsModulus() {
        var state = Self.extremes[0]
        state.sequence = UInt16(AdmissionState.sequenceModulus - 1)
        #expect(state.nextSequence == 0)
        state.sequence = 41
        #expect(state.nextSequence == 42)
    }
}
