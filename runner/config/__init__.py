"""``jobs.yaml``: loading, validation and the typed configuration.

Every problem becomes one :class:`~runner.core.errors.ConfigError` line naming the file,
the line, the key path and what is wrong, e.g.::

    jobs.yaml:14: jobs[1].rate_limit: '100 per min' is not N/s, N/min or N/h

so that ``runner load`` and ``runner run`` stop with exit 2 before anything is sent.
API keys are never read at load (``status`` and ``load`` do not need them) and no
message ever contains one: :meth:`AccountConfig.api_key` reads the key only when a
run is about to send.

The layers: :mod:`.fields` (base model, field types), :mod:`.names` (``{date}`` in
job names), :mod:`.keys` (reading API keys), :mod:`.accounts` and :mod:`.models`
(the models), :mod:`.messages` (locating and wording errors), :mod:`.loading`
(reading the YAML within bounds). The rate notation is :mod:`runner.core.rates`.
"""

from runner.config.accounts import AccountConfig, Auth, account_identity, is_loopback
from runner.config.loading import MAX_CONFIG_BYTES, load_config
from runner.config.models import Config, JobConfig, NotFoundGuard, RetryConfig
from runner.config.names import expand_date
from runner.core.rates import DEFAULT_RATE_LIMIT, RateLimit, parse_rate_limit

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "MAX_CONFIG_BYTES",
    "AccountConfig",
    "Auth",
    "Config",
    "JobConfig",
    "NotFoundGuard",
    "RateLimit",
    "RetryConfig",
    "account_identity",
    "expand_date",
    "is_loopback",
    "load_config",
    "parse_rate_limit",
]
