// UTC calendar arithmetic for period boundaries: the day and month a millisecond falls in.
// Written by hand because the core must not depend on Foundation's calendars (time zones,
// locale data) and needs only two integer functions.

enum UTCCalendar {
    /// The day since the epoch that `t` falls in.
    @inline(__always)
    static func dayIndex(_ t: Milliseconds) -> Int64 {
        precondition(t >= 0, "time is never negative")
        return t / SpecLimits.dayMilliseconds
    }

    /// The calendar month that `t` falls in, as `year * 12 + (month - 1)`.
    static func monthIndex(_ t: Milliseconds) -> Int64 {
        // Howard Hinnant's civil_from_days, restricted to days >= 0.
        let z = dayIndex(t) + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        var year = yearOfEra + era * 400
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // 0 = March
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9  // 1...12
        if month <= 2 { year += 1 }
        return year * 12 + (month - 1)
    }

    /// The index of the period `t` falls in.
    @inline(__always)
    static func periodIndex(_ period: Period, _ t: Milliseconds) -> Int64 {
        switch period {
        case .day: dayIndex(t)
        case .month: monthIndex(t)
        }
    }
}
