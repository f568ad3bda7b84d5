#!/usr/bin/env python3
"""Independent reference model of CreditMeter, written from
shared/spec/semantics.md and shared/spec/trace.md only.

Usage: python3 creditmodel.py TRACE      (TRACE is a path or '-' for stdin)

Prints, for each non-blank line of the trace, one result line followed by the
alert lines that request raised, each a compact JSON object.

All arithmetic uses Python ints (exact); no floats anywhere.
"""
import sys
import json
import re
import heapq
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict

E12 = 10 ** 12
E15 = 10 ** 15
MAXT = 2 ** 63 - 1
DAY_MS = 86_400_000
MAX_TTL = 86_400_000
DEFAULT_TTL = 600_000

NAME_RE = re.compile(r'[A-Za-z0-9._:\-]{1,64}')
METER_RE = re.compile(r'[a-z0-9_]{1,32}')


# ----------------------------------------------------------------------------
# Line parsing and validation
# ----------------------------------------------------------------------------

class Invalid(Exception):
    pass


def _pairs_hook(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise Invalid('repeated key')
        d[k] = v
    return d


def _reject(*_a):
    raise Invalid('float or constant')


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs_hook,
                            parse_float=_reject, parse_constant=_reject)


def parse_line(raw):
    """raw: bytes of one line (without the LF). Returns a dict or raises Invalid."""
    try:
        s = raw.decode('utf-8')  # strict: rejects overlongs, surrogates, bad bytes
    except UnicodeDecodeError:
        raise Invalid('utf-8')
    try:
        obj = _DECODER.decode(s)  # allows JSON whitespace around, nothing else
    except Invalid:
        raise
    except Exception:  # JSONDecodeError, ValueError (huge ints), RecursionError
        raise Invalid('json')
    if type(obj) is not dict:
        raise Invalid('not an object')
    return obj


def is_int(v, lo, hi):
    return type(v) is int and lo <= v <= hi   # type() excludes bool


def v_t(v):
    return is_int(v, 0, MAXT)


def v_amt(v):
    return is_int(v, 0, E12)


def v_pos(v):
    return is_int(v, 1, E12)


def v_ttl(v):
    return is_int(v, 1, MAX_TTL)


def v_name(v):
    return type(v) is str and NAME_RE.fullmatch(v) is not None


def v_meter(v):
    return type(v) is str and METER_RE.fullmatch(v) is not None


def v_bool(v):
    return type(v) is bool


def v_usage(v):
    if type(v) is not dict:
        return False
    return all(v_meter(k) and v_amt(q) for k, q in v.items())


def v_int_array(v):
    return type(v) is list and all(v_amt(x) for x in v)


def v_period(v):
    return type(v) is str and v in ('day', 'month')


def v_cap_mode(v):
    return type(v) is str and v in ('hard', 'soft')


LIMIT_FIELDS = {
    'overdraft': v_amt,
    'period': v_period,
    'period_cap': v_amt,
    'cap_mode': v_cap_mode,
    'alerts': v_int_array,
    'period_alerts': v_int_array,
    'downgrade': v_bool,
}


def v_limits_obj(v):
    if type(v) is not dict:
        return False
    for k, x in v.items():
        chk = LIMIT_FIELDS.get(k)
        if chk is None or not chk(x):
            return False
    if 'period_cap' in v and 'period' not in v:
        return False
    return True


def v_items(v):
    if type(v) is not dict:
        return False
    for name, it in v.items():
        if not v_name(name) or type(it) is not dict:
            return False
        for k, x in it.items():
            if k == 'base':
                if not v_amt(x):
                    return False
            elif k == 'fallback':
                if not v_name(x) or x not in v:
                    return False
            elif k == 'meters':
                if type(x) is not dict:
                    return False
                for m, spec in x.items():
                    if not v_meter(m) or type(spec) is not dict:
                        return False
                    if 'price' not in spec:
                        return False
                    for sk, sv in spec.items():
                        if sk == 'price':
                            if not v_amt(sv):
                                return False
                        elif sk == 'per':
                            if not v_pos(sv):
                                return False
                        else:
                            return False
            else:
                return False
    return True


# op -> (required fields, optional fields); 'op' and 't' are common.
OPS = {
    'account': ({'id': v_name}, {'limits': v_limits_obj}),
    'limits': ({'account': v_name}, dict(LIMIT_FIELDS)),
    'pause': ({'account': v_name}, {}),
    'resume': ({'account': v_name}, {}),
    'grant': ({'account': v_name, 'id': v_name, 'amount': v_pos},
              {'expires_at': v_t, 'priority': v_amt, 'paid': v_amt}),
    'rates': ({'version': v_name, 'items': v_items}, {'effective_at': v_t}),
    'quote': ({'account': v_name, 'item': v_name}, {'usage': v_usage}),
    'reserve': ({'account': v_name, 'id': v_name},
                {'ttl_ms': v_ttl, 'amount': v_amt, 'item': v_name, 'usage': v_usage}),
    'commit': ({'id': v_name}, {'amount': v_amt, 'usage': v_usage}),
    'release': ({'id': v_name}, {}),
    'charge': ({'account': v_name, 'id': v_name},
               {'amount': v_amt, 'item': v_name, 'usage': v_usage, 'force': v_bool}),
    'refund': ({'id': v_name, 'event': v_name}, {'amount': v_pos}),
    'event': ({'id': v_name}, {}),
    'balance': ({'account': v_name}, {}),
    'report': ({}, {'account': v_name}),
    'tick': ({}, {}),
}


def validate(obj):
    op = obj.get('op')
    if type(op) is not str or op not in OPS:
        raise Invalid('op')
    if 't' not in obj or not v_t(obj['t']):
        raise Invalid('t')
    req, opt = OPS[op]
    for k, v in obj.items():
        if k in ('op', 't'):
            continue
        chk = req.get(k) or opt.get(k)
        if chk is None:
            raise Invalid('unknown field ' + k)
        if not chk(v):
            raise Invalid('bad field ' + k)
    for k in req:
        if k not in obj:
            raise Invalid('missing ' + k)
    # cross-field rules
    if op == 'grant' and 'expires_at' in obj and not obj['expires_at'] > obj['t']:
        raise Invalid('expires_at <= t')
    if op == 'limits' and 'period_cap' in obj and 'period' not in obj:
        raise Invalid('period_cap without period')
    if op in ('reserve', 'charge'):
        if ('amount' in obj) == ('item' in obj):
            raise Invalid('amount xor item')
        if 'usage' in obj and 'item' not in obj:
            raise Invalid('usage without item')
    if op == 'commit' and ('amount' in obj) == ('usage' in obj):
        raise Invalid('amount xor usage')


def json_equal(a, b):
    """Equality of JSON values (bool distinct from int; key order aside)."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        if a.keys() != b.keys():
            return False
        return all(json_equal(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return a == b


def without_t(obj):
    return {k: v for k, v in obj.items() if k != 't'}


# ----------------------------------------------------------------------------
# Calendar (UTC), exact for any t in 0 .. 2^63-1
# ----------------------------------------------------------------------------

def day_key(t):
    return t // DAY_MS


def month_key(t):
    # Howard Hinnant's civil_from_days, on Python ints.
    z = t // DAY_MS + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return y * 12 + (m - 1)


# ----------------------------------------------------------------------------
# State
# ----------------------------------------------------------------------------

class Grant:
    def __init__(self, gid, acct, amount, expires_at, priority, paid, seq):
        self.id = gid
        self.acct = acct
        self.amount = amount
        self.expires_at = expires_at
        self.priority = priority
        self.paid = paid
        self.seq = seq
        self.free = 0
        self.allocated = 0
        self.consumed = 0
        self.expired = 0
        self.is_expired = False
        # burn order: priority asc, expires_at asc (never-expiring last), creation
        if expires_at is None:
            self.key = (priority, 1, 0, seq)
        else:
            self.key = (priority, 0, expires_at, seq)


class Limits:
    def __init__(self, d):
        d = d or {}
        self.overdraft = d.get('overdraft', 0)
        self.period = d.get('period')
        self.period_cap = d.get('period_cap')
        self.cap_mode = d.get('cap_mode', 'hard')
        self.alerts = sorted(set(d.get('alerts', [])), reverse=True)      # highest first
        self.period_alerts = sorted(set(d.get('period_alerts', [])))       # lowest first
        self.downgrade = d.get('downgrade', False)


class Account:
    def __init__(self, aid):
        self.id = aid
        self.grants = []        # sorted list of (key, Grant), burn order
        self.freelist = []      # sorted (key, Grant) for grants with free > 0
        self.sum_free = 0
        self.sum_alloc = 0
        self.debt = 0
        self.unbacked = 0
        self.debt_queue = OrderedDict()  # event id -> Event with debt > 0, oldest first
        self.paused = False
        self.granted_total = 0
        self.charged_total = 0
        self.refunded_total = 0
        self.day_key = None
        self.day_spent = 0
        self.month_key = None
        self.month_spent = 0
        self.limits = Limits(None)
        self.low_armed = {}
        self.pfired = set()
        self.pkey = None
        self.debt_armed = True

    # figures
    def available(self):
        return self.sum_free - self.unbacked - self.debt

    def balance(self):
        return self.sum_free + self.sum_alloc - self.debt

    def held(self):
        return self.sum_alloc + self.unbacked

    # free-credit bookkeeping
    def add_free(self, g, x):
        if x <= 0:
            return
        assert not g.is_expired
        if g.free == 0:
            insort(self.freelist, (g.key, g))
        g.free += x
        self.sum_free += x

    def sub_free(self, g, x):
        if x <= 0:
            return
        assert g.free >= x
        g.free -= x
        self.sum_free -= x
        if g.free == 0:
            i = bisect_left(self.freelist, (g.key,))
            assert self.freelist[i][1] is g
            del self.freelist[i]

    # periods
    def roll(self, dk, mk):
        if self.day_key != dk:
            self.day_key = dk
            self.day_spent = 0
        if self.month_key != mk:
            self.month_key = mk
            self.month_spent = 0

    def period_key(self, dk, mk):
        p = self.limits.period
        if p == 'day':
            return ('day', dk)
        if p == 'month':
            return ('month', mk)
        return None

    def period_spent(self):
        p = self.limits.period
        if p == 'day':
            return self.day_spent
        if p == 'month':
            return self.month_spent
        return self.charged_total - self.refunded_total


class Event:
    def __init__(self, eid, acct, kind):
        self.id = eid
        self.acct = acct
        self.kind = kind            # 'reservation' or 'charge'
        self.status = None          # charged/open/committed/released/expired
        self.charged = 0
        self.refunded = 0
        self.records = []           # [Grant, credits] in order; debt part kept apart (always last)
        self.debt = 0
        self.hold = 0
        self.item = None
        self.version = None
        self.version_items = None
        self.late = False
        self.alloc = []             # reservation's allocation [[Grant, credits]] in its order
        self.unbacked = 0
        self.seq = 0
        self.create_req = None
        self.create_result = None
        self.close_op = None        # 'commit' / 'release' once closed by a request
        self.close_req = None
        self.close_result = None

    def add_record(self, g, x):
        if x <= 0:
            return
        if self.records and self.records[-1][0] is g:
            self.records[-1][1] += x
        else:
            self.records.append([g, x])

    def burns(self):
        out = []
        for g, x in self.records:
            if x == 0:
                continue
            if out and out[-1]['grant'] == g.id:
                out[-1]['credits'] += x
            else:
                out.append({'grant': g.id, 'credits': x})
        return out


class Item:
    def __init__(self, d):
        self.base = d.get('base', 0)
        self.meters = {}
        for m, spec in d.get('meters', {}).items():
            self.meters[m] = (spec['price'], spec.get('per', 1))
        self.fallback = d.get('fallback')


class Version:
    def __init__(self, vid, eff, seq, items):
        self.id = vid
        self.eff = eff
        self.seq = seq
        self.items = {name: Item(d) for name, d in items.items()}


def err(code):
    return {'ok': False, 'error': code}


def price(items, name, usage):
    """-> (error or None, cost)"""
    it = items.get(name)
    if it is None:
        return 'unknown_item', None
    for m in usage:
        if m not in it.meters:
            return 'unknown_meter', None
    cost = it.base
    for m, q in usage.items():
        p, per = it.meters[m]
        cost += -((-q * p) // per)   # exact ceil
    if cost > E12:
        return 'invalid', None
    return None, cost


# ----------------------------------------------------------------------------
# Engine
# ----------------------------------------------------------------------------

class Engine:
    def __init__(self):
        self.last_t = None
        self.now = 0
        self.dk = 0
        self.mk = 0
        self.accounts = {}
        self.account_reqs = {}      # id -> (req without t, result)
        self.grant_reqs = {}
        self.refund_reqs = {}
        self.version_reqs = {}
        self.events = {}            # id -> Event
        self.versions = []          # sorted by (eff, seq)
        self.version_keys = []
        self.seq = 0
        self.heap = []              # (time, kind 0=reservation 1=grant, order, seq, obj)

    def next_seq(self):
        self.seq += 1
        return self.seq

    # ------------------------------------------------------------------ lines
    def process_line(self, raw):
        """Returns list of output dicts (empty for a blank line)."""
        if raw.strip(b' \t\r') == b'':
            return []
        try:
            obj = parse_line(raw)
            validate(obj)
        except Invalid:
            return [err('invalid')]
        t = obj['t']
        if self.last_t is not None and t < self.last_t:
            return [err('time_went_backwards')]
        self.last_t = t
        self.advance(t)
        res = getattr(self, 'op_' + obj['op'])(obj)
        return [res] + self.evaluate_alerts(t)

    # ------------------------------------------------------------ time passing
    def advance(self, t):
        self.now = t
        while self.heap and self.heap[0][0] <= t:
            _, kind, _, _, obj = heapq.heappop(self.heap)
            if kind == 0:
                ev = obj
                if ev.status == 'open':
                    self.drop_reservation(ev)
                    ev.status = 'expired'
            else:
                g = obj
                acct = g.acct
                g.is_expired = True
                x = g.free
                if x:
                    acct.sub_free(g, x)
                    g.expired += x
        self.dk = day_key(t)
        self.mk = month_key(t)
        for a in self.accounts.values():
            a.roll(self.dk, self.mk)

    # ------------------------------------------------------------ credit moves
    def free_appears(self, acct, g, x):
        """x credits become free on the non-expired grant g: they first pay debt."""
        if x <= 0:
            return
        pay = min(x, acct.debt)
        if pay > 0:
            g.consumed += pay
            acct.debt -= pay
            rem = pay
            while rem > 0:
                eid = next(iter(acct.debt_queue))
                ev = acct.debt_queue[eid]
                p = min(rem, ev.debt)
                ev.add_record(g, p)
                ev.debt -= p
                rem -= p
                if ev.debt == 0:
                    del acct.debt_queue[eid]
        acct.add_free(g, x - pay)

    def return_alloc(self, acct, g, x):
        if x <= 0:
            return
        g.allocated -= x
        acct.sum_alloc -= x
        if g.is_expired:
            g.expired += x
        else:
            self.free_appears(acct, g, x)

    def return_refund(self, acct, g, x):
        if x <= 0:
            return
        g.consumed -= x
        if g.is_expired:
            g.expired += x
        else:
            self.free_appears(acct, g, x)

    def take_free(self, acct, n):
        """Take up to n free credits in burn order; returns [(Grant, x)]."""
        taken = []
        while n > 0 and acct.freelist:
            g = acct.freelist[0][1]
            x = min(n, g.free)
            acct.sub_free(g, x)
            taken.append((g, x))
            n -= x
        return taken

    def drop_reservation(self, ev):
        acct = ev.acct
        alloc = ev.alloc
        ev.alloc = []
        for g, x in alloc:
            self.return_alloc(acct, g, x)
        acct.unbacked -= ev.unbacked
        ev.unbacked = 0

    def spend(self, acct, a):
        acct.day_spent += a
        acct.month_spent += a
        acct.charged_total += a

    def put_debt(self, acct, ev, owed):
        ev.debt = owed
        if owed > 0:
            acct.debt += owed
            acct.debt_queue[ev.id] = ev

    # -------------------------------------------------------------- admission
    def admission(self, acct, n):
        """-> (error or None, over_cap)"""
        if acct.paused:
            return 'paused', False
        if acct.available() - n < -acct.limits.overdraft:
            return 'insufficient_credits', False
        lim = acct.limits
        if lim.period is not None and lim.period_cap is not None:
            if acct.period_spent() + acct.held() + n > lim.period_cap:
                if lim.cap_mode == 'hard':
                    return 'period_cap', False
                return None, True
        return None, False

    def admit_item(self, acct, ver, item, usage, cost):
        """Admission with the downgrade chain.
        -> (error, chosen item, chosen cost, downgraded, over_cap)"""
        e, oc = self.admission(acct, cost)
        if e is None:
            return None, item, cost, False, oc
        if e == 'paused' or not acct.limits.downgrade:
            return e, None, None, False, False
        seen = {item}
        cur = ver.items[item].fallback
        while cur is not None and cur not in seen:
            seen.add(cur)
            pe, c = price(ver.items, cur, usage)
            if pe is None:
                e2, oc2 = self.admission(acct, c)
                if e2 is None:
                    return None, cur, c, True, oc2
            cur = ver.items[cur].fallback
        return e, None, None, False, False

    def refusal(self, acct, e, needed):
        r = err(e)
        if e == 'insufficient_credits':
            r['available'] = acct.available()
            r['needed'] = needed
        return r

    def in_force(self, t):
        i = bisect_right(self.version_keys, (t, 1 << 200))  # every seq is smaller
        if i == 0:
            return None
        return self.versions[i - 1]

    # ------------------------------------------------------------ retry helper
    @staticmethod
    def retry(table, key, req):
        """None if key unused; else the duplicate result or id_conflict."""
        prev = table.get(key)
        if prev is None:
            return None
        preq, pres = prev
        if json_equal(preq, req):
            r = dict(pres)
            r['duplicate'] = True
            return r
        return err('id_conflict')

    def set_limits(self, acct, d):
        acct.limits = Limits(d)
        av = acct.available()
        acct.low_armed = {x: av >= x for x in acct.limits.alerts}
        lim = acct.limits
        acct.pkey = acct.period_key(self.dk, self.mk)
        acct.pfired = set()
        if lim.period is not None and lim.period_cap is not None:
            ps = acct.period_spent()
            for p in lim.period_alerts:
                if 100 * ps >= p * lim.period_cap:
                    acct.pfired.add(p)

    # ------------------------------------------------------------------- ops
    def op_account(self, o):
        req = without_t(o)
        r = self.retry(self.account_reqs, o['id'], req)
        if r is not None:
            return r
        acct = Account(o['id'])
        acct.roll(self.dk, self.mk)
        self.accounts[o['id']] = acct
        self.set_limits(acct, o.get('limits'))
        res = {'ok': True}
        self.account_reqs[o['id']] = (req, res)
        return res

    def op_limits(self, o):
        acct = self.accounts.get(o['account'])
        if acct is None:
            return err('unknown_account')
        d = {k: v for k, v in o.items() if k not in ('op', 't', 'account')}
        self.set_limits(acct, d)
        return {'ok': True}

    def op_pause(self, o):
        acct = self.accounts.get(o['account'])
        if acct is None:
            return err('unknown_account')
        acct.paused = True
        return {'ok': True}

    def op_resume(self, o):
        acct = self.accounts.get(o['account'])
        if acct is None:
            return err('unknown_account')
        acct.paused = False
        return {'ok': True}

    def op_grant(self, o):
        req = without_t(o)
        r = self.retry(self.grant_reqs, o['id'], req)
        if r is not None:
            return r
        acct = self.accounts.get(o['account'])
        if acct is None:
            return err('unknown_account')
        amount = o['amount']
        if acct.granted_total + amount > E15:
            return err('overflow')
        g = Grant(o['id'], acct, amount, o.get('expires_at'), o.get('priority', 0),
                  o.get('paid', 0), self.next_seq())
        acct.granted_total += amount
        insort(acct.grants, (g.key, g))
        if g.expires_at is not None:
            heapq.heappush(self.heap, (g.expires_at, 1, g.key, g.seq, g))
        self.free_appears(acct, g, amount)
        res = {'ok': True, 'available': acct.available()}
        self.grant_reqs[o['id']] = (req, res)
        return res

    def op_rates(self, o):
        req = without_t(o)
        r = self.retry(self.version_reqs, o['version'], req)
        if r is not None:
            return r
        v = Version(o['version'], o.get('effective_at', o['t']), self.next_seq(), o['items'])
        k = (v.eff, v.seq)
        i = bisect_right(self.version_keys, k)
        self.version_keys.insert(i, k)
        self.versions.insert(i, v)
        res = {'ok': True}
        self.version_reqs[o['version']] = (req, res)
        return res

    def op_quote(self, o):
        acct = self.accounts.get(o['account'])
        if acct is None:
            return err('unknown_account')
        ver = self.in_force(o['t'])
        if ver is None:
            return err('no_rates')
        e, cost = price(ver.items, o['item'], o.get('usage', {}))
        if e is not None:
            return err(e)
        ae, _ = self.admission(acct, cost)
        return {'ok': True, 'credits': cost, 'version': ver.id, 'affordable': ae is None}

    def _price_request(self, o):
        """For reserve/charge: -> (error result or None, n, ver, item, usage)"""
        if 'item' not in o:
            return None, o['amount'], None, None, None
        ver = self.in_force(o['t'])
        if ver is None:
            return err('no_rates'), None, None, None, None
        usage = o.get('usage', {})
        e, cost = price(ver.items, o['item'], usage)
        if e is not None:
            return err(e), None, None, None, None
        return None, cost, ver, o['item'], usage

    def _event_retry(self, eid, req):
        ev = self.events.get(eid)
        if ev is None:
            return None
        if json_equal(ev.create_req, req):
            r = dict(ev.create_result)
            r['duplicate'] = True
            return r
        return err('id_conflict')

    def op_reserve(self, o):
        req = without_t(o)
        r = self._event_retry(o['id'], req)
        if r is not None:
            return r
        acct = self.accounts.get(o['account'])
        if acct is None:
            return err('unknown_account')
        perr, n, ver, item, usage = self._price_request(o)
        if perr is not None:
            return perr
        downgraded = False
        if item is None:
            e, over = self.admission(acct, n)
            if e is not None:
                return self.refusal(acct, e, n)
        else:
            e, item2, n2, downgraded, over = self.admit_item(acct, ver, item, usage, n)
            if e is not None:
                return self.refusal(acct, e, n)
            item, n = item2, n2
        ev = Event(o['id'], acct, 'reservation')
        ev.seq = self.next_seq()
        ev.status = 'open'
        ev.hold = n
        if item is not None:
            ev.item = item
            ev.version = ver.id
            ev.version_items = ver.items
        k = min(n, acct.sum_free)
        for g, x in self.take_free(acct, k):
            g.allocated += x
            acct.sum_alloc += x
            ev.alloc.append([g, x])
        ev.unbacked = n - k
        acct.unbacked += n - k
        exp = o['t'] + o.get('ttl_ms', DEFAULT_TTL)
        if exp <= MAXT:
            heapq.heappush(self.heap, (exp, 0, ev.seq, ev.seq, ev))
        res = {'ok': True, 'held': n, 'available': acct.available()}
        if item is not None:
            res['item'] = item
            res['version'] = ver.id
            if downgraded:
                res['downgraded'] = True
        if over:
            res['over_cap'] = True
        ev.create_req = req
        ev.create_result = res
        self.events[o['id']] = ev
        return res

    def op_charge(self, o):
        req = without_t(o)
        r = self._event_retry(o['id'], req)
        if r is not None:
            return r
        acct = self.accounts.get(o['account'])
        if acct is None:
            return err('unknown_account')
        perr, n, ver, item, usage = self._price_request(o)
        if perr is not None:
            return perr
        downgraded = False
        over = False
        if not o.get('force', False):
            if item is None:
                e, over = self.admission(acct, n)
                if e is not None:
                    return self.refusal(acct, e, n)
            else:
                e, item2, n2, downgraded, over = self.admit_item(acct, ver, item, usage, n)
                if e is not None:
                    return self.refusal(acct, e, n)
                item, n = item2, n2
        # overflow: the debt after this charge
        if acct.debt + max(0, n - acct.sum_free) > E15:
            return err('overflow')
        ev = Event(o['id'], acct, 'charge')
        ev.seq = self.next_seq()
        ev.status = 'charged'
        ev.charged = n
        if item is not None:
            ev.item = item
            ev.version = ver.id
        for g, x in self.take_free(acct, n):
            g.consumed += x
            ev.add_record(g, x)
        owed = n - sum(x for _, x in ev.records)
        self.put_debt(acct, ev, owed)
        self.spend(acct, n)
        res = {'ok': True, 'charged': n, 'available': acct.available()}
        if item is not None:
            res['item'] = item
            res['version'] = ver.id
            if downgraded:
                res['downgraded'] = True
        if over:
            res['over_cap'] = True
        ev.create_req = req
        ev.create_result = res
        self.events[o['id']] = ev
        return res

    def op_commit(self, o):
        ev = self.events.get(o['id'])
        if ev is None:
            return err('unknown_event')
        if ev.kind == 'charge':
            return err('reservation_closed')
        if 'usage' in o:
            if ev.item is None:
                return err('invalid')
            e, a = price(ev.version_items, ev.item, o['usage'])
            if e is not None:
                return err(e)
        else:
            a = o['amount']
        req = without_t(o)
        if ev.close_op == 'commit':
            if json_equal(ev.close_req, req):
                r = dict(ev.close_result)
                r['duplicate'] = True
                return r
            return err('id_conflict')
        if ev.close_op == 'release':
            return err('reservation_closed')
        acct = ev.acct
        late = ev.status == 'expired'
        alloc_total = 0 if late else sum(x for _, x in ev.alloc)
        owed3 = max(0, a - alloc_total)
        if acct.debt + max(0, owed3 - acct.sum_free) > E15:
            return err('overflow')
        owed = a
        if not late:
            leftovers = []
            for g, x in ev.alloc:
                use = min(owed, x)
                if use:
                    g.allocated -= use
                    acct.sum_alloc -= use
                    g.consumed += use
                    ev.add_record(g, use)
                    owed -= use
                if x - use:
                    leftovers.append((g, x - use))
            ev.alloc = []
            acct.unbacked -= ev.unbacked
            ev.unbacked = 0
            for g, x in leftovers:
                self.return_alloc(acct, g, x)
        for g, x in self.take_free(acct, owed):
            g.consumed += x
            ev.add_record(g, x)
            owed -= x
        self.put_debt(acct, ev, owed)
        self.spend(acct, a)
        ev.charged = a
        ev.status = 'committed'
        ev.late = late
        res = {'ok': True, 'charged': a, 'available': acct.available()}
        if late:
            res['late'] = True
        ev.close_op = 'commit'
        ev.close_req = req
        ev.close_result = res
        return res

    def op_release(self, o):
        ev = self.events.get(o['id'])
        if ev is None:
            return err('unknown_event')
        if ev.kind == 'charge':
            return err('reservation_closed')
        req = without_t(o)
        if ev.close_op == 'release':
            if json_equal(ev.close_req, req):
                r = dict(ev.close_result)
                r['duplicate'] = True
                return r
            return err('id_conflict')
        if ev.close_op == 'commit':
            return err('reservation_closed')
        acct = ev.acct
        if ev.status == 'open':
            self.drop_reservation(ev)
            ev.status = 'released'
            released = ev.hold
        else:  # expired: only closes it
            released = 0
        res = {'ok': True, 'released': released, 'available': acct.available()}
        ev.close_op = 'release'
        ev.close_req = req
        ev.close_result = res
        return res

    def op_refund(self, o):
        req = without_t(o)
        r = self.retry(self.refund_reqs, o['id'], req)
        if r is not None:
            return r
        ev = self.events.get(o['event'])
        if ev is None:
            return err('unknown_event')
        if ev.kind == 'reservation' and ev.status != 'committed':
            return err('exceeds_refundable')
        left = ev.charged - ev.refunded
        amt = o.get('amount', left)
        if amt > left:
            return err('exceeds_refundable')
        acct = ev.acct
        rem = amt
        d = min(rem, ev.debt)
        if d:
            ev.debt -= d
            acct.debt -= d
            rem -= d
            if ev.debt == 0:
                del acct.debt_queue[ev.id]
        i = len(ev.records) - 1
        while rem > 0:
            rec = ev.records[i]
            x = min(rem, rec[1])
            if x:
                rec[1] -= x
                rem -= x
                self.return_refund(acct, rec[0], x)
            i -= 1
        ev.refunded += amt
        acct.refunded_total += amt
        acct.day_spent = max(0, acct.day_spent - amt)
        acct.month_spent = max(0, acct.month_spent - amt)
        res = {'ok': True, 'refunded': amt, 'available': acct.available()}
        self.refund_reqs[o['id']] = (req, res)
        return res

    def op_event(self, o):
        ev = self.events.get(o['id'])
        if ev is None:
            return err('unknown_event')
        res = {'ok': True, 'account': ev.acct.id, 'kind': ev.kind, 'status': ev.status,
               'charged': ev.charged, 'refunded': ev.refunded, 'burns': ev.burns(),
               'debt': ev.debt}
        if ev.kind == 'reservation':
            res['held'] = ev.hold
        if ev.item is not None:
            res['item'] = ev.item
            res['version'] = ev.version
        if ev.late:
            res['late'] = True
        return res

    def op_balance(self, o):
        acct = self.accounts.get(o['account'])
        if acct is None:
            return err('unknown_account')
        grants = [{'id': g.id, 'remaining': g.free + g.allocated}
                  for _, g in acct.grants if g.free + g.allocated > 0]
        return {'ok': True, 'available': acct.available(), 'balance': acct.balance(),
                'held': acct.held(), 'debt': acct.debt, 'period_spent': acct.period_spent(),
                'grants': grants}

    def op_report(self, o):
        if 'account' in o:
            acct = self.accounts.get(o['account'])
            if acct is None:
                return err('unknown_account')
            accts = [acct]
        else:
            accts = list(self.accounts.values())
        tot = dict(granted=0, consumed=0, expired=0, remaining=0, debt=0,
                   recognized=0, breakage=0, deferred=0)
        for a in accts:
            tot['consumed'] += a.charged_total - a.refunded_total
            tot['debt'] += a.debt
            for _, g in a.grants:
                tot['granted'] += g.amount
                tot['expired'] += g.expired
                tot['remaining'] += g.free + g.allocated
                rec = g.paid * g.consumed // g.amount
                brk = g.paid * (g.consumed + g.expired) // g.amount - rec
                tot['recognized'] += rec
                tot['breakage'] += brk
                tot['deferred'] += g.paid - rec - brk
        res = {'ok': True}
        res.update(tot)
        return res

    def op_tick(self, o):
        return {'ok': True}

    # ------------------------------------------------------------------ alerts
    def evaluate_alerts(self, t):
        out = []
        for aid in sorted(self.accounts, key=lambda s: s.encode('utf-8')):
            a = self.accounts[aid]
            lim = a.limits
            av = a.available()
            for x in lim.alerts:  # highest first
                if a.low_armed[x]:
                    if av < x:
                        a.low_armed[x] = False
                        out.append({'alert': 'low_balance', 'account': aid, 'threshold': x,
                                    'available': av, 't': t})
                elif av >= x:
                    a.low_armed[x] = True
            if lim.period is not None and lim.period_cap is not None:
                key = a.period_key(self.dk, self.mk)
                if key != a.pkey:
                    a.pkey = key
                    a.pfired = set()
                ps = a.period_spent()
                for p in lim.period_alerts:  # lowest first
                    if p not in a.pfired and 100 * ps >= p * lim.period_cap:
                        a.pfired.add(p)
                        out.append({'alert': 'period_usage', 'account': aid, 'percent': p,
                                    'spent': ps, 'cap': lim.period_cap, 't': t})
            if a.debt > 0:
                if a.debt_armed:
                    a.debt_armed = False
                    out.append({'alert': 'debt', 'account': aid, 'debt': a.debt, 't': t})
            else:
                a.debt_armed = True
        return out


def check_invariants(eng):
    """Self-check of the model's bookkeeping (enabled by --check)."""
    for a in eng.accounts.values():
        sf = sa = 0
        cons = {}
        for _, g in a.grants:
            assert min(g.free, g.allocated, g.consumed, g.expired) >= 0, g.id
            assert g.amount == g.free + g.allocated + g.consumed + g.expired, g.id
            if g.is_expired:
                assert g.free == 0
            sf += g.free
            sa += g.allocated
            cons[g.id] = 0
        assert sf == a.sum_free and sa == a.sum_alloc
        assert [g for _, g in a.freelist] == [g for _, g in a.grants if g.free > 0]
        assert a.debt >= 0 and a.unbacked >= 0
        if a.debt > 0:
            assert a.sum_free == 0, 'free credits beside debt'
        assert a.debt == sum(ev.debt for ev in a.debt_queue.values())
        charged = refunded = 0
        unb = 0
        alloc = {}
        for ev in eng.events.values():
            if ev.acct is not a:
                continue
            charged += ev.charged
            refunded += ev.refunded
            assert ev.charged - ev.refunded == sum(x for _, x in ev.records) + ev.debt
            assert (ev.debt > 0) == (ev.id in a.debt_queue)
            for g, x in ev.records:
                assert x >= 0
                cons[g.id] += x
            if ev.kind == 'reservation' and ev.status == 'open':
                unb += ev.unbacked
                for g, x in ev.alloc:
                    alloc[g.id] = alloc.get(g.id, 0) + x
            else:
                assert not ev.alloc and ev.unbacked == 0
        assert unb == a.unbacked
        for _, g in a.grants:
            assert cons[g.id] == g.consumed, ('consumed', g.id, cons[g.id], g.consumed)
            assert alloc.get(g.id, 0) == g.allocated, ('allocated', g.id)
        assert charged == a.charged_total and refunded == a.refunded_total
        assert charged - refunded == sum(g.consumed for _, g in a.grants) + a.debt
        assert a.available() == a.balance() - a.held()
        assert a.granted_total == sum(g.amount for _, g in a.grants)
        assert a.granted_total <= E15 and a.debt <= E15


def dumps(o):
    return json.dumps(o, separators=(',', ':'))


def main(argv):
    check = '--check' in argv[1:]
    argv = [a for a in argv if a != '--check']
    if len(argv) != 2:
        sys.stderr.write('usage: creditmodel.py [--check] TRACE|-\n')
        return 2
    if argv[1] == '-':
        data = sys.stdin.buffer.read()
    else:
        with open(argv[1], 'rb') as f:
            data = f.read()
    lines = data.split(b'\n')
    if lines and lines[-1] == b'':
        lines.pop()
    eng = Engine()
    out = sys.stdout
    buf = []
    for raw in lines:
        for o in eng.process_line(raw):
            buf.append(dumps(o))
        if check:
            check_invariants(eng)
        if len(buf) > 4096:
            out.write('\n'.join(buf) + '\n')
            buf = []
    if buf:
        out.write('\n'.join(buf) + '\n')
    out.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
