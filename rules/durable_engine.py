"""The durable-rules engine, in-process: compiled rulesets, throw-away sessions, chaining.

Not thread-safe by design: the C engine never releases the GIL and has no locks, so one thread
owns an instance (the worker's main loop, see :mod:`rules.durable_worker`).
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import durable_rules_engine
from durable import engine as durable

from .conditions import Check, compile_condition
from .durable_compiler import DEFAULT_CHUNK_RULES, DEFAULT_MAX_STACK, CompiledCatalogue, compile_catalogue
from .durable_expr import answers_fact
from .errors import EngineError, UnknownVersion
from .evaluation import Evaluation
from .model import Catalogue, Condition
from .visibility import referenced, visibility_levels

MAX_LIVE_SESSIONS = 1000  # durable: the 1025th live session of a ruleset raises MemoryError
# Ruleset names can never be registered twice in a process, even after deletion: number them.
_ruleset_seq = itertools.count(1)


class EngineCorrupted(EngineError):
    """The C engine failed mid-assert; its state may be corrupt, so its process must be replaced."""


class _QuietHost(durable.Host):
    """A Host that starts no timer threads.

    ``Host.__init__`` calls ``_run``, which starts two self-rescheduling ``threading.Timer`` loops
    that keep every Host alive forever and burn CPU per ruleset; we never use timers or
    background dispatch (every assert runs its actions synchronously, see ``_assert``).
    """

    def _run(self) -> None:
        return None


@dataclass
class _Run:
    """One chaining run: one fresh session id in every chunk of a version."""

    sid: str
    chunks: int
    fired: list[str] = field(default_factory=list)
    fired_set: set[str] = field(default_factory=set)
    facts: dict[str, set[str]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)  # derived facts, in order
    present: list[set[int]] = field(default_factory=list)  # per chunk: indices of messages it has

    def __post_init__(self) -> None:
        self.present = [set() for _ in range(self.chunks)]


@dataclass
class _Loaded:
    version: int
    catalogue: Catalogue
    compiled: CompiledCatalogue
    names: list[str]
    rulesets: list[Any]
    level0: list[str]
    levels: list[list[tuple[str, Check, bool]]]  # levels >= 1: (qid, askWhen check, tests facts)
    actions: list[dict[str, Callable[[int], None]]] = field(default_factory=list)  # per chunk


class DurableRulesEngine:
    """Loads catalogue versions as durable rulesets and evaluates answer sets from scratch."""

    def __init__(self, *, max_rules: int = DEFAULT_CHUNK_RULES, max_stack: int = DEFAULT_MAX_STACK) -> None:
        self._host = _QuietHost()
        self._max_rules = max_rules
        self._max_stack = max_stack
        self._versions: dict[int, _Loaded] = {}
        self._sids = itertools.count(1)
        self._run: _Run | None = None
        self._live: dict[str, int] = {}  # ruleset name -> live sessions (0 between evaluations)
        self.corrupted = False

    # -- loading ---------------------------------------------------------------------------

    def load(self, version: int, catalogue: Catalogue) -> CompiledCatalogue:
        """Compile and register ``catalogue`` as ``version`` (replacing a loaded one)."""
        compiled = compile_catalogue(catalogue, max_rules=self._max_rules, max_stack=self._max_stack)
        levels = visibility_levels(catalogue)
        seq = next(_ruleset_seq)
        loaded = _Loaded(
            version,
            catalogue,
            compiled,
            [],
            [],
            [q.id for q in levels[0]] if levels else [],
            [[_ask(q.id, q.ask_when) for q in level if q.ask_when] for level in levels[1:]],
        )
        try:
            for chunk in compiled.chunks:
                name = f"v{version}_{seq}_{chunk.index}"
                # Registration deletes "run" from the dict it gets: hand it a private copy.
                definition = copy.deepcopy(chunk.definition())
                actions: dict[str, Callable[[int], None]] = {"begin": _noop, "sink": _noop}
                for rule in chunk.rules:
                    actions[rule.name] = self._action(chunk.index, rule.rule_ids, compiled.derives)
                for rule_name in definition:
                    definition[rule_name]["run"] = _durable_run
                self._host.register_rulesets({name: definition})
                loaded.actions.append(actions)
                loaded.names.append(name)
                loaded.rulesets.append(self._host.get_ruleset(name))
                self._live[name] = 0
        except Exception as exc:
            self._drop(loaded)
            raise EngineError(f"durable-rules rejected version {version}: {exc}") from exc
        old = self._versions.get(version)
        self._versions[version] = loaded
        if old is not None:
            self._drop(old)
        return compiled

    def unload(self, version: int) -> None:
        """Delete every ruleset of ``version`` (its sessions are already gone)."""
        loaded = self._versions.pop(version, None)
        if loaded is not None:
            self._drop(loaded)

    def _drop(self, loaded: _Loaded) -> None:
        for name, ruleset in zip(loaded.names, loaded.rulesets, strict=True):
            # Sessions are deleted after every evaluation; a ruleset with a live session would
            # keep its memory, so this is checked rather than assumed.
            if self._live.pop(name, 0):
                raise EngineCorrupted(f"ruleset {name} still has live sessions")
            durable_rules_engine.delete_ruleset(ruleset._handle)
            self._host._ruleset_directory.pop(name, None)
            self._host._ruleset_list.remove(ruleset)
        loaded.names.clear()
        loaded.rulesets.clear()
        loaded.actions.clear()

    def versions(self) -> list[int]:
        return sorted(self._versions)

    def live_sessions(self) -> int:
        return sum(self._live.values())

    def compiled(self, version: int) -> CompiledCatalogue:
        return self._loaded(version).compiled

    def close(self) -> None:
        """Unload every version."""
        for version in list(self._versions):
            self.unload(version)

    def _loaded(self, version: int) -> _Loaded:
        loaded = self._versions.get(version)
        if loaded is None:
            raise UnknownVersion(version)
        return loaded

    # -- evaluation ------------------------------------------------------------------------

    def evaluate(self, version: int, answers: dict[str, Any]) -> Evaluation:
        """Settle visibility level by level, then chain on every visible answer."""
        if self.corrupted:
            raise EngineCorrupted("the engine failed earlier; its process must be replaced")
        loaded = self._loaded(version)
        visible = set(loaded.level0)
        shown = {qid: answers[qid] for qid in loaded.level0 if qid in answers}
        last: _Run | None = None
        last_size = -1  # shown only grows: its size tells whether the last run is still valid
        for level in loaded.levels:
            facts: dict[str, set[str]] = {}
            if any(needs_facts for _, _, needs_facts in level):
                if last is None or last_size != len(shown):
                    last, last_size = self._chain(loaded, shown), len(shown)
                facts = last.facts
            for qid, check, _ in level:
                if check(shown, facts):
                    visible.add(qid)
                    if qid in answers:
                        shown[qid] = answers[qid]
        if last is None or last_size != len(shown):
            last = self._chain(loaded, shown)
        return Evaluation(
            version,
            tuple(q.id for q in loaded.catalogue.questions if q.id in visible),
            tuple(last.fired),
            {k: tuple(sorted(v)) for k, v in sorted(last.facts.items())},
        )

    def _chain(self, loaded: _Loaded, shown: dict[str, Any]) -> _Run:
        """Fire rules on ``shown`` in fresh sessions of every chunk until nothing new is derived."""
        run = _Run(str(next(self._sids)), len(loaded.rulesets))
        answers = answers_fact(loaded.compiled.fact_plan, shown)
        answers["sid"] = run.sid
        started: list[int] = []
        self._run = run
        try:
            progress = True
            while progress:
                progress = False
                for index in range(len(loaded.rulesets)):
                    batch: list[dict[str, Any]] = []
                    if index not in started:
                        batch.append(answers)
                    missing = [i for i in range(len(run.messages)) if i not in run.present[index]]
                    # Facts derived in other chunks are forwarded here (chaining across chunks).
                    batch.extend(run.messages[i] for i in missing)
                    if not batch:
                        continue
                    run.present[index].update(missing)
                    progress = True
                    if index not in started:
                        name = loaded.names[index]
                        # The 1025th live session of a ruleset breaks it for good; we keep one.
                        if self._live[name] >= MAX_LIVE_SESSIONS:
                            raise EngineError(f"ruleset {name} has {self._live[name]} live sessions")
                        started.append(index)
                        self._live[name] += 1
                    self._assert(loaded, index, batch)
        finally:
            self._run = None
            if not self.corrupted:
                for index in started:
                    # Every started session had "begin" fire, so delete_state cannot segfault.
                    durable_rules_engine.delete_state(loaded.rulesets[index]._handle, run.sid)
                    self._live[loaded.names[index]] -= 1
        return run

    def _assert(self, loaded: _Loaded, index: int, batch: list[dict[str, Any]]) -> None:
        """Assert ``batch`` into one chunk's session and run the actions it triggers, in order.

        Actions are driven here through the C API rather than by durable's Python dispatcher:
        we know which rule fired from the action's name, an action's exception is raised here
        (durable's dispatcher would only store it as a string in the session state), and the
        per-action JSON round trips of the state are skipped.
        """
        handle = loaded.rulesets[index]._handle
        actions = loaded.actions[index]
        try:
            code, state = durable_rules_engine.assert_facts(handle, _dumps(batch))
            if code in (1, 2):
                raise EngineError(f"durable-rules rejected a fact (code {code})")
            result = durable_rules_engine.start_action_for_state(handle, 0 if code == 3 else state)
            while result:
                messages: str = result[1]
                # The reply is {"<rule name>": {...}}; our rule names need no JSON escaping.
                actions[messages[2 : messages.index('"', 2)]](handle)
                following = durable_rules_engine.complete_and_start_action(handle, state)
                result = (None, following) if following else None
        except Exception as exc:
            # A failure mid-assert (a C error such as 303, or an action that raised) leaves the
            # session in an unknown state: the next call on it may segfault, so this process is
            # done; the client replaces it.
            self.corrupted = True
            raise EngineCorrupted(f"durable-rules failed: {type(exc).__name__}: {exc}") from exc

    def _action(
        self, chunk: int, rule_ids: tuple[str, ...], derives: dict[str, tuple[tuple[str, str], ...]]
    ) -> Callable[[int], None]:
        """The action of one compiled durable rule: durable does not say which rule fired."""

        def action(handle: int) -> None:
            run = self._run
            if run is None:
                return
            for rule_id in rule_ids:
                # A rule fires at most once per evaluation, however many facts match it.
                if rule_id in run.fired_set:
                    continue
                run.fired_set.add(rule_id)
                run.fired.append(rule_id)
                for key, value in derives[rule_id]:
                    values = run.facts.setdefault(key, set())
                    if value in values:
                        continue  # facts are sets: the same key/value is asserted once
                    values.add(value)
                    message = {"t": "fact", "k": key, "v": value, "src": rule_id, "sid": run.sid}
                    run.present[chunk].add(len(run.messages))
                    run.messages.append(message)
                    # Chaining inside this chunk's session: the facts' actions queue behind ours.
                    code, _ = durable_rules_engine.assert_fact(handle, _dumps(message))
                    if code in (1, 2):
                        raise EngineError(f"durable-rules rejected derived fact {key}={value} (code {code})")

        return action


def _ask(qid: str, cond: Condition) -> tuple[str, Check, bool]:
    """A question's compiled askWhen and whether it tests derived facts (then chaining runs)."""
    return qid, compile_condition(cond), bool(referenced(cond)[1])


def _noop(handle: int) -> None:
    """Action of ``begin`` and ``sink``."""
    return None


def _durable_run(c: Any) -> None:
    """The ``run`` durable registers for every rule; never called: we dispatch actions ourselves."""
    return None


def _dumps(value: Any) -> str:
    # Exactly as durable serialises rulesets, so strings compare byte for byte.
    return json.dumps(value, ensure_ascii=False)
