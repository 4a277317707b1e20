"""The task DAG: random graphs with and without cycles, the ready set, order and levels."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.state import dag
from runner.state.models import Task


def T(id, deps=(), status="pending", priority=5):
    return Task(id=id, title=id, dependencies=list(deps), status=status, priority=priority)


@st.composite
def acyclic(draw, max_size=12):
    """A random DAG: each task depends only on earlier ones, so there is no cycle."""
    n = draw(st.integers(1, max_size))
    ids = [f"T{i:02d}" for i in range(n)]
    order = draw(st.permutations(ids))  # ids do not follow the edges
    tasks = []
    for i, tid in enumerate(order):
        deps = draw(st.lists(st.sampled_from(order[:i]), unique=True, max_size=3)) if i else []
        tasks.append(T(tid, deps, status=draw(st.sampled_from(["pending", "completed", "failed", "running"])),
                       priority=draw(st.integers(0, 3))))
    return draw(st.permutations(tasks))


@st.composite
def cyclic(draw):
    """A random DAG plus one back edge that closes a cycle of length >= 2."""
    tasks = list(draw(acyclic()))
    tasks.sort(key=lambda t: t.id)
    extra = [T(f"C{i}") for i in range(draw(st.integers(2, 4)))]
    for i, t in enumerate(extra):
        t.dependencies = [extra[(i + 1) % len(extra)].id]
    if draw(st.booleans()):
        extra[0].dependencies.append(tasks[0].id)  # the cycle also hangs off the DAG
    return draw(st.permutations(tasks + extra))


@given(acyclic())
def test_acyclic_graphs_are_valid_and_ordered(tasks):
    assert dag.problems(tasks) == []
    order = [t.id for t in dag.topo_order(tasks)]
    assert sorted(order) == sorted(t.id for t in tasks)
    pos = {tid: i for i, tid in enumerate(order)}
    for t in tasks:
        assert all(pos[d] < pos[t.id] for d in t.dependencies)
    level_of = {t.id: n for n, level in enumerate(dag.levels(tasks)) for t in level}
    for t in tasks:
        assert all(level_of[d] < level_of[t.id] for d in t.dependencies)
        if t.dependencies:  # levels are as early as possible
            assert level_of[t.id] == 1 + max(level_of[d] for d in t.dependencies)


@given(cyclic())
def test_cyclic_graphs_are_rejected_naming_a_real_cycle(tasks):
    found = dag.problems(tasks)
    cycle_lines = [p for p in found if p.startswith("dependency cycle: ")]
    assert len(cycle_lines) == 1
    names = cycle_lines[0].removeprefix("dependency cycle: ").split(" -> ")
    assert names[0] == names[-1] and len(names) >= 3
    deps = {t.id: t.dependencies for t in tasks}
    for a, b in itertools.pairwise(names):
        assert b in deps[a]  # each step of the named cycle is a real edge
    with pytest.raises(dag.DagError):
        dag.topo_order(tasks)


@given(acyclic())
def test_ready_set_never_holds_unfinished_dependencies(tasks):
    status = {t.id: t.status for t in tasks}
    ready = dag.ready(tasks)
    for t in ready:
        assert t.status == "pending"
        assert all(status[d] == "completed" for d in t.dependencies)
    # and it is complete: every pending task with completed deps is in it
    expected = {t.id for t in tasks if t.status == "pending" and all(status[d] == "completed" for d in t.dependencies)}
    assert {t.id for t in ready} == expected
    assert [(t.priority, t.id) for t in ready] == sorted((t.priority, t.id) for t in ready)


@settings(max_examples=50)
@given(acyclic(), st.data())
def test_completing_ready_tasks_drains_the_dag(tasks, data):
    tasks = [t.model_copy(update={"status": "pending"}) for t in tasks]
    done = 0
    while (nxt := dag.next_ready(tasks)) is not None:
        nxt.status = "completed"
        done += 1
    assert done == len(tasks)


def test_problems_are_named():
    tasks = [T("A"), T("A"), T("B", ["Z"]), T("C", ["D"]), T("D", ["C"]), T("E", ["D"]), T("S", ["S"])]
    found = dag.problems(tasks)
    assert "duplicate task id 'A'" in found
    assert "task 'B' depends on unknown task 'Z'" in found
    assert any(p in found for p in ("dependency cycle: C -> D -> C", "dependency cycle: D -> C -> D"))
    assert "task 'S' depends on itself" in found
    assert any(p.startswith("unreachable tasks") and "E" in p for p in found)


def test_known_ids_allow_dependencies_outside_the_plan():
    assert dag.problems([T("new", ["kept"])], known={"kept"}) == []


def test_ready_prefers_priority_then_id():
    tasks = [T("b", priority=1), T("a", priority=1), T("c", priority=0), T("d", ["c"], priority=0)]
    assert [t.id for t in dag.ready(tasks)] == ["c", "a", "b"]


def test_blocked_by_failed_dependency():
    tasks = [T("a", status="failed"), T("b", ["a"]), T("c", ["b"]), T("d")]
    assert dag.blocked_by(tasks) == {"b": ["a"], "c": ["b"]}
