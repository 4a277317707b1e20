"""The task DAG: validation (cycles, unknown dependencies, duplicates, unreachable tasks), the ready
set, topological order and execution levels. Works on anything with id, dependencies, status, priority."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from runner.errors import InvalidInput


class Node(Protocol):
    id: str
    dependencies: list[str]
    priority: int


N = TypeVar("N", bound=Node)


class DagError(InvalidInput):
    """The DAG breaks a rule; `problems` lists every one found."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid task DAG: " + "; ".join(problems))


def find_cycle(nodes: Sequence[Node]) -> list[str] | None:
    """One dependency cycle as [a, b, ..., a] (a depends on b ...), or None."""
    deps = {n.id: [d for d in n.dependencies] for n in nodes}
    colour: dict[str, int] = {}  # 1 on the stack, 2 done
    for start in sorted(deps):
        if colour.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            node, index = stack.pop()
            if index == 0:
                colour[node] = 1
                path.append(node)
            children = [d for d in deps.get(node, []) if d in deps]
            if index < len(children):
                stack.append((node, index + 1))
                child = children[index]
                if colour.get(child) == 1:
                    return path[path.index(child):] + [child]
                if not colour.get(child):
                    stack.append((child, 0))
            else:
                colour[node] = 2
                path.pop()
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
    """Ids in dependency order (lowest priority number, then id, first among the available)."""
    by_id = {n.id: n for n in nodes}
    known = set(known)
    waiting = {n.id: {d for d in n.dependencies if d not in known} for n in nodes}
    dependents: dict[str, list[str]] = {}
    for node in nodes:
        for dep in waiting[node.id]:
            dependents.setdefault(dep, []).append(node.id)
    heap = [(by_id[i].priority, i) for i, w in waiting.items() if not w]
    heapq.heapify(heap)
    order: list[str] = []
    done: set[str] = set()
    while heap:
        _, node_id = heapq.heappop(heap)
        if node_id in done:
            continue
        done.add(node_id)
        order.append(node_id)
        for child in dependents.get(node_id, []):
            waiting[child].discard(node_id)
            if not waiting[child] and child not in done:
                heapq.heappush(heap, (by_id[child].priority, child))
    return order


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


def ready(nodes: Sequence[N]) -> list[N]:
    """Pending tasks whose dependencies are all completed, lowest priority number first, then id."""
    status = {n.id: getattr(n, "status", "pending") for n in nodes}
    out = [
        n for n in nodes
        if getattr(n, "status", "pending") == "pending"
        and all(status.get(d) == "completed" for d in n.dependencies)
    ]
    return sorted(out, key=lambda n: (n.priority, n.id))


def next_ready(nodes: Sequence[N]) -> N | None:
    """The task `build next` picks, or None."""
    candidates = ready(nodes)
    return candidates[0] if candidates else None


def blocked_by(nodes: Sequence[N]) -> dict[str, list[str]]:
    """Pending tasks that can never run because a dependency failed, was blocked or skipped."""
    by_id = {n.id: n for n in nodes}
    dead = {n.id for n in nodes if getattr(n, "status", "") in ("failed", "blocked", "skipped")}
    out: dict[str, list[str]] = {}
    changed = True
    while changed:
        changed = False
        for node in nodes:
            if node.id in out or getattr(node, "status", "") != "pending":
                continue
            bad = [d for d in node.dependencies if d in dead or d not in by_id]
            if bad:
                out[node.id] = bad
                dead.add(node.id)
                changed = True
    return out
