"""Fanning independent tasks out: in this process, on a local Ray or on a Ray cluster.

`fan_out(fn, tasks, on_result, workers, ray_address)` calls `fn(*task)` for every task (a tuple
of positional arguments) and hands each result to `on_result(index, result)` in the driver as
soon as it is finished, so that callers write their outputs (atomically, resumably) one task at
a time. Arguments that are the same object in several tasks (a model, a scenario shared by
several items) go to Ray's object store once. At most twice as many tasks as the cluster has
CPUs are in flight, so that a long batch does not pin every task's arguments at once.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence


def runs_in_process(workers: int | None, ray_address: str | None) -> bool:
    """No workers and no cluster address: tasks run one after another in this process."""
    return not workers and not ray_address


def fan_out(fn: Callable[..., Any], tasks: Sequence[tuple], on_result: Callable[[int, Any], None],
            workers: int | None = 0, ray_address: str | None = None) -> None:
    """Run `fn(*task)` for every task; `on_result(index, result)` in the driver for each one.

    workers: CPUs of a local Ray (0 or None with no address: in this process, in task order);
    ray_address: a running Ray cluster ("auto", "ray://HOST:10001"). `fn` and the arguments
    must be picklable on Ray. A Ray that is already initialised is used as it is and left
    running; one started here is shut down at the end.
    """
    if runs_in_process(workers, ray_address):
        for index, task in enumerate(tasks):
            on_result(index, fn(*task))
        return
    if not tasks:
        return
    import ray

    started = False
    if not ray.is_initialized():
        if ray_address:
            ray.init(address=ray_address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=max(int(workers), 1), include_dashboard=False, log_to_driver=False)
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=1)(fn)
        shared = _shared_refs(ray, tasks)
        cpus = int(ray.cluster_resources().get("CPU", max(int(workers or 1), 1)))
        window = max(2 * cpus, 2)
        queue = list(enumerate(tasks))
        in_flight: dict = {}
        while queue or in_flight:
            while queue and len(in_flight) < window:
                index, task = queue.pop(0)
                args = [shared.get(id(a), a) for a in task]
                in_flight[remote.remote(*args)] = index
            done, _ = ray.wait(list(in_flight), num_returns=1)
            index = in_flight.pop(done[0])
            on_result(index, ray.get(done[0]))
    finally:
        if started:
            ray.shutdown()


def _shared_refs(ray, tasks: Sequence[tuple]) -> dict[int, Any]:
    """id(argument) -> its object-store reference, for arguments that several tasks share."""
    seen: dict[int, int] = {}
    objects: dict[int, Any] = {}
    for task in tasks:
        for a in task:
            if a is None or isinstance(a, (bool, int, float, str)):
                continue
            seen[id(a)] = seen.get(id(a), 0) + 1
            objects[id(a)] = a
    return {i: ray.put(objects[i]) for i, n in seen.items() if n > 1}
