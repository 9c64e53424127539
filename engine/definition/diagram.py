"""State diagrams of a definition as Mermaid or Graphviz DOT text (pure)."""

from __future__ import annotations

from engine.definition.model import WorkflowDefinition


def _dot_quote(*lines: str) -> str:
    """A DOT string literal; each argument is one line of the label (joined with DOT's ``\\n``)."""
    escaped = (line.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
               for line in lines)
    return '"' + "\\n".join(escaped) + '"'


def _one_line(text: str) -> str:
    # A Mermaid statement ends at the line break; a folded YAML label must not split it.
    return " ".join(text.split())


def mermaid(definition: WorkflowDefinition) -> str:
    """``stateDiagram-v2`` with state labels, triggers and roles on the arrows, final states marked."""
    lines = ["stateDiagram-v2", f"    %% {_one_line(definition.title)} (versi {definition.version})"]
    for name, state in definition.states.items():
        label = _one_line(state.label).replace('"', "'")
        suffix = f" — batas {state.deadline.within}" if state.deadline else ""
        lines.append(f'    state "{label}{suffix}" as {name}')
    lines.append(f"    [*] --> {definition.initial}: {definition.intake.trigger} ({', '.join(definition.intake.roles)})")
    for transition in definition.transitions:
        for source in transition.sources:
            lines.append(f"    {source} --> {transition.dest}: {transition.trigger} ({', '.join(transition.roles)})")
    for name, state in definition.states.items():
        if state.final:
            lines.append(f"    {name} --> [*]")
    return "\n".join(lines) + "\n"


def dot(definition: WorkflowDefinition, *, direction: str = "LR") -> str:
    """A Graphviz digraph; final states are drawn with a double border. ``direction`` is the rank direction
    (``LR`` left to right, for a wide screen; ``TB`` top to bottom, for a phone)."""
    if direction not in ("LR", "TB"):
        raise ValueError(f"direction must be LR or TB, not {direction!r}")
    lines = [
        f"digraph {_dot_quote(definition.name)} {{",
        f"  rankdir={direction};",
        f"  label={_dot_quote(f'{definition.title} (versi {definition.version})')};",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  "__start__" [shape=point, label=""];',
    ]
    for name, state in definition.states.items():
        label = (state.label, f"batas {state.deadline.within}") if state.deadline else (state.label,)
        shape = ", peripheries=2" if state.final else ""
        lines.append(f"  {_dot_quote(name)} [label={_dot_quote(*label)}{shape}];")
    lines.append(f'  "__start__" -> {_dot_quote(definition.initial)} '
                 f"[label={_dot_quote(definition.intake.trigger + ' (' + ', '.join(definition.intake.roles) + ')')}];")
    for transition in definition.transitions:
        for source in transition.sources:
            text = (transition.trigger, f"({', '.join(transition.roles)})")
            lines.append(f"  {_dot_quote(source)} -> {_dot_quote(transition.dest)} [label={_dot_quote(*text)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
