"""Settings for the worker subprocesses of `test_worker_restart`: Carnet's own, with a short lease
so that a delivery abandoned by a killed worker is taken over within seconds."""

from carnet.settings import *  # noqa: F403

CARNET_NOTIFICATION_LEASE_SECONDS = 3
