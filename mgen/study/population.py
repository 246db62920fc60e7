"""Populations in a study (--population P): every member stays its own Tune trial (its own searcher
suggestion, scheduler and stopper decisions, results folder, checkpoints and W&B run), while up to P
compatible members train in one Ray actor as one batched model (mgen/train/population.py).

- A member trial asks the study's broker for a place. The broker gathers configs with the same
  population key and starts a group when P have asked, or when `wait` seconds pass without another.
- The group actor trains and holds each member's report until that member's trial fetches it. Before
  training past a report it waits until every member has either asked for its next report (Tune let it
  continue) or been stopped: the driver's callback tells the broker when Tune ends a trial (the
  collapse stopper, ASHA, an error), and the group leaves that member out from then on.
- A group's members also share their D/G schedule (`group_key`): a population trains mixed schedules,
  but runs every extra D or G step on the subset that takes it. Measured on this 2-core machine
  (one thread, 16 members at smoke sizes, docs/findings/2026-12-03-benchmarks-so-far.md): 10.5 ms a member-update with the
  space's five ratios mixed, 7.3-7.9 ms with one ratio (a trial alone: 16.2 ms).
- On a GPU a group holds its P trials' GPU shares (at most one GPU, since a population is one model on
  one device) and their CPUs (at most one node's). On CPUs only, it holds one trial's CPUs and runs
  that many threads: torch's intra-op threads slow these small networks down (a population of 16 ran
  2.0x slower an iteration with 2 threads than with 1, a trial alone 3.6x), so P members gain from
  batching on one core each and groups run side by side, one a core. A member trial holds no CPU,
  only memory, for its checkpoints and pictures. Trials that cannot join a population (WGAN-GP) hold a
  trial's resources.
- A member trial that restarts from a checkpoint (a retry, --resume) continues alone.
"""
from __future__ import annotations

import asyncio
import threading
from collections import defaultdict

import ray
from ray import tune

from mgen.train import TrialConfig


def group_key(config: TrialConfig) -> tuple | None:
    """Member trials with equal keys may share a group: their population key and D/G schedule (module
    docstring); None: the trial trains alone."""
    from mgen.train.population import population_key

    key = population_key(config)
    return None if key is None else key + (("schedule", (config.d_steps, config.g_steps)),)


# What a member trial itself holds: no CPU (its group's actor holds its share) but memory, which every
# Ray node has, since Tune needs a trial to ask for something. It relays reports and writes files.
MEMBER_RESOURCES = {"cpu": 0, "memory": 400 * 2**20}


@ray.remote(num_cpus=0)
class Group:
    """Trains one population and hands each member its reports, in step with Tune's decisions."""

    def __init__(self, configs: list[dict], datasets: dict, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self.cfgs = [TrialConfig.from_dict(c) for c in configs]
        self.dataset = datasets[self.cfgs[0].data_config()]
        self.node_id = ray.get_runtime_context().get_node_id()
        n = len(configs)
        self.cond = threading.Condition()
        self.reports: list[list] = [[] for _ in range(n)]  # report k of member i is reports[i][k] (None once fetched)
        self.requested = [0] * n  # how many reports each member has asked for
        self.stopped = [False] * n
        self.finished, self.error = False, None

    def run(self) -> None:
        from mgen.train.population import Population

        population = Population(self.cfgs, self.dataset)
        try:
            for reports in population.run():
                with self.cond:
                    for i, report in enumerate(reports):
                        if report is not None:
                            report.extra["node_id"] = self.node_id
                            self.reports[i].append(report)
                    self.cond.notify_all()
                    # Train on only when each member that got a report went on (asked for the next) or stopped.
                    waiting = [i for i, r in enumerate(reports) if r is not None and not r.done]
                    self.cond.wait_for(lambda: all(self.stopped[i] or self.requested[i] > len(self.reports[i])
                                                   for i in waiting))
                    for i, stopped in enumerate(self.stopped):
                        if stopped:
                            population.stop(i)
        except BaseException as exc:  # noqa: BLE001 - handed to every member waiting for a report
            self.error = exc
            raise
        finally:
            with self.cond:
                self.finished = True
                self.cond.notify_all()

    def next(self, i: int):
        """Member i's next report (blocks until trained), or None when the group ended without one."""
        with self.cond:
            self.requested[i] += 1
            k = self.requested[i] - 1
            self.cond.notify_all()
            self.cond.wait_for(lambda: len(self.reports[i]) > k or self.finished)
            if len(self.reports[i]) <= k:
                if self.error is not None:
                    raise RuntimeError(f"the population this trial trained in failed: {self.error!r}")
                return None
            report, self.reports[i][k] = self.reports[i][k], None  # the group keeps no copy of a fetched checkpoint
            return report

    def stop(self, i: int) -> None:
        with self.cond:
            self.stopped[i] = True
            self.cond.notify_all()


@ray.remote(num_cpus=0)
class Broker:
    """Gathers member trials into groups of up to `size` compatible configs and starts each group's actor."""

    def __init__(self, size: int, wait: float, datasets: list, cpus: float, gpus: float, cpus_cap: float):
        self.size, self.wait = size, wait
        self.datasets_ref = datasets[0]  # in a list, so that Ray hands the broker the reference, not the data
        self.cpus, self.gpus, self.cpus_cap = cpus, gpus, cpus_cap
        self.pending: dict[tuple, list] = defaultdict(list)  # key -> [(trial_id, config, future)]
        self.joins: dict[tuple, int] = defaultdict(int)
        self.members: dict[str, tuple] = {}  # trial_id -> (group, index)

    async def join(self, trial_id: str, config: dict):
        key = group_key(TrialConfig.from_dict(config))
        future = asyncio.get_running_loop().create_future()
        self.pending[key].append((trial_id, config, future))
        self.joins[key] += 1
        if len(self.pending[key]) >= self.size:
            self._launch(key)
        else:
            asyncio.get_running_loop().create_task(self._launch_later(key, self.joins[key]))
        return await future

    async def _launch_later(self, key: tuple, joins: int) -> None:
        await asyncio.sleep(self.wait)
        if self.joins[key] == joins and self.pending[key]:  # nobody joined since
            self._launch(key)

    def _launch(self, key: tuple) -> None:
        members, self.pending[key] = self.pending[key][:self.size], self.pending[key][self.size:]
        n = len(members)
        cpus = group_cpus(self.cpus, self.gpus, n, self.cpus_cap)
        group = Group.options(num_cpus=cpus, num_gpus=min(self.gpus * n, 1.0), max_concurrency=n + 4).remote(
            [c for _, c, _ in members], self.datasets_ref, int(cpus))
        group.run.remote()
        for i, (trial_id, _, future) in enumerate(members):
            self.members[trial_id] = (group, i)
            future.set_result((group, i, n))

    def ended(self, trial_id: str) -> None:
        """Tune ended this member's trial (finished, stopped early, or errored): its group leaves it out."""
        if trial_id in self.members:
            group, i = self.members.pop(trial_id)
            group.stop.remote(i)
            return
        for key, pending in self.pending.items():  # ended before its group started: it will not fetch reports
            self.pending[key] = [p for p in pending if p[0] != trial_id]


def group_cpus(cpus: float, gpus: float, members: int, cap: float) -> float:
    """The CPUs a group of `members` trials holds (module docstring): on a GPU its members' (at most
    `cap`, one node's), on CPUs only one trial's."""
    return min(cpus * members, cap) if gpus > 0 else min(cpus, cap)


class PopulationEnds(tune.Callback):
    """Tells the broker when Tune ends a trial, so its group stops training it."""

    def __init__(self, broker):
        self.broker = broker

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.broker.ended.remote(trial.trial_id)

    def on_trial_error(self, iteration, trials, trial, **info):
        self.broker.ended.remote(trial.trial_id)


class Populations:
    """A study's populations: the broker, the callback that tells it when Tune ends a trial, the member
    trials' resources, and how many trials run at once by default (P for every group the cluster's CPUs
    hold at a time, and P more)."""

    def __init__(self, broker, concurrency: int):
        self.broker, self.callback, self.concurrency = broker, PopulationEnds(broker), concurrency

    @classmethod
    def start(cls, size: int, wait: float, datasets: dict, cpus: float, gpus: float, node_cpus: list[float]) -> "Populations":
        cap = max(node_cpus, default=1.0)
        held = group_cpus(cpus, gpus, size, cap)
        broker = Broker.remote(size, wait, [ray.put(datasets)], cpus, gpus, cap)
        # One group more than the CPUs hold, so the next one gathers (full, of one key) while they train.
        return cls(broker, size * (max(1, int(sum(node_cpus) // held)) + 1))

    @staticmethod
    def trial_resources(alone: dict):
        """Tune's resources for a trial config: a member's, or `alone` for a trial no population takes."""
        from mgen.study.trainable import trial_config

        def bundle(config: dict) -> tune.PlacementGroupFactory:
            wanted = MEMBER_RESOURCES if group_key(trial_config(config)) is not None else alone
            names = {"cpu": "CPU", "gpu": "GPU"}
            return tune.PlacementGroupFactory([{names.get(k, k): v for k, v in wanted.items() if v}])

        return bundle


def member_reports(broker, config: TrialConfig):
    """A member trial's reports, trained in its group: the trainable's stand-in for mgen.train.train."""
    trial_id = tune.get_context().get_trial_id()
    group, index, size = ray.get(broker.join.remote(trial_id, config.to_dict()))
    while True:
        report = ray.get(group.next.remote(index))
        if report is None:
            return
        report.extra["population_size"] = size
        yield report
        if report.done:
            return
