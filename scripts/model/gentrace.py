#!/usr/bin/env python3
"""Random but meaningful CreditMeter trace generator.

  python3 gentrace.py --seed N --lines N [--accounts N]

Prints a JSON-lines trace (trace.md) to stdout; the same seed gives the same
trace. The generator keeps a rough picture of the state (accounts, grants,
reservations, items, expiry times) so that most requests refer to real things,
and mixes in debt-heavy traffic (forced charges, overdrafts, refunds of events
in debt), expiries landing on the same instant, period boundaries, retries
(exact and near), time going backwards, malformed and blank lines.
"""
import argparse
import json
import random
import datetime
import os
import sys

sys.dont_write_bytecode = True  # keep the scripts folder clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import creditmodel  # noqa: E402  (only to steer choices towards meaningful requests)

E12 = 10 ** 12
DAY = 86_400_000
MAXT = 2 ** 63 - 1

ACCOUNT_POOL = ['alice', 'Bob', 'carol-1', 'dave.x', 'E:5', '_z', 'zed', 'A', 'b_2',
                'Carl', 'acct:42', 'Z-9', 'm.n.o', '0lead']
ITEM_POOL = ['chat:premium', 'chat:mid', 'chat:std', 'chat:tiny', 'embed:small',
             'vector:query', 'file:parse', 'storage:gb_day', 'img:gen']
METER_POOL = ['in', 'out', 'tok', 'px', 'n', 'gb_day']
TTLS = [1, 1, 2, 5, 10, 50, 100, 1000, 5000] + [60000, 600000, 3600000, 86400000] * 3


def next_month_start(t):
    d = datetime.datetime.fromtimestamp(t // 1000, datetime.timezone.utc)
    y, m = d.year, d.month + 1
    if m == 13:
        y, m = y + 1, 1
    return int(datetime.datetime(y, m, 1, tzinfo=datetime.timezone.utc).timestamp()) * 1000


class Gen:
    def __init__(self, seed, lines, naccounts):
        self.r = random.Random(seed)
        self.nlines = lines
        self.out = []
        r = self.r
        # start: a realistic instant, often just before a day or month boundary
        base = r.randrange(1_672_531_200_000, 1_767_225_600_000)
        c = r.random()
        if c < 0.3:
            base = next_month_start(base) - r.randint(1, 5000)
        elif c < 0.6:
            base = (base // DAY + 1) * DAY - r.randint(1, 5000)
        self.t = base
        self.naccounts = naccounts
        names = ACCOUNT_POOL[:]
        r.shuffle(names)
        self.acct_names = names[:naccounts] + ['acct%d' % i for i in range(max(0, naccounts - len(names)))]
        self.accounts = []           # created (or at least attempted)
        self.gid = 0
        self.eid = 0
        self.fid = 0
        self.vid = 0
        self.grants = []             # (id, account)
        self.ev_list = []            # events (Event objects) the engine created, in order
        self.res_list = []           # the reservations among them
        self.charges = []            # ids
        self.refunds = []            # ids
        self.expiries = []           # pending expiry instants (grants and reservations)
        self.items = {}              # latest version's item -> list of meters
        self.all_items = set()
        self.history = []            # earlier creating / closing requests (without t)
        self.eng = creditmodel.Engine()
        self.burst_at = None
        if lines >= 5000 and r.random() < 0.35:
            self.burst_at = r.randrange(lines // 10, lines // 2)

    # ------------------------------------------------------------- helpers
    def emit(self, obj, t=None):
        obj = dict(obj)
        obj['t'] = self.t if t is None else t
        r = self.r
        keys = list(obj.keys())
        if r.random() < 0.15:
            r.shuffle(keys)
        else:   # op and t first, like the examples
            keys = ['op', 't'] + [k for k in keys if k not in ('op', 't')]
        ordered = {k: obj[k] for k in keys}
        if r.random() < 0.05:
            s = json.dumps(ordered, separators=(', ', ': '))
        else:
            s = json.dumps(ordered, separators=(',', ':'))
        self.emit_raw(s.encode('utf-8'))

    def emit_raw(self, b):
        self.out.append(b)
        n = len(self.eng.events)
        self.eng.process_line(b)
        if len(self.eng.events) != n:
            ev = next(reversed(self.eng.events.values())) if n + 1 == len(self.eng.events) else None
            if ev is not None:
                self.ev_list.append(ev)
                if ev.kind == 'reservation':
                    self.res_list.append(ev)

    def advance(self):
        r = self.r
        c = r.random()
        if c < 0.22:
            return
        if c < 0.80:
            self.t += r.randint(1, 40)
        elif c < 0.88:
            self.t += r.choice([99, 100, 101, 500, 1000, 5000, 60000, 600000])
        elif c < 0.93:
            # land exactly on (or just before) a pending expiry
            pend = [e for e in self.expiries if e > self.t]
            if pend:
                e = r.choice(pend[-20:])
                self.t = e - r.choice([0, 0, 0, 1])
            else:
                self.t += r.randint(1, 1000)
        elif c < 0.96:
            self.t += r.randint(1, 3_600_000)
        elif c < 0.99:
            nxt = (self.t // DAY + 1) * DAY
            self.t = nxt - r.choice([0, 0, 1, 2]) if nxt - 2 > self.t else nxt
        else:
            nxt = next_month_start(self.t)
            self.t = nxt - r.choice([0, 0, 1]) if nxt - 1 > self.t else nxt
        self.expiries = [e for e in self.expiries if e > self.t - 10]

    def small(self):
        r = self.r
        c = r.random()
        if c < 0.05:
            return 0
        if c < 0.75:
            return r.randint(1, 120)
        if c < 0.95:
            return r.randint(100, 600)
        if c < 0.99:
            return r.randint(1000, 5000)
        return r.choice([E12, E12 - 1, 10 ** 11])

    def grant_amount(self):
        r = self.r
        c = r.random()
        if c < 0.2:
            return r.randint(1, 50)
        if c < 0.8:
            return r.randint(50, 600)
        if c < 0.98:
            return r.randint(600, 4000)
        return r.choice([E12, 10 ** 9])

    def acct(self):
        r = self.r
        if not self.eng.accounts or r.random() < 0.02:
            return r.choice(['nobody', 'ghost', 'alice2'])
        names = sorted(self.eng.accounts)
        if 'whale' in ''.join(names) and r.random() < 0.9:
            names = [n for n in names if not n.startswith('whale')] or names
        return r.choice(names)

    def acct_obj(self, name):
        return self.eng.accounts.get(name)

    def amount_for(self, name, forced=False):
        """An amount near the interesting boundaries of the account's admission."""
        r = self.r
        a = self.acct_obj(name)
        if a is None or r.random() < 0.4:
            return self.small()
        av = a.available()
        od = a.limits.overdraft if a.limits.overdraft < 10 ** 9 else 500
        good = [av, av + od, av + od - 1, av // 2, (av + od) // 3, r.randint(0, max(0, av + od))]
        bad = [av + od + 1, av + r.randint(1, 200)]
        lim = a.limits
        if lim.period is not None and lim.period_cap is not None and lim.period_cap < 10 ** 9:
            room = lim.period_cap - a.period_spent() - a.held()
            good += [room, room - 1]
            bad += [room + 1]
        if forced:
            bad += [av + r.randint(1, 300), r.randint(50, 400)]
        v = r.choice(bad if r.random() < (0.6 if forced else 0.25) else good)
        return min(max(v, 0), E12)

    def new_id(self, prefix):
        if prefix == 'g':
            self.gid += 1
            return 'g%d' % self.gid
        if prefix == 'e':
            self.eid += 1
            return self.r.choice(['e', 'r', 'c', 'job:', 'req-']) + str(self.eid)
        if prefix == 'f':
            self.fid += 1
            return 'f%d' % self.fid
        self.vid += 1
        return 'v%d' % self.vid

    def limits(self):
        r = self.r
        d = {}
        if r.random() < 0.5:
            d['overdraft'] = r.choice([0, 10, 50, 100, 300, 1000, E12]) if r.random() < 0.97 else r.randint(0, 500)
        if r.random() < 0.6:
            d['period'] = r.choice(['day', 'month'])
            if r.random() < 0.75:
                d['period_cap'] = r.choice([0, 50, 100, 300, 500, 1000, 2000, 5000, E12])
            if r.random() < 0.7:
                d['cap_mode'] = r.choice(['hard', 'soft'])
        if r.random() < 0.6:
            d['alerts'] = r.sample([0, 1, 10, 50, 100, 200, 500, 1000, E12], r.randint(1, 4))
            if r.random() < 0.1:
                d['alerts'].append(d['alerts'][0])
        if r.random() < 0.5:
            d['period_alerts'] = r.sample([0, 1, 50, 80, 90, 100, 150, 1000, E12], r.randint(1, 4))
        if r.random() < 0.6:
            d['downgrade'] = r.random() < 0.85
        if r.random() < 0.1:
            d = {}
        return d

    def usage_for(self, item, items=None):
        r = self.r
        items = self.in_force_items() if items is None else items
        it = items.get(item)
        meters = sorted(it.meters) if it is not None else r.sample(METER_POOL, r.randint(0, 2))
        u = {}
        for m in meters:
            if r.random() < 0.7:
                u[m] = r.choice([0, r.randint(1, 20), r.randint(1, 100), r.randint(1, 1000)])
        if r.random() < 0.07:
            u[r.choice(METER_POOL)] = r.randint(0, 10)
        if r.random() < 0.01:
            u[r.choice(METER_POOL)] = E12
        return u

    def in_force_items(self):
        v = self.eng.in_force(self.t)
        return v.items if v is not None else {}

    def pick_item(self):
        r = self.r
        items = self.in_force_items()
        if items and r.random() < 0.92:
            return r.choice(sorted(items))
        if self.all_items and r.random() < 0.7:
            return r.choice(sorted(self.all_items))
        return r.choice(ITEM_POOL)

    def expiry_offset(self):
        """A ttl or an expiry offset, sometimes aligned with a pending expiry."""
        r = self.r
        pend = [e - self.t for e in self.expiries if 1 <= e - self.t <= 86_400_000]
        if pend and r.random() < 0.3:
            return r.choice(pend)
        return r.choice(TTLS)

    # -------------------------------------------------------------- requests
    def g_account(self, name=None):
        r = self.r
        name = name or r.choice(self.acct_names)
        o = {'op': 'account', 'id': name}
        if r.random() < 0.7:
            o['limits'] = self.limits()
        if name not in self.accounts:
            self.accounts.append(name)
        self.history.append(o)
        self.emit(o)

    def g_limits(self):
        o = {'op': 'limits', 'account': self.acct()}
        o.update(self.limits())
        self.emit(o)

    def g_grant(self, acct=None, amount=None):
        r = self.r
        gid = self.new_id('g')
        o = {'op': 'grant', 'account': acct or self.acct(), 'id': gid,
             'amount': amount or self.grant_amount()}
        a = self.acct_obj(o['account'])
        if amount is None and a is not None and a.debt > 0 and r.random() < 0.4:
            o['amount'] = max(1, min(E12, r.choice([a.debt, a.debt - 1, a.debt + 1,
                                                     r.randint(1, a.debt + 50)])))
        if r.random() < 0.5:
            off = self.expiry_offset() if r.random() < 0.8 else r.randint(1, 10 * DAY)
            o['expires_at'] = self.t + off
            self.expiries.append(o['expires_at'])
        if r.random() < 0.3:
            o['priority'] = r.choice([0, 0, 1, 2, 3, E12])
        if r.random() < 0.4:
            o['paid'] = r.choice([0, 1, 7, 99, 1000, 12345, r.randint(0, 10 ** 6), E12])
        self.grants.append((gid, o['account']))
        self.history.append(o)
        self.emit(o)

    def g_rates(self):
        r = self.r
        vid = self.new_id('v')
        if r.random() < 0.35:
            return self.g_rates_chain(vid)
        names = r.sample(ITEM_POOL, r.randint(1, 6))
        if r.random() < 0.03:
            names = []
        items = {}
        meters_of = {}
        for n in names:
            it = {}
            if r.random() < 0.7:
                it['base'] = r.choice([0, 1, 2, 5, 10, 40, 60, 100]) if r.random() < 0.98 else E12
            ms = r.sample(METER_POOL, r.randint(0, 3))
            if ms or r.random() < 0.3:
                md = {}
                for m in ms:
                    spec = {'price': r.choice([0, 1, 1, 2, 3, 7]) if r.random() < 0.98 else E12}
                    if r.random() < 0.6:
                        spec['per'] = r.choice([1, 2, 3, 10, 100, 1000, E12])
                    md[m] = spec
                it['meters'] = md
            items[n] = it
            meters_of[n] = ms
        for n in names:
            if r.random() < 0.6:
                items[n]['fallback'] = r.choice(names)
        o = {'op': 'rates', 'version': vid, 'items': items}
        c = r.random()
        if c < 0.25:
            o['effective_at'] = max(0, self.t - r.choice([0, 1, 1000, 10 ** 6, self.t]))
        elif c < 0.45:
            o['effective_at'] = self.t + r.choice([1, 10, 100, 1000, 60000, DAY])
            self.expiries.append(o['effective_at'])
        elif c < 0.5:
            o['effective_at'] = self.t
        if o.get('effective_at', self.t) <= self.t:
            self.items = meters_of
        self.all_items.update(names)
        self.history.append(o)
        self.emit(o)

    def g_rates_chain(self, vid):
        """A card with a downgrade chain through an item lacking a meter, and a cycle."""
        r = self.r
        b = r.randint(20, 100)
        p = lambda: {'price': r.choice([1, 1, 2, 3]), 'per': r.choice([1, 1, 2, 10])}
        items = {
            'chat:premium': {'base': b * 3, 'meters': {'in': p(), 'out': p()},
                             'fallback': 'chat:mid'},
            'chat:mid': {'base': b * 2, 'meters': {'in': p()}, 'fallback': 'chat:std'},
            'chat:std': {'base': b, 'meters': {'in': p(), 'out': p()},
                         'fallback': r.choice(['chat:premium', 'chat:tiny', 'chat:std'])},
            'chat:tiny': {'base': r.choice([0, 1, 2]), 'meters': {'in': {'price': 0}, 'out': p()},
                          'fallback': r.choice(['chat:tiny', 'chat:premium'])},
        }
        if r.random() < 0.3:
            items['chat:std']['base'] = E12          # costs above 10^12 with usage: passed over
        if r.random() < 0.5:
            items['embed:small'] = {'meters': {'tok': {'price': 1, 'per': 1000}}}
        o = {'op': 'rates', 'version': vid, 'items': items}
        if r.random() < 0.3:
            o['effective_at'] = max(0, self.t - r.choice([0, 1, 1000]))
        self.all_items.update(items)
        self.history.append(o)
        self.emit(o)

    def g_quote(self):
        item = self.pick_item()
        o = {'op': 'quote', 'account': self.acct(), 'item': item}
        if self.r.random() < 0.8:
            o['usage'] = self.usage_for(item)
        self.emit(o)

    def amount_or_item(self, o, forced=False):
        r = self.r
        if r.random() < 0.55 or not self.in_force_items():
            o['amount'] = self.amount_for(o['account'], forced)
            return None
        item = self.pick_item()
        o['item'] = item
        if r.random() < 0.85:
            o['usage'] = self.usage_for(item)
        a = self.acct_obj(o['account'])
        if a is not None and a.limits.downgrade and not forced and r.random() < 0.5:
            # prefer an item with a fallback that the account cannot afford: a downgrade
            items = self.in_force_items()
            usage = o.get('usage', {})
            dear = []
            for name in sorted(items):
                e, cost = creditmodel.price(items, name, usage)
                if e is None and items[name].fallback is not None and \
                        self.eng.admission(a, cost)[0] is not None:
                    dear.append(name)
            if dear:
                item = o['item'] = r.choice(dear)
        return item

    def g_reserve(self):
        r = self.r
        eid = self.new_id('e')
        o = {'op': 'reserve', 'account': self.acct(), 'id': eid}
        self.amount_or_item(o)
        if r.random() < 0.75:
            o['ttl_ms'] = self.expiry_offset()
        a = self.acct_obj(o['account'])
        if a is not None and r.random() < 0.3:
            # expire together with the grant that will back it (same instant)
            exps = [g.expires_at for _, g in a.freelist if g.expires_at is not None]
            if exps and 1 <= min(exps) - self.t <= 86_400_000:
                o['ttl_ms'] = min(exps) - self.t
        exp = self.t + o.get('ttl_ms', 600000)
        self.expiries.append(exp)
        self.history.append(o)
        self.emit(o)

    def sample(self, lst, k_recent=40, k_rand=10):
        r = self.r
        out = lst[-k_recent:]
        if len(lst) > k_recent:
            out = out + [r.choice(lst) for _ in range(k_rand)]
        return out

    def reservations(self, pred):
        return [ev for ev in self.sample(self.res_list) if pred(ev)]

    def pick_reservation(self):
        r = self.r
        c = r.random()
        if c < 0.03:
            return None, r.choice(['nope', 'gone'] + self.charges[-3:])
        if c < 0.80:
            pool = self.reservations(lambda ev: ev.close_op is None)
        else:
            pool = self.reservations(lambda ev: True)
        if not pool:
            pool = self.sample(self.res_list)
        if not pool:
            return None, 'nope'
        ev = r.choice(pool[-10:]) if r.random() < 0.7 else r.choice(pool)
        return ev, ev.id

    def g_commit(self):
        r = self.r
        ev, eid = self.pick_reservation()
        o = {'op': 'commit', 'id': eid}
        if ev is not None and ev.close_op == 'commit' and r.random() < 0.5:
            o = dict(ev.close_req)           # an exact second commit
        elif ev is not None and ev.item is not None and r.random() < 0.65:
            o['usage'] = self.usage_for(ev.item, ev.version_items)
        elif ev is None and r.random() < 0.1:
            o['usage'] = self.usage_for(self.pick_item())
        elif ev is not None and ev.item is None and r.random() < 0.03:
            o['usage'] = {}
        else:
            h = ev.hold if ev is not None else 10
            o['amount'] = max(0, r.choice([h, h, h - 1, h + 1, h // 2, 0, h * 2, h + 100,
                                           r.randint(0, 300)]))
            if r.random() < 0.005:
                o['amount'] = E12
        self.history.append(o)
        self.emit(o)

    def g_release(self):
        o = {'op': 'release', 'id': self.pick_reservation()[1]}
        self.history.append(o)
        self.emit(o)

    def g_charge(self, force=None):
        r = self.r
        eid = self.new_id('e')
        o = {'op': 'charge', 'account': self.acct(), 'id': eid}
        if force is None:
            force = r.random() < 0.35
        self.amount_or_item(o, force)
        if force:
            o['force'] = True
        elif r.random() < 0.05:
            o['force'] = False
        self.charges.append(eid)
        self.history.append(o)
        self.emit(o)

    def g_refund(self):
        r = self.r
        fid = self.new_id('f')
        charged = [ev for ev in self.sample(self.ev_list) if ev.charged > 0]
        open_debt = [ev for a in self.eng.accounts.values() for ev in a.debt_queue.values()]
        c = r.random()
        ev = None
        if c < 0.04 or not self.eng.events:
            evid = r.choice(['zz', 'nope'] + self.refunds[-2:])
        elif c < 0.35 and open_debt:
            ev = r.choice(open_debt)
        elif c < 0.85 and charged:
            ev = r.choice(charged[-12:]) if r.random() < 0.6 else r.choice(charged)
        else:
            ev = r.choice(self.sample(self.ev_list))
        if ev is not None:
            evid = ev.id
        o = {'op': 'refund', 'id': fid, 'event': evid}
        left = (ev.charged - ev.refunded) if ev is not None else 10
        c = r.random()
        if c < 0.3:
            pass                                 # all that is left
        elif c < 0.8:
            choices = [1, 2, 5, r.randint(1, 60)]
            if left > 0:
                choices += [left, max(1, left - 1), r.randint(1, left)]
                if ev is not None and ev.debt > 0:
                    choices += [ev.debt, ev.debt + 1, max(1, ev.debt - 1)]
            o['amount'] = r.choice(choices)
        else:
            o['amount'] = r.choice([left + 1, 1000, E12]) if left + 1 <= E12 else E12
        self.refunds.append(fid)
        self.history.append(o)
        self.emit(o)

    def g_event(self):
        r = self.r
        evs = [ev.id for ev in self.sample(self.ev_list, 12, 4)]
        if not evs or r.random() < 0.05:
            eid = r.choice(['nope'] + self.refunds[-2:] + [g for g, _ in self.grants[-1:]])
        else:
            eid = r.choice(evs[-12:]) if r.random() < 0.7 else r.choice(evs)
        self.emit({'op': 'event', 'id': eid})

    def g_pause(self):
        r = self.r
        paused = sorted(n for n, a in self.eng.accounts.items() if a.paused)
        if paused and r.random() < 0.8:
            self.emit({'op': 'resume', 'account': r.choice(paused)})
        else:
            self.emit({'op': r.choice(['pause', 'pause', 'resume']), 'account': self.acct()})

    def g_scenario(self):
        """A reservation and the grant backing it expire at one instant while the
        account is in debt; sometimes with a refund and a new grant in between."""
        r = self.r
        name = self.acct()
        d = r.choice([1, 2, 5, 10, 100, 1000])
        exp = self.t + d
        gid = self.new_id('g')
        self.emit({'op': 'grant', 'account': name, 'id': gid, 'amount': r.randint(5, 200),
                   'expires_at': exp, 'priority': r.choice([0, 0, 0, 1])})
        self.expiries.append(exp)
        a = self.acct_obj(name)
        eid = self.new_id('e')
        amt = r.randint(0, 150)
        if a is not None and a.available() > 0 and r.random() < 0.7:
            amt = r.randint(1, a.available())
        self.emit({'op': 'reserve', 'account': name, 'id': eid, 'amount': amt, 'ttl_ms': d})
        if a is not None:
            self.g_charge_fixed(name, max(0, a.available()) + r.randint(1, 100), force=True)
        if r.random() < 0.5:
            self.t = exp - r.choice([0, 0, 1])
            r.choice([self.g_tick, self.g_balance, self.g_refund, self.g_commit])()

    def g_balance(self):
        self.emit({'op': 'balance', 'account': self.acct()})

    def g_report(self):
        o = {'op': 'report'}
        if self.r.random() < 0.7:
            o['account'] = self.acct()
        self.emit(o)

    def g_tick(self):
        self.emit({'op': 'tick'})

    def g_retry(self):
        r = self.r
        if not self.history:
            return self.g_tick()
        o = dict(r.choice(self.history[-30:] if r.random() < 0.7 else self.history))
        if r.random() < 0.35:
            o = self.near(o)
        self.emit(o)

    def near(self, o):
        """A request like o but not equal to it (-> id_conflict, usually)."""
        r = self.r
        o = json.loads(json.dumps(o))
        op = o['op']
        c = r.random()
        if 'amount' in o and c < 0.4:
            o['amount'] = o['amount'] + 1 if o['amount'] < E12 else o['amount'] - 1
        elif op == 'reserve' and c < 0.6 and 'ttl_ms' not in o:
            o['ttl_ms'] = 600000                 # the default, given explicitly
        elif op == 'charge' and c < 0.6 and 'force' not in o:
            o['force'] = False
        elif op == 'grant' and c < 0.6 and 'priority' not in o:
            o['priority'] = 0
        elif op == 'account' and c < 0.6:
            if 'limits' in o:
                del o['limits']
            else:
                o['limits'] = {}
        elif op == 'rates' and c < 0.7:
            o['items'] = {}
        elif 'account' in o and c < 0.8:
            o['account'] = r.choice((self.accounts or ['x']) + ['nobody', 'ghost'])
        elif 'usage' in o:
            o['usage'] = self.usage_for(o.get('item') or self.pick_item())
        elif op == 'refund':
            o['event'] = r.choice(self.charges or ['zz'])
        return o

    def g_backwards(self):
        r = self.r
        back = r.choice([1, 2, 50, 1000, DAY])
        kind = r.choice([self.g_tick, self.g_balance, self.g_charge, self.g_grant])
        saved = self.t
        self.t = max(0, self.t - back)
        kind()
        self.t = saved

    def g_blank(self):
        self.emit_raw(self.r.choice([b'', b' ', b'\t', b'  \r', b' \t \r']))

    def g_malformed(self):
        r = self.r
        t = self.t
        a = self.acct()
        good = {'op': 'charge', 't': t, 'account': a, 'id': self.new_id('e'), 'amount': 5}
        gs = json.dumps(good, separators=(',', ':'))
        choices = [
            gs.replace('"amount":5', '"amount":5.0'),
            gs.replace('"amount":5', '"amount":5e0'),
            gs.replace('"amount":5', '"amount":"5"'),
            gs.replace('"amount":5', '"amount":true'),
            gs.replace('"amount":5', '"amount":null'),
            gs.replace('"amount":5', '"amount":-1'),
            gs.replace('"amount":5', '"amount":1000000000001'),
            gs.replace('"amount":5', '"amount":99999999999999999999999999'),
            gs.replace('"amount":5', '"amount":NaN'),
            gs.replace('"amount":5', '"amount":Infinity'),
            gs.replace('"amount":5', '"amount":05'),
            gs.replace('"amount":5', '"amount":5,"amount":5'),
            gs.replace('"amount":5', '"amount":5,"bogus":1'),
            gs.replace('"amount":5', '"amount":5,"item":"chat:std"'),
            gs.replace('"amount":5', '"usage":{}'),
            gs.replace('"amount":5', '"amount":5,"force":1'),
            gs.replace('"amount":5', '"amount":5,"force":null'),
            gs.replace(',"amount":5', ''),
            gs.replace('"op":"charge"', '"op":"Charge"'),
            gs.replace('"op":"charge"', '"op":"charge","op":"charge"'),
            gs.replace('"t":%d' % t, '"t":%d.0' % t),
            gs.replace('"t":%d' % t, '"t":-1'),
            gs.replace('"t":%d' % t, '"t":9223372036854775808'),
            gs.replace('"t":%d' % t, '"t":"%d"' % t),
            gs.replace('"t":%d,' % t, ''),
            gs[:-1],
            gs + ' x',
            gs + '{}',
            '[' + gs + ']',
            '"charge"',
            'null',
            '{}',
            json.dumps({'op': 'charge', 't': t, 'account': 'bad name', 'id': 'x1', 'amount': 1}),
            json.dumps({'op': 'charge', 't': t, 'account': a, 'id': '', 'amount': 1}),
            json.dumps({'op': 'charge', 't': t, 'account': a, 'id': 'x' * 65, 'amount': 1}),
            json.dumps({'op': 'charge', 't': t, 'account': a, 'id': 'caf\u00e9', 'amount': 1}),
            json.dumps({'op': 'charge', 't': t, 'account': a, 'id': 'a/b', 'amount': 1}),
            json.dumps({'op': 'charge', 't': t, 'account': a, 'id': 'x2', 'item': 'chat:std',
                        'usage': {'Tok': 1}}),
            json.dumps({'op': 'charge', 't': t, 'account': a, 'id': 'x2', 'item': 'chat:std',
                        'usage': {'t' * 33: 1}}),
            json.dumps({'op': 'charge', 't': t, 'account': a, 'id': 'x2', 'item': 'chat:std',
                        'usage': {'tok': -1}}),
            json.dumps({'op': 'grant', 't': t, 'account': a, 'id': 'gx', 'amount': 5,
                        'expires_at': t}),
            json.dumps({'op': 'grant', 't': t, 'account': a, 'id': 'gx', 'amount': 0}),
            json.dumps({'op': 'grant', 't': t, 'account': a, 'id': 'gx', 'amount': 5,
                        'paid': None}),
            json.dumps({'op': 'limits', 't': t, 'account': a, 'period_cap': 10}),
            json.dumps({'op': 'limits', 't': t, 'account': a, 'period': 'week'}),
            json.dumps({'op': 'limits', 't': t, 'account': a, 'alerts': [1, 2.5]}),
            json.dumps({'op': 'limits', 't': t, 'account': a, 'alerts': 5}),
            json.dumps({'op': 'limits', 't': t, 'account': a, 'downgrade': 1}),
            json.dumps({'op': 'account', 't': t, 'id': 'nn', 'limits': {'account': a}}),
            json.dumps({'op': 'account', 't': t, 'id': 'nn', 'limits': {'period_cap': 5}}),
            json.dumps({'op': 'rates', 't': t, 'version': 'vx', 'items': {'a': {'fallback': 'b'}}}),
            json.dumps({'op': 'rates', 't': t, 'version': 'vx',
                        'items': {'a': {'meters': {'m': {'per': 2}}}}}),
            json.dumps({'op': 'rates', 't': t, 'version': 'vx',
                        'items': {'a': {'meters': {'m': {'price': 1, 'per': 0}}}}}),
            json.dumps({'op': 'rates', 't': t, 'version': 'vx', 'items': {'a': {'cost': 1}}}),
            json.dumps({'op': 'rates', 't': t, 'version': 'vx', 'items': []}),
            json.dumps({'op': 'reserve', 't': t, 'account': a, 'id': 'rx', 'amount': 1,
                        'ttl_ms': 0}),
            json.dumps({'op': 'reserve', 't': t, 'account': a, 'id': 'rx', 'amount': 1,
                        'ttl_ms': 86400001}),
            json.dumps({'op': 'commit', 't': t, 'id': 'rx'}),
            json.dumps({'op': 'commit', 't': t, 'id': 'rx', 'amount': 1, 'usage': {}}),
            json.dumps({'op': 'refund', 't': t, 'id': 'fx', 'event': 'e1', 'amount': 0}),
            json.dumps({'op': 'tick', 't': t, 'account': a}),
            json.dumps({'op': 'report', 't': t, 'account': None}),
        ]
        raw = [
            b'\xff\xfe' + gs.encode(),
            gs.encode().replace(b'"id":"', b'"id":"\xc3'),
            b'\xef\xbb\xbf' + gs.encode(),
            gs.encode().replace(b'"op"', b'"\\u006fp"'),  # valid: an escaped key
        ]
        if r.random() < 0.1:
            self.emit_raw(r.choice(raw))
        else:
            self.emit_raw(r.choice(choices).encode('utf-8'))

    def burst(self):
        """Drive one account towards the 10^15 bounds (overflow)."""
        r = self.r
        name = 'whale%d' % self.r.randint(1, 9)
        self.g_account(name)
        if r.random() < 0.5:
            for _ in range(1001):
                self.advance_small()
                self.g_grant(acct=name, amount=E12)
            self.g_grant(acct=name, amount=1)
        else:
            self.emit({'op': 'limits', 'account': name, 'overdraft': E12})
            eid = self.new_id('e')
            self.emit({'op': 'reserve', 'account': name, 'id': eid, 'amount': 0,
                       'ttl_ms': 86400000})
            for i in range(1001):
                self.advance_small()
                self.g_charge_fixed(name, E12, force=True)
            self.emit({'op': 'commit', 'id': eid, 'amount': 1})
            self.emit({'op': 'commit', 'id': eid, 'amount': 0})
            self.g_charge_fixed(name, 1, force=True)
            self.g_grant(acct=name, amount=E12)
            self.g_charge_fixed(name, 1, force=True)
        self.emit({'op': 'balance', 'account': name})
        self.emit({'op': 'report', 'account': name})

    def advance_small(self):
        self.t += self.r.choice([0, 1])

    def g_charge_fixed(self, acct, amount, force):
        eid = self.new_id('e')
        o = {'op': 'charge', 'account': acct, 'id': eid, 'amount': amount}
        if force:
            o['force'] = True
        self.charges.append(eid)
        self.emit(o)

    # ------------------------------------------------------------------- main
    def run(self):
        r = self.r
        for name in self.acct_names:
            self.g_account(name)
            if r.random() < 0.8:
                self.g_grant(acct=name)
        if r.random() < 0.8:
            self.g_rates()
        table = [
            (self.g_grant, 11), (self.g_rates, 1.5), (self.g_quote, 3), (self.g_reserve, 13),
            (self.g_commit, 10), (self.g_release, 4), (self.g_charge, 16), (self.g_refund, 7),
            (self.g_event, 5), (self.g_balance, 4), (self.g_report, 1.5), (self.g_tick, 3),
            (self.g_pause, 1.5), (self.g_limits, 1.2), (self.g_account, 0.6),
            (self.g_retry, 6), (self.g_backwards, 0.8), (self.g_malformed, 2),
            (self.g_blank, 0.8), (self.g_scenario, 0.6),
        ]
        fns = [f for f, _ in table]
        weights = [w for _, w in table]
        while len(self.out) < self.nlines:
            if self.burst_at is not None and len(self.out) >= self.burst_at:
                self.burst_at = None
                self.burst()
                continue
            self.advance()
            r.choices(fns, weights)[0]()
        return self.out[:self.nlines]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seed', type=int, required=True)
    ap.add_argument('--lines', type=int, required=True)
    ap.add_argument('--accounts', type=int, default=4)
    a = ap.parse_args()
    g = Gen(a.seed, a.lines, max(1, a.accounts))
    import sys
    out = g.run()
    sys.stdout.buffer.write(b'\n'.join(out) + (b'\n' if out else b''))
    sys.stdout.flush()


if __name__ == '__main__':
    main()
