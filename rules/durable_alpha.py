"""A model of durable-rules' alpha network, to keep every ruleset inside the C engine's limits.

Pure (no durable import). What the C code does (durable_rules 2.0.28, ``rete.c``/``events.c``),
and what we measured on this machine:

- Each pattern is a path of alpha nodes from one root; an identical test under the same parent
  is shared. ``$and`` chains its items; ``$or`` links every branch's end to a fresh
  "forward" node, kept in the branch end's list of always-matching successors.
- A fact walks the network depth first with a fixed stack of 64 nodes: every matching child of
  a node is pushed at once. More than 64 pending nodes fails the assert with error 303 (and the
  session is then corrupt: the next call segfaults). That is the "error 303 above 220-680 rules,
  depending on shape" of the field notes: it is the shape (fan-out), not the rule count.
- A node holds at most 512 hashed children (registration never returns past that: the freeze
  at ~1140 rules), 128 listed successors (error 107) and 256 beta links (error 108, the
  "256 identical conditions").

:meth:`AlphaTree.peak` is an upper bound of the stack height for any fact: among children
testing the same field for equality at most one matches (each field has one value), tests that
need a question answered never match together with ``h_q == false``; every other child may match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .durable_expr import And, Const, Expr, Leaf, Or

DURABLE_STACK = 64
MAX_HASHED = 400  # of 512: registration loops forever when a node's hash set is full
MAX_LISTED = 120  # of 128
MAX_BETAS = 250  # of 256


@dataclass(eq=False, slots=True)
class _Node:
    hashed: dict[tuple[str, str, str], _Node] = field(default_factory=dict)
    forwards: list[_Node] = field(default_factory=list)
    betas: int = 0


class AlphaTree:
    """The alpha network of one ruleset, built the way durable builds it."""

    def __init__(self) -> None:
        self.root = _Node()
        self.nodes = 1
        self.worst = ""  # the first limit a node broke, if any

    def add_pattern(self, pattern: Expr) -> int:
        """Insert one pattern; return how many nodes it created."""
        before = self.nodes
        end = self._insert(self.root, pattern)
        end.betas += 1
        if end.betas > MAX_BETAS and not self.worst:
            self.worst = f"more than {MAX_BETAS} rules share one identical condition"
        return self.nodes - before

    def _insert(self, node: _Node, e: Expr) -> _Node:
        if isinstance(e, Leaf):
            key = (e.field, e.op, json.dumps(e.value))
            child = node.hashed.get(key)
            if child is None:
                child = node.hashed[key] = _Node()
                self.nodes += 1
                if len(node.hashed) > MAX_HASHED and not self.worst:
                    self.worst = f"more than {MAX_HASHED} different tests follow one identical condition"
            return child
        if isinstance(e, And):
            for item in e.items:
                node = self._insert(node, item)
            return node
        if isinstance(e, Or):
            forward = _Node()
            self.nodes += 1
            for item in e.items:
                end = self._insert(node, item)
                end.forwards.append(forward)
                if len(end.forwards) > MAX_LISTED and not self.worst:
                    self.worst = f"more than {MAX_LISTED} 'any' conditions follow one condition"
            return forward
        if isinstance(e, Const):
            raise ValueError("constants are folded before reaching durable")
        raise TypeError(e)

    def peak(self) -> int:
        """Upper bound of durable's evaluation stack height for any fact."""
        memo: dict[int, int] = {}

        def visit(node: _Node) -> int:
            known = memo.get(id(node))
            if known is not None:
                return known
            if not node.hashed and not node.forwards:
                memo[id(node)] = 0
                return 0
            absent: dict[str, int] = {}  # question -> children matching only when unanswered
            present: dict[str, int] = {}  # question -> children matching only when answered
            other = len(node.forwards)  # forward nodes always match
            eq_seen: set[tuple[str, str]] = set()
            for field_name, op, value in node.hashed:
                world = _world(field_name, op, value)
                if op == "$eq":
                    # Equality children on one field exclude each other: count the field once.
                    if (field_name, world[1] if world else "") in eq_seen:
                        continue
                    eq_seen.add((field_name, world[1] if world else ""))
                if world is None:
                    other += 1
                elif world[1] == "absent":
                    absent[world[0]] = absent.get(world[0], 0) + 1
                else:
                    present[world[0]] = present.get(world[0], 0) + 1
            questions = set(absent) | set(present)
            widest = {q: max(absent.get(q, 0), present.get(q, 0)) for q in questions}
            pushed = other + sum(widest.values())
            result = pushed
            # All matching children are pushed at once; the last one popped then runs its own
            # subtree on top of the siblings still waiting (only those that can match with it).
            for key, child in node.hashed.items():
                world = _world(*key)
                alongside = pushed
                if world is not None:
                    same = absent if world[1] == "absent" else present
                    alongside = pushed - widest[world[0]] + same[world[0]]
                result = max(result, alongside - 1 + visit(child))
            for child in node.forwards:
                result = max(result, pushed - 1 + visit(child))
            memo[id(node)] = result
            return result

        # The root itself occupies the stack before it is popped.
        return max(1, visit(self.root))


def _world(field_name: str, op: str, value: str) -> tuple[str, str] | None:
    """For a test on a question's fields: (question, "absent" | "present"); else None.

    ``h_q == false`` matches only when q is unanswered; ``h_q == true`` and any test on ``a_q``
    only when it is answered, so the two groups never match together.
    """
    if field_name.startswith("h_") and op == "$eq":
        return field_name[2:], "absent" if value == "false" else "present"
    if field_name.startswith("a_"):
        return field_name[2:], "present"
    return None


def property_hash(name: str) -> int:
    """Durable's hash of a property name (32-bit FNV-1a); durable tells properties apart by it."""
    value = 2166136261
    for byte in name.encode():
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value
