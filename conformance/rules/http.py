"""Generic HTTP rules, one instance per API: Retry-After, backing off from failures, no storm on a dead credential.

Where an API offers a login (AI-Trader), a refused credential is graded by that API's re-login
rule instead of ``http.no-retry-storm``: there the right answer to a 401 is to log in again.
Returning to normal polling after a failure streak is graded by the API's cadence rules
(``luckylobster.heartbeat.not-late``, ``aitrader.heartbeat.max-interval``), not here.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..evidence import Evidence, Exchange
from ..model import Finding, Window
from ..registry import NotApplicable, Params, rule
from ._shared import at, by_principal, retry_after, seconds

__all__ = ["HTTP_APIS", "STORM_APIS"]

#: The APIs polled over plain HTTP whose generic rules are registered here.
HTTP_APIS = ("aitrader", "luckylobster")
#: Of those, the APIs without a way to renew a credential: a refused one must not be retried in a storm.
STORM_APIS = ("luckylobster",)

CITE_RETRY_AFTER = 'RFC 9110 §10.2.3 "Retry-After": how long the user agent ought to wait before a follow-up request'
CITE_BACKOFF = "the documentation's retry advice: back off exponentially on 5xx and network errors"


def _register(api: str) -> None:
    @rule(
        f"{api}.http.honours-retry-after",
        severity="must",
        api=api,
        summary="After a 429 or 503 with Retry-After, sends nothing to the API before that time has passed.",
        cites=CITE_RETRY_AFTER,
        params={"tolerance": 1.0},
    )
    def honours_retry_after(ev: Evidence, p: Params) -> Iterator[Finding]:
        tolerance = ev.tolerance(float(p["tolerance"]))
        judged = False
        for exchanges in by_principal(ev.exchanges(api)).values():
            for current, following in zip(exchanges, exchanges[1:], strict=False):
                if current.status not in (429, 503):
                    continue
                wait = retry_after(current)
                if wait is None:
                    continue
                judged = True
                allowed = current.done + wait
                if following.vtime < allowed - tolerance:
                    yield Finding(
                        f"{current.method} {current.path} answered {current.status} with Retry-After: {wait:g} at {at(current.done)}; "
                        f"the next request came at {at(following.vtime)}, {seconds(allowed - following.vtime)} early",
                        current.seqs + following.seqs,
                        following.vtime,
                        Window(allowed, allowed + wait, "not before Retry-After"),
                    )
        if not judged:
            raise NotApplicable("no answer carried Retry-After")

    @rule(
        f"{api}.http.backs-off-on-5xx",
        severity="must",
        api=api,
        summary="In a streak of failures (5xx, resets, empty, truncated or broken answers, no Retry-After), "
        "the gaps between attempts never shrink and grow at least x1.5 until a cap.",
        cites=CITE_BACKOFF,
        params={"factor": 1.5, "cap": 300.0, "slack": 0.2},
    )
    def backs_off(ev: Evidence, p: Params) -> Iterator[Finding]:
        factor, cap, slack = float(p["factor"]), float(p["cap"]), float(p["slack"])
        judged = False
        for exchanges in by_principal(ev.exchanges(api)).values():
            for streak in _streaks(exchanges):
                gaps = [(b.vtime - a.done, a, b) for a, b in zip(streak, streak[1:], strict=False)]
                if len(gaps) < 2:
                    continue
                judged = True
                for (previous, _a, _b), (gap, a, b) in zip(gaps, gaps[1:], strict=False):
                    needed = min(cap, factor * previous)
                    if gap < needed - ev.tolerance(slack * needed):  # a share of the gap: timers are not exact
                        yield Finding(
                            f"after {a.method} {a.path} failed ({a.status or a.outcome}) at {at(a.done)}, the retry came "
                            f"{seconds(gap)} later; the gap before was {seconds(previous)}, so at least {seconds(needed)} was due",
                            a.seqs + b.seqs,
                            b.vtime,
                            Window(a.done + needed, a.done + needed * factor, f"backoff x{factor:g}"),
                        )
        if not judged:
            raise NotApplicable("no streak of three or more failed attempts without Retry-After")

    if api in STORM_APIS:

        @rule(
            f"{api}.http.no-retry-storm",
            severity="must",
            api=api,
            summary="After its credential is refused (401), does not send more than a few requests with it a minute.",
            cites="a revoked or invalid key stays invalid: the documented 401 'Invalid or missing API key'",
            params={"max_requests": 3, "window": 60.0},
        )
        def no_retry_storm(ev: Evidence, p: Params) -> Iterator[Finding]:
            limit, window = int(p["max_requests"]), float(p["window"])
            judged = False
            for principal, exchanges in by_principal(ev.exchanges(api)).items():
                refused = next((x for x in exchanges if x.status == 401), None)
                if principal is None or refused is None:
                    continue
                judged = True
                after = [x for x in exchanges if x.vtime > refused.done]
                for index, first in enumerate(after):
                    burst = [x for x in after[index:] if x.vtime < first.vtime + window]
                    if len(burst) > limit:
                        yield Finding(
                            f"{principal}'s credential was refused (401) at {at(refused.done)}; from {at(first.vtime)} it sent "
                            f"{len(burst)} more requests with it within {seconds(window)} (at most {limit})",
                            refused.seqs + tuple(x.request.seq for x in burst),
                            first.vtime,
                        )
                        break
            if not judged:
                raise NotApplicable("no credential was refused")


def _streaks(exchanges: list[Exchange]) -> Iterator[list[Exchange]]:
    """Runs of failed attempts (no Retry-After), each with the attempt that followed it."""
    streak: list[Exchange] = []
    for exchange in exchanges:
        if streak:
            streak.append(exchange)
            if not (exchange.failed and retry_after(exchange) is None):
                yield streak
                streak = []
        elif exchange.failed and retry_after(exchange) is None:
            streak = [exchange]
    if len(streak) > 1:
        yield streak


for _api in HTTP_APIS:
    _register(_api)
