// Alert evaluation after each accepted request, on the state after it: for every account
// the request (or time passing) touched, in account-id byte order, `low_balance` (highest
// threshold first), then `period_usage` (lowest percentage first), then `debt`.

extension Ledger {
    mutating func evaluateAlerts(at t: Milliseconds, into alerts: inout [Alert]) {
        if touchedAccounts.count > 1 {
            touchedAccounts.sort {
                accounts[Int($0)].id.utf8.lexicographicallyPrecedes(accounts[Int($1)].id.utf8)
            }
        }
        for index in touchedAccounts { evaluateAlerts(of: Int(index), at: t, into: &alerts) }
    }

    private mutating func evaluateAlerts(of account: Int, at t: Milliseconds, into alerts: inout [Alert]) {
        let id = accounts[account].id
        let available = accounts[account].available
        // low_balance: fires when armed and below; re-armed at or above.
        for (position, threshold) in accounts[account].limits.alertThresholds.enumerated() {
            if accounts[account].lowBalanceArmed[position] {
                if available < threshold {
                    accounts[account].lowBalanceArmed[position] = false
                    alerts.append(.lowBalance(account: id, threshold: threshold, available: available, t: t))
                }
            } else if available >= threshold {
                accounts[account].lowBalanceArmed[position] = true
            }
        }
        // period_usage: once a period, the first time 100 * spent >= p * cap.
        if let period = accounts[account].limits.period, let cap = accounts[account].limits.periodCap {
            let periodIndex = UTCCalendar.periodIndex(period, t)
            if accounts[account].periodAlertsIndex != periodIndex {
                accounts[account].periodAlertsIndex = periodIndex
                for position in accounts[account].periodAlertFired.indices {
                    accounts[account].periodAlertFired[position] = false
                }
            }
            let spent = accounts[account].periodSpent(at: t)
            for (position, percent) in accounts[account].limits.periodAlertPercents.enumerated()
            where !accounts[account].periodAlertFired[position] && Self.reachesPercent(spent: spent, cap: cap, percent: percent) {
                accounts[account].periodAlertFired[position] = true
                alerts.append(.periodUsage(account: id, percent: percent, spent: spent, cap: cap, t: t))
            }
        }
        // debt: fires when armed and positive; re-armed at 0.
        let debt = accounts[account].debt
        if accounts[account].debtAlertArmed {
            if debt > 0 {
                accounts[account].debtAlertArmed = false
                alerts.append(.debt(account: id, debt: debt, t: t))
            }
        } else if debt == 0 {
            accounts[account].debtAlertArmed = true
        }
    }
}
