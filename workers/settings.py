"""The worker entry point the deployment names (``bwv worker``); the worker itself is service/worker.py."""

from service.worker import WorkerSettings, run, worker_options

__all__ = ["WorkerSettings", "run", "worker_options"]
