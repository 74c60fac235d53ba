"""Where the stage functions run: the embedded engine (this process or a process pool) or Ray.

Both engines take lists of task specs and yield ``(spec, stats)`` as tasks finish (any order);
the driver records each finished task in the manifest. The stage code is the same
(``dex1b_ros.dataset.stages``), so for the same specs both engines write the same shards.

* :class:`EmbeddedEngine`: ``workers == 1`` runs tasks in this process; otherwise a
  ``ProcessPoolExecutor`` of ``workers`` spawned processes (each dies with its parent:
  ``PR_SET_PDEATHSIG``), each running whole grasp tasks (propose + validate).
* :class:`RayEngine`: ``ray.init(address)`` (``RayConfig.address``, else ``$RAY_ADDRESS``, else
  a local Ray). Grasp tasks are split: :func:`stages.propose` runs in a pool of *proposer*
  actors (torch; ``proposer_gpus`` > 0 puts them on GPUs), :func:`stages.validate_and_write` in
  a pool of *validator* actors (MuJoCo, CPU); a proposal goes from one to the other through
  the object store. Training is one Ray task (``train_gpus``). Actor pools live for one stage.
  Shards are written by the actors straight to the build folder, so on a real cluster ``out``
  must be a filesystem every node mounts at the same path.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterable, Iterator

from . import stages


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, so no orphan keeps writing after a killed build."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_init(threads: int) -> None:
    _die_with_parent()
    import torch
    torch.set_num_threads(threads)


def _run(spec):
    if isinstance(spec, stages.TrainTask):
        return stages.run_train_task(spec)
    return stages.run_grasp_task(spec)


class EmbeddedEngine:
    name = "embedded"

    def __init__(self, workers: int = 1, threads: int = 1):
        self.workers, self.threads = workers, threads
        self._pool = None

    @property
    def cores(self) -> int:
        return self.workers * self.threads

    def run(self, specs: Iterable) -> Iterator[tuple[object, dict]]:
        specs = list(specs)
        if self.workers == 1:
            import torch
            torch.set_num_threads(self.threads)
            for s in specs:
                yield s, _run(s)
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                             initializer=_worker_init, initargs=(self.threads,))
        futs = {self._pool.submit(_run, s): s for s in specs}
        pending = set(futs)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield futs[f], f.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class RayEngine:
    name = "ray"

    def __init__(self, cfg, threads: int = 1):
        import ray

        self.cfg, self.threads = cfg, threads
        address = cfg.address or os.environ.get("RAY_ADDRESS") or None
        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=False, include_dashboard=False if address is None else None,
                     configure_logging=False)
        self.ray = ray

    @property
    def cores(self) -> float:
        c = self.cfg
        return c.proposers * c.proposer_cpus + c.validators * c.validator_cpus

    def _actors(self):
        ray = self.ray
        c = self.cfg

        @ray.remote
        class Proposer:
            def __init__(self, threads):
                _worker_init(threads)

            def run(self, spec):
                return stages.propose(spec)

        @ray.remote
        class Validator:
            def __init__(self, threads):
                _worker_init(threads)

            def run(self, spec, proposal):
                return stages.validate_and_write(spec, proposal)

        props = [Proposer.options(num_cpus=c.proposer_cpus, num_gpus=c.proposer_gpus).remote(self.threads)
                 for _ in range(c.proposers)]
        vals = [Validator.options(num_cpus=c.validator_cpus).remote(self.threads) for _ in range(c.validators)]
        return props, vals

    def run(self, specs: Iterable) -> Iterator[tuple[object, dict]]:
        ray = self.ray
        specs = list(specs)
        if not specs:
            return
        if isinstance(specs[0], stages.TrainTask):
            fn = ray.remote(num_cpus=self.cfg.train_cpus, num_gpus=self.cfg.train_gpus)(_ray_train)
            refs = {fn.remote(s, self.threads): s for s in specs}
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for r in done:
                    yield refs[r], ray.get(r)
            return
        props, vals = self._actors()
        try:
            todo = deque(specs)
            free_p, free_v = deque(props), deque(vals)
            ready = deque()                 # (spec, proposal ref) waiting for a validator
            inflight = {}                   # ref -> (kind, actor, spec)
            while todo or ready or inflight:
                while todo and free_p:
                    a, s = free_p.popleft(), todo.popleft()
                    inflight[a.run.remote(s)] = ("p", a, s)
                while ready and free_v:
                    a = free_v.popleft()
                    s, pref = ready.popleft()
                    inflight[a.run.remote(s, pref)] = ("v", a, s)
                done, _ = ray.wait(list(inflight), num_returns=1)
                for r in done:
                    kind, a, s = inflight.pop(r)
                    if kind == "p":
                        free_p.append(a)
                        ready.append((s, r))
                    else:
                        free_v.append(a)
                        yield s, ray.get(r)
        finally:
            for a in props + vals:
                ray.kill(a)

    def close(self) -> None:
        pass


def _ray_train(spec, threads):
    _worker_init(threads)
    return stages.run_train_task(spec)


def make_engine(cfg) -> "EmbeddedEngine | RayEngine":
    if cfg.engine == "ray":
        return RayEngine(cfg.ray, cfg.threads)
    return EmbeddedEngine(cfg.workers, cfg.threads)

