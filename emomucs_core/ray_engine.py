"""Corpus-scale prediction on Ray: Ray Data ``map_batches`` over a pool of predictor actors.

The driver lists the inputs, drops those that already have a record in the
output, and streams the rest in blocks of ``files_per_batch`` paths through a
pool of actors; each actor builds one :class:`~emomucs_core.predictor.Predictor`
(the model is loaded once per actor) and returns one JSON record per path. The
driver is the only writer: it appends each batch to the output as it arrives
(see :mod:`emomucs_core.results`), so a killed run loses at most the batches in
flight and a rerun resumes. A batch whose actor dies twice (a crash, an
out-of-memory kill, a lost node) becomes error records once the run is over.

Ray is optional (``pip install 'beets-emomucs[ray]'``); input paths and the
model must be on a filesystem that every Ray worker sees.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .results import ResultWriter, RunSummary, pending_paths

log = logging.getLogger(__name__)

INSTALL_HINT = "the Ray engine needs Ray: pip install 'beets-emomucs[ray]'"
#: Times a batch is retried on a new actor after its actor died.
TASK_RETRIES = 1
#: Error of the files of a batch whose actor died on every try.
ACTOR_DIED = f"analysis worker died on this file's batch ({TASK_RETRIES + 1} tries)"


class RayUnavailable(RuntimeError):
    """Ray is not installed; the message says how to install it."""


def import_ray():
    """The ``ray`` module with Ray Data, or :class:`RayUnavailable` with the install command."""
    try:
        import ray
        import ray.data  # noqa: F401  (the ``data`` extra)
    except ImportError:
        raise RayUnavailable(INSTALL_HINT) from None
    return ray


@dataclass(frozen=True)
class ActorPlan:
    """How many predictor actors, and what each one reserves: CPUs (= its torch threads) and GPUs."""

    actors: int
    cpus: int
    gpus: int
    device: str


class PredictorActor:
    """A Ray Data batch function holding one :class:`Predictor` for its lifetime.

    ``__call__`` takes ``{"path": (n,) str}`` and returns ``{"record": (n,) str}``,
    the JSON text of ``Prediction.to_dict()`` for each path.
    """

    def __init__(self, predictor_kwargs: dict, threads: int):
        import torch

        torch.set_num_threads(threads)
        from .predictor import Predictor

        self.predictor = Predictor(**predictor_kwargs)

    def __call__(self, batch: dict) -> dict:
        paths = [str(p) for p in batch["path"]]
        return {"record": [json.dumps(result.to_dict()) for result in self.predictor.predict(paths)]}


def start_ray(address: str | None = None, jobs: int | None = None):
    """Connect to the Ray cluster at ``address``, or start a local one with ``jobs`` CPUs (default: all).

    Does nothing when Ray is already initialised in this process. Returns the ``ray`` module.
    """
    ray = import_ray()
    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=jobs or os.cpu_count(), include_dashboard=False)
    return ray


def plan_actors(ray, *, actors: int | None = None, batches: int, device: str = "auto") -> ActorPlan:
    """One actor per GPU when the cluster has GPUs (and ``device`` allows), else CPU actors.

    CPU actors: ``actors`` of them (default: one per CPU), each reserving and using
    ``CPUs // actors`` threads (at most one node's CPUs), so actors never oversubscribe cores.
    Never more actors than ``batches``.
    """
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus and device in ("auto", "cuda"):
        return ActorPlan(actors=min(actors or gpus, batches), cpus=1, gpus=1, device="cuda")
    cpus = max(1, int(resources.get("CPU", 1)))
    largest_node = max((int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n["Alive"]), default=1)
    count = min(actors or cpus, batches)
    threads = max(1, min(cpus // count, largest_node))
    return ActorPlan(actors=count, cpus=threads, gpus=0, device="cpu" if device == "auto" else device)


def predict_on_ray(
    inputs: Sequence[Path],
    out: str | Path,
    *,
    address: str | None = None,
    jobs: int | None = None,
    actors: int | None = None,
    files_per_batch: int = 8,
    on_batch: Callable[[list[dict]], None] | None = None,
    **predictor_kwargs,
) -> RunSummary:
    """Analyse ``inputs`` on Ray and append one record per file (absolute ``path``) to ``out``.

    Parameters
    ----------
    out : result file, JSON lines or ``*.parquet`` (:mod:`emomucs_core.results`);
        inputs that already have a record there are skipped.
    address : Ray cluster address; None starts a local Ray with ``jobs`` CPUs.
    actors : predictor actors (default: one per GPU, or one per CPU).
    files_per_batch : files per Ray Data batch: the unit of work, of output flushes
        and of what a killed run loses.
    on_batch : called with each batch's records after they are written.
    predictor_kwargs : :class:`Predictor` arguments (``bundle``, ``separator``, ``device``,
        ``windows``, ``batch_size``, ``threads``, ``demucs_repo``).
    """
    inputs = [Path(os.path.abspath(p)) for p in inputs]  # records name absolute paths; so must the bookkeeping
    todo = pending_paths(inputs, out)
    summary = RunSummary(skipped=len(inputs) - len(todo))
    if not todo:
        return summary
    ray = import_ray()
    from .checkpoint import load_bundle

    model_id = load_bundle(predictor_kwargs.get("bundle")).id  # a bad --model fails here, not in every actor
    started_here = not ray.is_initialized()
    start_ray(address, jobs)
    try:
        batches = math.ceil(len(todo) / files_per_batch)
        plan = plan_actors(ray, actors=actors, batches=batches, device=predictor_kwargs.get("device", "auto"))
        predictor_kwargs = {**predictor_kwargs, "device": plan.device}
        log.info("Ray: %d files in batches of %d on %d actors (%d CPU, %d GPU each)",
                 len(todo), files_per_batch, plan.actors, plan.cpus, plan.gpus)
        written: set[str] = set()

        def write(writer: ResultWriter, records: list[dict]) -> None:
            writer.write(records)
            written.update(r["path"] for r in records)
            for r in records:
                summary.errors += r["error"] is not None
                summary.ok += r["error"] is None
            if on_batch:
                on_batch(records)

        with ResultWriter(out) as writer:
            for batch in _stream(ray, todo, plan, batches, predictor_kwargs):
                write(writer, [json.loads(r) for r in batch["record"]])
            lost = [p for p in todo if str(p) not in written]
            if lost:
                from .prediction import Prediction

                write(writer, [Prediction(p, model_id=model_id, error=ACTOR_DIED).to_dict() for p in lost])
    finally:
        if started_here:
            ray.shutdown()
    return summary


def _stream(ray, todo: list[Path], plan: ActorPlan, batches: int, predictor_kwargs: dict):
    """Output blocks ``{"record": (n,) str}`` of the actor pool over ``todo``, as they complete.

    A batch whose actor dies is retried once on a new actor, then skipped (its
    files have no record; the caller writes their error records).
    """
    from ray.data import ActorPoolStrategy, DataContext

    context = DataContext.get_current()
    errored_blocks = context.max_errored_blocks
    context.max_errored_blocks = -1  # a lost batch must not end the run
    try:
        paths = ray.data.from_items([{"path": str(p)} for p in todo], override_num_blocks=batches)
        with warnings.catch_warnings():  # Ray 2.60 deprecates the retry keywords yet documents them
            warnings.simplefilter("ignore", DeprecationWarning)
            records = paths.map_batches(
                PredictorActor,
                fn_constructor_kwargs={"predictor_kwargs": predictor_kwargs, "threads": plan.cpus},
                batch_size=math.ceil(len(todo) / batches),
                batch_format="numpy",
                # one batch at a time per actor: a dying actor takes only its running batch with it
                compute=ActorPoolStrategy(size=plan.actors, max_tasks_in_flight_per_actor=1),
                num_cpus=plan.cpus,
                num_gpus=plan.gpus,
                max_restarts=-1,
                max_task_retries=TASK_RETRIES,
            )
        yield from records.iter_batches(batch_size=None, batch_format="numpy")
    finally:
        context.max_errored_blocks = errored_blocks
