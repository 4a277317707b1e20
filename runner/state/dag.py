"""The task DAG: validation (cycles, unknown dependencies, duplicates, unreachable tasks), the ready
set, topological order and execution levels. Works on anything with id, dependencies, status, priority."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from graphlib import CycleError, TopologicalSorter
from typing import Protocol, TypeVar

from runner.errors import InvalidInput


class Node(Protocol):
    id: str
    dependencies: list[str]
    priority: int


class TrackedNode(Node, Protocol):
    status: str


N = TypeVar("N", bound=Node)
T = TypeVar("T", bound=TrackedNode)


class DagError(InvalidInput):
    """The DAG breaks a rule; `problems` lists every one found."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid task DAG: " + "; ".join(problems))


def find_cycle(nodes: Sequence[Node]) -> list[str] | None:
    """One dependency cycle as [a, b, ..., a] (a depends on b ...), or None.

    Self-dependencies are left out (they are reported on their own), so a longer cycle is still found.
    """
    ids = {n.id for n in nodes}
    graph: TopologicalSorter[str] = TopologicalSorter()
    for node in sorted(nodes, key=lambda n: n.id):
        graph.add(node.id, *(d for d in node.dependencies if d in ids and d != node.id))
    try:
        graph.prepare()
    except CycleError as exc:
        # graphlib lists each node before the ones that depend on it; we name dependents first.
        return list(reversed(exc.args[1]))
    return None


def problems(nodes: Sequence[Node], *, known: Iterable[str] = ()) -> list[str]:
    """Every rule the DAG breaks, as readable lines (empty when valid).

    `known` are ids outside `nodes` that dependencies may name (e.g. completed tasks kept on re-plan).
    """
    found: list[str] = []
    seen: set[str] = set()
    for node in nodes:
        if node.id in seen:
            found.append(f"duplicate task id {node.id!r}")
        seen.add(node.id)
    known = set(known)
    ids = seen | known
    bad_roots: set[str] = set()
    for node in nodes:
        if node.id in node.dependencies:
            found.append(f"task {node.id!r} depends on itself")
        for dep in node.dependencies:
            if dep not in ids:
                found.append(f"task {node.id!r} depends on unknown task {dep!r}")
                bad_roots.add(node.id)
    cycle = find_cycle(nodes)
    if cycle and len(cycle) > 2:
        found.append("dependency cycle: " + " -> ".join(cycle))
    # Unreachable: tasks that can never become ready (they wait on a cycle or an unknown task).
    ordered = _kahn(nodes, known)
    stuck = [n.id for n in nodes if n.id not in ordered]
    in_cycle = set(cycle or [])
    unreachable = [i for i in stuck if i not in in_cycle and i not in bad_roots]
    if unreachable:
        found.append("unreachable tasks (they wait on a cycle or an unknown task): " + ", ".join(unreachable))
    return found


def validate(nodes: Sequence[Node], *, known: Iterable[str] = ()) -> None:
    """Raise DagError (exit 2) listing every problem, or return quietly."""
    found = problems(nodes, known=known)
    if found:
        raise DagError(found)


def _kahn(nodes: Sequence[Node], known: Iterable[str] = ()) -> list[str]:
    """Ids in dependency order (lowest priority number, then id, first among the available).

    Tasks waiting on a cycle or on an unknown task are left out.
    """
    by_id = {n.id: n for n in nodes}
    known = set(known)
    graph: TopologicalSorter[str] = TopologicalSorter()
    for node in nodes:
        graph.add(node.id, *(d for d in node.dependencies if d not in known))
    try:
        graph.prepare()
    except CycleError:
        pass  # graphlib still hands out every node that does not wait on the cycle
    heap: list[tuple[int, str]] = []
    order: list[str] = []
    while True:
        # An unknown dependency is a node graphlib made up: never done, so its dependents stay stuck.
        for ready_id in graph.get_ready():
            if ready_id in by_id:
                heapq.heappush(heap, (by_id[ready_id].priority, ready_id))
        if not heap:
            return order
        _, node_id = heapq.heappop(heap)
        order.append(node_id)
        graph.done(node_id)


def topo_order(nodes: Sequence[N]) -> list[N]:
    """Nodes in a dependency-respecting order; DagError if there is a cycle or an unknown dependency."""
    validate(nodes)
    by_id = {n.id: n for n in nodes}
    return [by_id[i] for i in _kahn(nodes)]


def levels(nodes: Sequence[N]) -> list[list[N]]:
    """Execution levels: each level's tasks depend only on earlier levels, so they could run in parallel."""
    validate(nodes)
    by_id = {n.id: n for n in nodes}
    depth: dict[str, int] = {}
    for node_id in _kahn(nodes):
        deps = by_id[node_id].dependencies
        depth[node_id] = 1 + max((depth[d] for d in deps), default=-1)
    grouped: list[list[N]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node_id, level in depth.items():
        grouped[level].append(by_id[node_id])
    return [sorted(g, key=lambda n: (n.priority, n.id)) for g in grouped]


def ready(nodes: Sequence[T]) -> list[T]:
    """Pending tasks whose dependencies are all completed, lowest priority number first, then id."""
    status = {n.id: n.status for n in nodes}
    out = [
        n for n in nodes
        if n.status == "pending"
        and all(status.get(d) == "completed" for d in n.dependencies)
    ]
    return sorted(out, key=lambda n: (n.priority, n.id))


def next_ready(nodes: Sequence[T]) -> T | None:
    """The task `build next` picks, or None."""
    candidates = ready(nodes)
    return candidates[0] if candidates else None


def blocked_by(nodes: Sequence[T]) -> dict[str, list[str]]:
    """Pending tasks that can never run because a dependency failed, was blocked or skipped."""
    by_id = {n.id: n for n in nodes}
    dead = {n.id for n in nodes if n.status in ("failed", "blocked", "skipped")}
    out: dict[str, list[str]] = {}
    changed = True
    while changed:
        changed = False
        for node in nodes:
            if node.id in out or node.status != "pending":
                continue
            bad = [d for d in node.dependencies if d in dead or d not in by_id]
            if bad:
                out[node.id] = bad
                dead.add(node.id)
                changed = True
    return out
