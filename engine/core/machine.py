"""What a trigger does in a state: one shared ``transitions.Machine`` per definition version.

The machine is built once and never holds models: a case is passed to ``Event.trigger`` for the
length of one call (no ``add_model``/``remove_model``, which cost as much as a database commit),
so one machine serves every case of its version. It knows nothing of who is calling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from transitions import EventData, Machine, MachineError

from engine.core.records import CaseRecord
from engine.definition.model import TransitionSpec, WorkflowDefinition
from engine.errors import NotAllowed

GuardFn = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The transition that fired and the states it joined."""

    transition: TransitionSpec
    from_state: str
    to_state: str


class WorkflowMachine:
    """Fires triggers of one definition version on any case, checking state and guard."""

    def __init__(self, definition: WorkflowDefinition, guards: Mapping[str, GuardFn]) -> None:
        self.definition = definition
        self._machine = Machine(
            model=None,
            states=list(definition.states),
            initial=definition.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        for spec in definition.transitions:
            conditions: list[str | Callable[..., bool | None]] = (
                [self._condition(guards[spec.guard])] if spec.guard else [])
            self._machine.add_transition(
                spec.trigger, list(spec.sources), spec.dest, conditions=conditions, before=[self._marker(spec)]
            )

    @staticmethod
    def _condition(guard: GuardFn) -> Callable[[EventData], bool]:
        def condition(event: EventData) -> bool:
            return guard(event.kwargs["data"])

        return condition

    @staticmethod
    def _marker(spec: TransitionSpec) -> Callable[[EventData], None]:
        def mark(event: EventData) -> None:
            event.kwargs["fired"].append(spec)

        return mark

    def fire(self, case: CaseRecord, trigger: str, data: Mapping[str, Any]) -> Outcome:
        """Move ``case`` by ``trigger`` given the data it would have; raises NotAllowed."""
        event = self._machine.events.get(trigger)
        if event is None:
            known = ", ".join(sorted(self._machine.events))
            raise NotAllowed(f"unknown trigger {trigger!r} in workflow {self.definition.name!r}; "
                             f"known triggers are {known}")
        before = case.state
        fired: list[TransitionSpec] = []
        try:
            moved = event.trigger(case, data=data, fired=fired)
        except MachineError:
            raise NotAllowed(self._refusal(trigger, before)) from None
        if not moved or not fired:
            guards = " / ".join(t.guard or "" for t in self.definition.transitions_from(before)
                                if t.trigger == trigger)
            raise NotAllowed(f"trigger {trigger!r} cannot fire on case {case.number} now: its condition "
                             f"({guards}) is not met")
        return Outcome(fired[0], before, case.state)

    def _refusal(self, trigger: str, state: str) -> str:
        possible = sorted({t.trigger for t in self.definition.transitions_from(state)})
        state_spec = self.definition.states[state]
        if state_spec.final:
            return f"trigger {trigger!r} is not allowed: the case is in final state {state!r}"
        return (f"trigger {trigger!r} is not allowed in state {state!r}; from {state!r} the allowed triggers "
                f"are {', '.join(possible)}")
