"""Sending: the HTTP client and what its answers mean (classify, policy,
judge, rulings, hopeless, tokens), the pace (limiter), the drain of one account and
the supervisor of all of them.

Imports runner.core, runner.intake, runner.storage and runner.config."""
