"""The nearest Python peer, measured in the same run: SpiffWorkflow completing user tasks.

A BPMN process of three user tasks; each instance is started, each task completed, and the
workflow serialised to JSON after every step (as an engine that saves state would) — all in
memory, before any database write. Needs the optional ``SpiffWorkflow`` package
(``pip install -e '.[bench]'``); reported as skipped when it is absent.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

BPMN = Path(__file__).resolve().parent / "three_tasks.bpmn"


def spiff(instances: int) -> dict[str, Any]:
    try:
        from SpiffWorkflow.bpmn import BpmnWorkflow
        from SpiffWorkflow.bpmn.parser import BpmnParser
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
        from SpiffWorkflow.util.task import TaskState
        import SpiffWorkflow
    except ImportError as exc:
        return {"skipped": f"SpiffWorkflow is not installed ({exc}); pip install -e '.[bench]'"}
    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec("tiga_tugas")
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure())
    task_seconds = serialise_seconds = 0.0
    tasks = 0
    started = time.perf_counter()
    for _ in range(instances):
        workflow = BpmnWorkflow(spec)
        workflow.do_engine_steps()
        while True:
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                break
            t0 = time.perf_counter()
            ready[0].data["catatan"] = "selesai"
            ready[0].run()
            workflow.do_engine_steps()
            t1 = time.perf_counter()
            serializer.serialize_json(workflow)
            t2 = time.perf_counter()
            task_seconds += t1 - t0
            serialise_seconds += t2 - t1
            tasks += 1
        assert workflow.is_completed()
    elapsed = time.perf_counter() - started
    return {
        "version": getattr(SpiffWorkflow, "__version__", "3.x"),
        "instances": instances,
        "tasks": tasks,
        "us_per_task": task_seconds / tasks * 1e6,
        "us_per_serialisation": serialise_seconds / tasks * 1e6,
        "us_per_saved_task": (task_seconds + serialise_seconds) / tasks * 1e6,
        "instances_per_s": instances / elapsed,
    }
