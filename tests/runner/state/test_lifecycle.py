"""The lifecycle state machine: TRANSITIONS, guards, ad-hoc mode, timeouts, checkpoints."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from runner.state import lifecycle
from runner.errors import StateError
from runner.state.lifecycle import STATES, TRANSITIONS
from runner.state.models import PlanVersion, Run
from runner.plan.versions import PlanDraft, PlannedTask, approve_plan, store_plan
from runner.state.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path)
    yield s
    s.close()


def force(store, state):
    """Put the store in `state` directly (test set-up only)."""
    store.set_lifecycle_state(state, "test")


def add_plan(store, status="draft"):
    store.insert_plan(PlanVersion(version=store.next_plan_version(), status=status, prd_text="x"))


def test_transitions_table_is_the_seed():
    assert set(TRANSITIONS) == set(STATES)
    assert TRANSITIONS["FAILED"] == {"IDLE"}
    assert TRANSITIONS["PLANNING"] == {"SCAFFOLDING", "PLANNING", "FAILED", "IDLE"}
    assert TRANSITIONS["VERIFYING"] == {"DEPLOYING", "BUILDING", "FAILED"}
    assert TRANSITIONS["OBSERVING"] == {"MAINTAINING", "DEPLOYING", "IDLE"}


def test_adhoc_without_plan(store):
    for action in ("task.add", "build", "run", "verify.run"):
        assert lifecycle.require(store, action) == "adhoc"
    with pytest.raises(StateError, match=r"`plan approve` is not allowed in state IDLE .*plan generate"):
        lifecycle.require(store, "plan.approve")
    assert store.lifecycle_state() == "IDLE"


def test_guards_apply_once_a_plan_exists(store):
    add_plan(store)
    lifecycle.transition(store, "PLANNING", reason="t")
    with pytest.raises(StateError, match=r"`build` is not allowed in state PLANNING \(allowed in BUILDING, MAINTAINING\)"):
        lifecycle.require(store, "build")
    assert lifecycle.require(store, "plan.approve") == "lifecycle"
    assert lifecycle.require(store, "status") == "readonly"


def test_failed_refuses_everything_but_reset_and_reads(store):
    force(store, "FAILED")
    for action in ("task.add", "build", "run", "verify.run", "plan.generate"):
        with pytest.raises(StateError, match="FAILED.*reset"):
            lifecycle.require(store, action)
    for action in ("status", "history", "plan.show", "config.show", "doctor", "policy.check"):
        assert lifecycle.require(store, action) == "readonly"
    assert lifecycle.require(store, "reset") == "lifecycle"


def test_scaffolding_guard_needs_approved_plan(store):
    add_plan(store)
    lifecycle.transition(store, "PLANNING", reason="t")
    with pytest.raises(StateError, match="approved plan"):
        lifecycle.transition(store, "SCAFFOLDING", reason="t")
    store.set_plan_status(1, "approved")
    lifecycle.transition(store, "SCAFFOLDING", reason="t")
    assert store.lifecycle_state() == "SCAFFOLDING"


def test_deploying_guard_needs_passing_verify_of_the_commit(store):
    force(store, "VERIFYING")
    with pytest.raises(StateError, match="passing"):
        lifecycle.transition(store, "DEPLOYING", reason="t")
    run = store.start_run(Run(kind="verify", pid=1))
    store.finish_run(run.id, event="run.succeeded", status="succeeded", commit="a" * 40)
    with pytest.raises(StateError, match="current commit"):
        lifecycle.transition(store, "DEPLOYING", reason="t", context={"commit": "b" * 40})
    lifecycle.transition(store, "DEPLOYING", reason="t", context={"commit": "a" * 40})


def test_transition_writes_checkpoint_row_and_file(store):
    add_plan(store)
    cp = lifecycle.transition(store, "PLANNING", reason="plan v1 generated")
    [row] = store.checkpoints()
    assert row.id == cp and (row.from_state, row.to_state) == ("IDLE", "PLANNING")
    data = json.loads((store.root / row.path).read_text())
    assert data["to"] == "PLANNING" and data["plan_version"] == 1
    assert [e.event for e in store.audit_events("lifecycle")] == ["lifecycle.transition"]


def test_illegal_transition_changes_nothing(store):
    with pytest.raises(StateError, match="cannot go from IDLE to BUILDING"):
        lifecycle.transition(store, "BUILDING", reason="t")
    assert store.lifecycle_state() == "IDLE"
    assert store.checkpoints() == []
    assert not (store.root / ".codex" / "checkpoints").exists()


def test_timeout_is_reported_then_fails_the_next_command(store):
    add_plan(store)
    lifecycle.transition(store, "PLANNING", reason="t")
    later = datetime.now(UTC) + timedelta(seconds=601)
    facts = lifecycle.timeout_status(store, later)
    assert facts["state"] == "PLANNING" and facts["timeout_s"] == 600
    assert lifecycle.require(store, "status", now=later) == "readonly"  # reading does not move it
    assert store.lifecycle_state() == "PLANNING"
    with pytest.raises(StateError, match="timed out.*FAILED"):
        lifecycle.require(store, "plan.approve", now=later)
    assert store.lifecycle_state() == "FAILED"
    assert lifecycle.timeout_status(store, later + timedelta(days=9)) is None  # FAILED has no timeout


def test_activity_keeps_a_state_alive(store):
    force(store, "BUILDING")
    assert lifecycle.timeout_status(store, datetime.now(UTC) + timedelta(seconds=7000)) is None
    assert lifecycle.timeout_status(store, datetime.now(UTC) + timedelta(seconds=7300)) is not None


ACTIONS = sorted(set(lifecycle.ACTIONS) | lifecycle.READ_ONLY)


class LifecycleMachine(RuleBasedStateMachine):
    """Random commands against a real store: only TRANSITIONS edges are ever recorded."""

    def __init__(self):
        super().__init__()
        import tempfile
        from pathlib import Path

        self.tmp = tempfile.TemporaryDirectory()
        self.store = Store.open(Path(self.tmp.name))

    def teardown(self):
        self.store.close()
        self.tmp.cleanup()

    @rule(to=st.sampled_from(STATES))
    def try_transition(self, to):
        before = self.store.lifecycle_state()
        try:
            lifecycle.transition(self.store, to, reason="random")
        except StateError:
            assert self.store.lifecycle_state() == before
        else:
            assert to in TRANSITIONS[before]

    @rule()
    def plan_generate(self):
        """The real command path: require, then store_plan (which transitions to PLANNING)."""
        try:
            lifecycle.require(self.store, "plan.generate")
        except StateError:
            return
        draft = PlanDraft(summary="s", tasks=[PlannedTask(
            id="T1", type="implement", title="t", description="d", dependencies=[], priority=0,
            estimated_complexity="low", target_files=[], verification=None)])
        store_plan(self.store, draft, prd_text="prd", prd_path=None)
        assert self.store.lifecycle_state() == "PLANNING"

    @rule()
    def plan_approve(self):
        try:
            lifecycle.require(self.store, "plan.approve")
            approve_plan(self.store)
        except StateError:
            return
        assert self.store.lifecycle_state() == "SCAFFOLDING"

    @rule()
    def reset(self):
        try:
            lifecycle.require(self.store, "reset")
        except StateError:
            assert self.store.lifecycle_state() != "FAILED"
            return
        lifecycle.transition(self.store, "IDLE", reason="reset")

    @rule()
    def approve_directly(self):
        plan = self.store.plan()
        if plan:
            self.store.set_plan_status(plan.version, "approved")

    @rule(status=st.sampled_from(["succeeded", "failed"]))
    def verify_run(self, status):
        run = self.store.start_run(Run(kind="verify", pid=1))
        self.store.finish_run(run.id, event="run.x", status=status, commit="c" * 40)

    @rule(action=st.sampled_from(ACTIONS))
    def command(self, action):
        before = self.store.lifecycle_state()
        try:
            mode = lifecycle.require(self.store, action)
        except StateError:
            assert self.store.lifecycle_state() == before
            return
        assert mode in ("readonly", "adhoc", "lifecycle")
        if mode == "adhoc":
            assert not self.store.has_plan() and before != "FAILED"
        if mode == "lifecycle":
            assert before in lifecycle.ACTIONS.get(action, lifecycle.ACTIONS.get(action.split(".")[0]))[0]

    @invariant()
    def only_legal_edges(self):
        for cp in self.store.checkpoints():
            assert cp.to_state in TRANSITIONS[cp.from_state]
        edges = [(e.details["from"], e.details["to"]) for e in self.store.audit_events("lifecycle")]
        assert all(b in TRANSITIONS[a] for a, b in edges)
        assert self.store.lifecycle_state() in STATES


TestLifecycleMachine = pytest.mark.slow(LifecycleMachine.TestCase)
TestLifecycleMachine.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
