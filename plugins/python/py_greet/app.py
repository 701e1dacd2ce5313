"""Job type `py_greet`: a handler written in Python, built into a component by
componentize-py (see ../README.md).

The payload is checked against the JSON Schema declared in `describe` when the job is
enqueued, so `run` only sees payloads of the right shape. `{"name": "later"}` stands for
a transient failure (retried with backoff), `{"name": "mallory"}` for a permanent one (the
job goes to the dead-letter queue at once), and `{"name": "crash"}` for a bug: an uncaught
exception ends the attempt as a crash, its traceback in the job's error.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host
from wit_world.imports.types import (
    Job,
    JobError_Fail,
    JobError_Retry,
    JobTypeInfo,
    Level,
    Limits,
    PluginInfo,
)

SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "shout": {"type": "boolean"},
    },
    "additionalProperties": False,
}


class Handler(exports.Handler):
    def describe(self) -> PluginInfo:
        # Every limit left out (None) takes the host's default.
        limits = Limits(
            fuel=None,
            timeout_ms=None,
            memory_mib=None,
            max_attempts=3,
            rate_per_minute=None,
            concurrency=None,
        )
        return PluginInfo(
            name="py_greet",
            version="1.0.0",
            job_types=[
                JobTypeInfo(
                    name="py_greet",
                    payload_schema=json.dumps(SCHEMA),
                    batch_size=None,  # one job per run
                    limits=limits,
                    unique_key_fields=[],  # no payload fields make a default unique key
                )
            ],
            schedules=[],
        )

    def run(self, job: Job) -> str:
        greeting = json.loads(job.payload)
        name = greeting["name"]
        if name == "later":
            # A transient failure: the host retries while attempts remain.
            raise Err(JobError_Retry(f"not yet (attempt {job.attempt} of {job.max_attempts})"))
        if name == "mallory":
            # A permanent failure: no retry, the job is dead-lettered now.
            raise Err(JobError_Fail("mallory is never greeted"))
        if name == "crash":
            # Not a JobError: componentize-py aborts, and the host records a crash.
            raise RuntimeError("py_greet crashed on purpose")
        text = f"hello, {name}"
        if greeting.get("shout"):
            text = text.upper() + "!"
        host.log(Level.INFO, f"greeting {name} from Python")
        return json.dumps({"greeting": text, "language": "python"})
