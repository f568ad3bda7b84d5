// The encoder's exact output for every reply, refusal and alert shape of trace.md, in the
// examples' key order, optional keys left out; numbers at their extremes; string escaping.

import CreditTrace
import Testing

import CreditCore

private func encode(_ response: Response) -> String {
    var out: [UInt8] = []
    TraceEncoder().append(response, to: &out)
    return String(decoding: out, as: UTF8.self)
}

private func encode(_ alert: Alert) -> String {
    var out: [UInt8] = []
    TraceEncoder().append(alert, to: &out)
    return String(decoding: out, as: UTF8.self)
}

private let chat = PricedItem(item: "chat:premium", version: "v1")

@Suite struct TraceEncoderTests {
    @Test func simpleReplies() {
        #expect(encode(.ok(.done)) == "{\"ok\":true}\n")
        #expect(encode(Response(.success(.done), duplicate: true)) == "{\"ok\":true,\"duplicate\":true}\n")
        #expect(encode(.ok(.granted(available: 300))) == "{\"ok\":true,\"available\":300}\n")
        #expect(encode(.ok(.released(released: 0, available: 8))) == "{\"ok\":true,\"released\":0,\"available\":8}\n")
        #expect(
            encode(.ok(.refunded(refunded: 10, available: 55))) == "{\"ok\":true,\"refunded\":10,\"available\":55}\n")
        #expect(
            encode(.ok(.quoted(credits: 6, version: "v1", affordable: true)))
                == "{\"ok\":true,\"credits\":6,\"version\":\"v1\",\"affordable\":true}\n")
        #expect(
            encode(.ok(.quoted(credits: 1_000_000_000_000, version: "v5", affordable: false)))
                == "{\"ok\":true,\"credits\":1000000000000,\"version\":\"v5\",\"affordable\":false}\n")
    }

    @Test func reserved() {
        #expect(
            encode(.ok(.reserved(held: 20, available: 50, item: nil, downgraded: false, overCap: false)))
                == "{\"ok\":true,\"held\":20,\"available\":50}\n")
        #expect(
            encode(.ok(.reserved(held: 5, available: 885, item: nil, downgraded: false, overCap: true)))
                == "{\"ok\":true,\"held\":5,\"available\":885,\"over_cap\":true}\n")
        #expect(
            encode(.ok(.reserved(held: 32, available: 9968, item: chat, downgraded: false, overCap: false)))
                == "{\"ok\":true,\"held\":32,\"available\":9968,\"item\":\"chat:premium\",\"version\":\"v1\"}\n")
        let everything = Response(
            .success(.reserved(held: 65, available: -37, item: chat, downgraded: true, overCap: true)), duplicate: true)
        #expect(
            encode(everything)
                == "{\"ok\":true,\"held\":65,\"available\":-37,\"item\":\"chat:premium\",\"version\":\"v1\",\"downgraded\":true,\"over_cap\":true,\"duplicate\":true}\n"
        )
    }

    @Test func charged() {
        #expect(
            encode(
                .ok(.charged(charged: 120, available: 180, item: nil, downgraded: false, overCap: false, late: false)))
                == "{\"ok\":true,\"charged\":120,\"available\":180}\n")
        #expect(
            encode(.ok(.charged(charged: 7, available: -2, item: nil, downgraded: false, overCap: false, late: true)))
                == "{\"ok\":true,\"charged\":7,\"available\":-2,\"late\":true}\n")
        #expect(
            encode(
                Response(
                    .success(
                        .charged(charged: 25, available: 75, item: nil, downgraded: false, overCap: false, late: true)),
                    duplicate: true))
                == "{\"ok\":true,\"charged\":25,\"available\":75,\"late\":true,\"duplicate\":true}\n")
        #expect(
            encode(.ok(.charged(charged: 20, available: 890, item: nil, downgraded: false, overCap: true, late: false)))
                == "{\"ok\":true,\"charged\":20,\"available\":890,\"over_cap\":true}\n")
        let std = PricedItem(item: "chat:std", version: "v1")
        #expect(
            encode(.ok(.charged(charged: 48, available: 2, item: std, downgraded: true, overCap: false, late: false)))
                == "{\"ok\":true,\"charged\":48,\"available\":2,\"item\":\"chat:std\",\"version\":\"v1\",\"downgraded\":true}\n"
        )
    }

    @Test func events() {
        let charge = EventView(
            account: "ev", kind: .charge, status: .charged, charged: 100, refunded: 10,
            burns: [Burn(grant: "gB", credits: 80), Burn(grant: "gC", credits: 10)], debt: 0, held: nil, item: nil,
            late: false)
        #expect(
            encode(.ok(.event(charge)))
                == "{\"ok\":true,\"account\":\"ev\",\"kind\":\"charge\",\"status\":\"charged\",\"charged\":100,\"refunded\":10,\"burns\":[{\"grant\":\"gB\",\"credits\":80},{\"grant\":\"gC\",\"credits\":10}],\"debt\":0}\n"
        )
        let open = EventView(
            account: "ev", kind: .reservation, status: .open, charged: 0, refunded: 0, burns: [], debt: 0, held: 40,
            item: PricedItem(item: "chat", version: "v1"), late: false)
        #expect(
            encode(.ok(.event(open)))
                == "{\"ok\":true,\"account\":\"ev\",\"kind\":\"reservation\",\"status\":\"open\",\"charged\":0,\"refunded\":0,\"burns\":[],\"debt\":0,\"held\":40,\"item\":\"chat\",\"version\":\"v1\"}\n"
        )
        let late = EventView(
            account: "ev", kind: .reservation, status: .committed, charged: 7, refunded: 0,
            burns: [Burn(grant: "gC", credits: 5)], debt: 2, held: 4, item: nil, late: true)
        #expect(
            encode(.ok(.event(late)))
                == "{\"ok\":true,\"account\":\"ev\",\"kind\":\"reservation\",\"status\":\"committed\",\"charged\":7,\"refunded\":0,\"burns\":[{\"grant\":\"gC\",\"credits\":5}],\"debt\":2,\"held\":4,\"late\":true}\n"
        )
        for (status, name) in [(EventStatus.released, "released"), (.expired, "expired")] {
            let view = EventView(
                account: "a", kind: .reservation, status: status, charged: 0, refunded: 0, burns: [], debt: 0, held: 3,
                item: nil, late: false)
            #expect(encode(.ok(.event(view))).contains("\"status\":\"\(name)\""))
        }
    }

    @Test func balance() {
        let empty = BalanceView(available: 0, balance: 0, held: 0, debt: 0, periodSpent: 0, grants: [])
        #expect(
            encode(.ok(.balance(empty)))
                == "{\"ok\":true,\"available\":0,\"balance\":0,\"held\":0,\"debt\":0,\"period_spent\":0,\"grants\":[]}\n"
        )
        let some = BalanceView(
            available: 180, balance: 230, held: 50, debt: 0, periodSpent: 120,
            grants: [GrantRemaining(id: "g_soon2", remaining: 30), GrantRemaining(id: "g_late", remaining: 100)])
        #expect(
            encode(.ok(.balance(some)))
                == "{\"ok\":true,\"available\":180,\"balance\":230,\"held\":50,\"debt\":0,\"period_spent\":120,\"grants\":[{\"id\":\"g_soon2\",\"remaining\":30},{\"id\":\"g_late\",\"remaining\":100}]}\n"
        )
    }

    @Test func report() {
        var report = ReportView()
        #expect(
            encode(.ok(.report(report)))
                == "{\"ok\":true,\"granted\":0,\"consumed\":0,\"expired\":0,\"remaining\":0,\"debt\":0,\"recognized\":0,\"breakage\":0,\"deferred\":0}\n"
        )
        report.granted = 1510
        report.consumed = 652
        report.expired = 101
        report.remaining = 757
        report.debt = 3
        report.recognized = Int128(Int64.max) * 1_000_000  // past 64 bits
        report.breakage = .max
        report.deferred = .min
        #expect(
            encode(.ok(.report(report)))
                == "{\"ok\":true,\"granted\":1510,\"consumed\":652,\"expired\":101,\"remaining\":757,\"debt\":3,\"recognized\":9223372036854775807000000,\"breakage\":170141183460469231731687303715884105727,\"deferred\":-170141183460469231731687303715884105728}\n"
        )
    }

    @Test func refusals() {
        for code in RefusalCode.allCases where code != .insufficientCredits {
            #expect(encode(.refused(code)) == "{\"ok\":false,\"error\":\"\(code.name)\"}\n")
        }
        #expect(encode(.refused(.timeWentBackwards)) == "{\"ok\":false,\"error\":\"time_went_backwards\"}\n")
        #expect(
            encode(Response(.failure(Refusal(.insufficientCredits, available: 100, needed: 500))))
                == "{\"ok\":false,\"error\":\"insufficient_credits\",\"available\":100,\"needed\":500}\n")
        #expect(
            encode(Response(.failure(Refusal(.insufficientCredits, available: -5, needed: 0)), duplicate: true))
                == "{\"ok\":false,\"error\":\"insufficient_credits\",\"available\":-5,\"needed\":0,\"duplicate\":true}\n"
        )
        #expect(
            encode(Response(.failure(Refusal(.idConflict)), duplicate: true))
                == "{\"ok\":false,\"error\":\"id_conflict\",\"duplicate\":true}\n")
    }

    @Test func alerts() {
        #expect(
            encode(.lowBalance(account: "al", threshold: 100, available: 80, t: 1002))
                == "{\"alert\":\"low_balance\",\"account\":\"al\",\"threshold\":100,\"available\":80,\"t\":1002}\n")
        #expect(
            encode(.lowBalance(account: "al", threshold: 0, available: -1, t: 0))
                == "{\"alert\":\"low_balance\",\"account\":\"al\",\"threshold\":0,\"available\":-1,\"t\":0}\n")
        #expect(
            encode(.periodUsage(account: "al", percent: 50, spent: 120, cap: 200, t: 1001))
                == "{\"alert\":\"period_usage\",\"account\":\"al\",\"percent\":50,\"spent\":120,\"cap\":200,\"t\":1001}\n"
        )
        #expect(
            encode(.debt(account: "ev", debt: 20, t: 9_223_372_036_854_775_807))
                == "{\"alert\":\"debt\",\"account\":\"ev\",\"debt\":20,\"t\":9223372036854775807}\n")
    }

    @Test func integersAtTheirExtremes() {
        #expect(encode(.ok(.granted(available: .min))) == "{\"ok\":true,\"available\":-9223372036854775808}\n")
        #expect(encode(.ok(.granted(available: .max))) == "{\"ok\":true,\"available\":9223372036854775807}\n")
        for value: Int64 in [1, 9, 10, 99, 100, 101, 1_000_000_000_000, -1, -10] {
            #expect(encode(.ok(.granted(available: value))) == "{\"ok\":true,\"available\":\(value)}\n")
        }
    }

    @Test func stringsAreEscaped() {
        #expect(
            encode(.ok(.quoted(credits: 1, version: "a\"b\\c\u{1}\u{1F}\n\u{7F}é", affordable: true)))
                == "{\"ok\":true,\"credits\":1,\"version\":\"a\\\"b\\\\c\\u0001\\u001f\\u000a\u{7F}é\",\"affordable\":true}\n"
        )
    }

    @Test func linesAreAppended() {
        var out = Array("x\n".utf8)
        let encoder = TraceEncoder()
        encoder.append(.ok(.done), to: &out)
        encoder.append(.debt(account: "a", debt: 1, t: 2), to: &out)
        #expect(
            String(decoding: out, as: UTF8.self)
                == "x\n{\"ok\":true}\n{\"alert\":\"debt\",\"account\":\"a\",\"debt\":1,\"t\":2}\n")
    }
}
