"""SLA and job-time rules as pure functions: when each step counts as done, how long steps took, and whether an
incident met, is at risk of missing, or missed its targets (table tests: tests/unit/test_sla.py).

**Which time a step counts at.** Desk steps (reported, assigned, closed, cancelled) happen when the server
receives them: a desk is online. Crew steps (en route, on site, restored) are often done offline and synced
hours later, so they count at the *device's* time when it is plausible, and the server's receipt stays beside
it for the audit. A phone's clock can be wrong, so:

- a device time *later* than the server's receipt is **clamped to the receipt** (flag ``ahead``): nothing can
  have happened after the server heard of it; the phone's clock was fast;
- a device time *before the previous step* by at most ``SKEW_TOLERANCE`` is **clamped to the previous step**
  (no flag): a clock a few minutes slow is normal on a phone that has not seen the network;
- a device time before the previous step by more than that is **ignored** and the **server's receipt** is
  used instead (flag ``behind``): a job cannot be reached before it was given, and a slow clock must never make
  a crew look faster than the server can prove. When there is no receipt, or the receipt itself is before the
  previous step, the step counts at the previous step's time;
- every step counts no earlier than the step before it, so durations are never negative.

The sync service has already clamped what it stored (sync/rules.py: never after the receipt, at most three days
back), so the incident's columns hold device times; the receipts are the `incident_event.server_time` of the
step's first event. server/audit/figures.py applies the same rules in SQL.

**SLA.** Targets per priority (operator settings): a high-priority incident (danger: sparking, wire down) needs
a crew on site and the supply restored within their targets; any other within the restore target. Each target
is measured from the first report. A target is *met* or *breached* once its step is reached; before that it is
*breached* past the deadline, *at risk* within the warning window before it (the last share of the target set
by the operator, a quarter by default), else *pending*. A step reached without its predecessor (restored with no on-site check-in) also
reaches the earlier target. Cancelled incidents (duplicates, no fault found) have no SLA.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from server.i18n import N_
from server.incidents import state

# The job's steps in order; cancelled is an ending, not a step of the job.
STEPS = ("reported", "assigned", "en_route", "on_site", "restored", "closed")
CREW_STEPS = state.CREW_STEPS  # ("en_route", "on_site", "restored")
# A phone clock this much slow is normal: clamp to the previous step instead of distrusting the phone.
SKEW_TOLERANCE = timedelta(minutes=5)
# "At risk" by default is the last quarter of a target (operators may change it: sla_at_risk_percent).
AT_RISK_SHARE = 0.25

STEP_LABELS = {
    "reported": N_("Reported"),
    "assigned": N_("Crew assigned"),
    "en_route": N_("Crew on the way"),
    "on_site": N_("Crew on site"),
    "restored": N_("Power restored"),
    "closed": N_("Closed"),
    "cancelled": N_("Cancelled"),
}
SOURCE_LABELS = {
    "device": N_("phone's time"),
    "server": N_("server's time"),
    "previous": N_("previous step's time"),
}
SKEW_LABELS = {
    "ahead": N_("The phone's clock was ahead of the server: the time the server received it is used."),
    "behind": N_("The phone's time was before the previous step: its clock was behind, so the time the server "
                 "received it is used."),
}
TARGET_LABELS = {
    "on_site": N_("Crew on site"),
    "restored": N_("Power restored"),
}
VERDICT_LABELS = {
    "met": N_("Met"),
    "breached": N_("Breached"),
    "at_risk": N_("At risk"),
    "pending": N_("Within target"),
}
MET, BREACHED, AT_RISK, PENDING = "met", "breached", "at_risk", "pending"
# Worst first: how an incident is ranked by its worst target.
SEVERITY = {BREACHED: 0, AT_RISK: 1, PENDING: 2, MET: 3}


@dataclass(frozen=True)
class StepTime:
    step: str
    at: datetime | None          # when the step counts as done; None while it has not happened
    device_time: datetime | None
    server_time: datetime | None  # when the server received it (desk steps: when it happened)
    source: str | None = None     # "device" | "server" | "previous"
    skew: str | None = None       # "ahead" | "behind" when the phone's clock was distrusted

    @property
    def reached(self) -> bool:
        return self.at is not None


def _utc(moment: datetime | None) -> datetime | None:
    """Python subtracts and compares two datetimes of one tzinfo by wall clock, ignoring the offset: local
    times across a daylight-saving change would be an hour off. Every rule below works in UTC."""
    return None if moment is None else moment.astimezone(UTC)


def step_time(step: str, device_time: datetime | None, server_time: datetime | None,
              previous: datetime | None, tolerance: timedelta = SKEW_TOLERANCE) -> StepTime:
    """The time one step counts at (see the module docstring), given the previous step's counted time."""
    device_time, server_time, previous = _utc(device_time), _utc(server_time), _utc(previous)
    if step not in CREW_STEPS or device_time is None:
        if server_time is None:
            return StepTime(step, None, device_time, server_time)
        if previous is not None and server_time < previous:
            return StepTime(step, previous, device_time, server_time, "previous")
        return StepTime(step, server_time, device_time, server_time, "server")
    at, source, skew = device_time, "device", None
    if server_time is not None and device_time > server_time:
        at, source, skew = server_time, "server", "ahead"
    if previous is not None and at < previous:
        if skew is None and previous - at <= tolerance:
            at, source = previous, "previous"
        else:
            skew = skew or "behind"
            if server_time is not None and server_time >= previous:
                at, source = server_time, "server"
            else:
                at, source = previous, "previous"
    return StepTime(step, at, device_time, server_time, source, skew)


def step_times(claims: Mapping[str, tuple[datetime | None, datetime | None]],
               tolerance: timedelta = SKEW_TOLERANCE) -> list[StepTime]:
    """Every step of the job in order, from {step: (device time, server time)}; missing steps are not reached.

    Each step is checked against the last step reached before it (a skipped step — restored with no
    "on the way" — does not break the chain)."""
    found, previous = [], None
    for step in STEPS:
        device_time, server_time = claims.get(step, (None, None))
        timed = step_time(step, device_time, server_time, previous, tolerance)
        found.append(timed)
        if timed.at is not None:
            previous = timed.at
    return found


@dataclass(frozen=True)
class Interval:
    step: str                     # the step reached
    since_previous: timedelta     # since the last step reached before it
    since_report: timedelta


def intervals(times: list[StepTime]) -> list[Interval]:
    """Durations between the steps reached (never negative: step_times keeps them in order)."""
    found, reported, previous = [], None, None
    for timed in times:
        if timed.at is None:
            continue
        if reported is None:
            reported = previous = timed.at
            continue
        found.append(Interval(timed.step, timed.at - previous, timed.at - reported))
        previous = timed.at
    return found


@dataclass(frozen=True)
class Targets:
    danger_on_site: timedelta
    danger_restore: timedelta
    restore: timedelta
    at_risk_share: float = AT_RISK_SHARE

    @classmethod
    def from_settings(cls, settings) -> Targets:
        """From the operator's settings (server/operator.py EffectiveSettings)."""
        return cls(danger_on_site=timedelta(minutes=settings.sla_danger_on_site_minutes),
                   danger_restore=timedelta(minutes=settings.sla_danger_restore_minutes),
                   restore=timedelta(minutes=settings.sla_restore_minutes),
                   at_risk_share=settings.sla_at_risk_percent / 100)

    def for_priority(self, priority: str) -> dict[str, timedelta]:
        """{target step: time allowed from the report}."""
        if priority == "high":
            return {"on_site": self.danger_on_site, "restored": self.danger_restore}
        return {"restored": self.restore}

    def warning(self, allowed: timedelta) -> timedelta:
        return allowed * self.at_risk_share


def verdict(reported_at: datetime, reached_at: datetime | None, allowed: timedelta, now: datetime,
            warning: timedelta) -> str:
    """met / breached / at_risk / pending for one target."""
    deadline = _utc(reported_at) + allowed
    if reached_at is not None:
        return MET if reached_at <= deadline else BREACHED
    if now > deadline:
        return BREACHED
    if now >= deadline - warning:
        return AT_RISK
    return PENDING


@dataclass(frozen=True)
class TargetCheck:
    target: str                   # "on_site" | "restored"
    allowed: timedelta
    deadline: datetime
    reached_at: datetime | None
    verdict: str

    def left(self, now: datetime) -> timedelta:
        """Time left to the deadline: negative once past it (for a step reached, measured at that step)."""
        return self.deadline - (self.reached_at or now)


def assess(priority: str, status: str, times: list[StepTime], now: datetime, targets: Targets) -> list[TargetCheck]:
    """Each SLA target of one incident; none for a cancelled one."""
    if status == "cancelled":
        return []
    at = {t.step: t.at for t in times}
    reported_at = at.get("reported")
    if reported_at is None:
        return []
    checks = []
    for target, allowed in targets.for_priority(priority).items():
        # A later step proves the earlier one: restored with no on-site check-in was on site by then.
        later = STEPS[STEPS.index(target):]
        reached = next((at[step] for step in later if at.get(step) is not None), None)
        checks.append(TargetCheck(target, allowed, _utc(reported_at) + allowed, reached,
                                  verdict(reported_at, reached, allowed, now, targets.warning(allowed))))
    return checks


def worst(checks: list[TargetCheck]) -> str | None:
    return min((c.verdict for c in checks), key=SEVERITY.__getitem__, default=None)


def open_check(checks: list[TargetCheck]) -> TargetCheck | None:
    """The target that matters now: the worst, the earliest deadline among equals."""
    if not checks:
        return None
    return min(checks, key=lambda c: (SEVERITY[c.verdict], c.deadline))


def percentile(values: list[float], share: float) -> float | None:
    """Continuous percentile, as PostgreSQL's percentile_cont (linear between the two nearest values)."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
