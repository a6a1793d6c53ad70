"""A local simulator of CloudAgent's deleteCampaignData API.

The demo, the integration tests and the benchmarks need an endpoint that answers
exactly like the vendor (same bodies, same rate limit, same failures) without an
account, so this package serves ``DELETE /ca_apis/deleteCampaignData`` on loopback.
``rules`` holds the decisions (no aiohttp), ``server`` the HTTP side, ``command``
the ``runner sandbox`` command; ``presence``, ``window``, ``answers`` and
``tokens`` are the parts the rules are made of.

Every DELETE on the API path is handled in this order; the first rule that
answers ends the request:

1. **Rate limit** (``--rate-limit N/period``): a strict sliding window per API key
   value (a missing or empty key shares the bucket ``""``; with ``--auth token``
   every request carrying an Authorization header is the account's bucket). The
   window is closed at both ends: a request is refused while N admitted requests
   arrived at times ``t`` with ``now - period <= t <= now``. A refused request gets
   HTTP 429 with ``Retry-After`` (whole seconds, at least 1) and the RATE_LIMITED
   body, and changes nothing but the ``rate_limited`` counter.
2. **Fault injection**, one draw of ``random.Random(seed)`` per admitted request:
   below ``--hang-rate`` the request hangs for an hour (until the server stops);
   below ``hang_rate + error_rate`` it answers HTTP 500/502/503 with an
   nginx-style HTML page or an empty body. Neither changes any record.
   ``--latency-ms`` (plus up to ``--latency-jitter-ms``) then delays every
   request that was not hung, before it is validated and processed.
3. **Validation**, all answered with HTTP 200 and a documented body.
   First the credentials; with ``--auth basic`` (the default):
   - ``apiKey`` header missing or empty        -> KEY_MISSING
   - ``apiKey`` not the configured key          -> INVALID_USER
   with ``--auth token`` instead:
   - an ``apiKey`` header and no Authorization  -> INVALID_ACTION
   - no or empty ``Bearer`` token               -> TOKEN_MISSING
   - not the newest token generated             -> INVALID_TOKEN
   - the newest token, past its TTL             -> TOKEN_EXPIRED
   then the record:
   c. body not exactly one JSON object, or a field holding something other
      than a string, an integer or null           -> INVALID_JSON
   d. ``userName`` missing or empty              -> USER_MISSING
   e. ``userName`` not the configured user       -> INVALID_USER
      (with ``--users N``: not the user of the request's apiKey)
   f. ``campaignName`` missing or empty          -> CAMPAIGN_MISSING
   g. campaign not listed (only when ``--campaign`` was given) -> CAMPAIGN_INVALID
   h. ``phoneNumber`` missing or empty           -> PHONE_MISSING
   "Empty" means empty or only whitespace; an integer field is read as its
   decimal text. The request's Content-Type is not checked.
4. **Forced answers**: a number listed in ``--answers FILE`` gets its answer; else
   ``--answer NAME`` answers every valid delete from the ``--answer-from``-th on.
   Nothing is deleted.
5. **Deletion**: a number that exists in the campaign and was not deleted yet is
   deleted (DELETED); anything else answers NOT_FOUND, as the vendor does for an
   unknown or already-deleted number.

``--body-encoding`` shapes every JSON answer (also 429s and generateToken's):
``plain``, ``double`` (a JSON string holding the object) or ``bom``.

``POST /ca_apis/CAToken/generateToken`` (``apiKey`` header, ``{"userName": ...}``)
answers INVALID_ACTION with ``--auth basic``. With ``--auth token``: UserName is
null, Invalid userName or apiKey, HTTP 429 Max limit exceeded past
``--token-budget`` generations in a rolling hour, else ``{"token": JWT,
"message": ""}``; the new token replaces every earlier one.

Which numbers exist: ``--numbers FILE`` (one number a line, or ``campaign,number``
to scope it to one campaign; blank lines and ``#`` comments are skipped; plain
numbers exist in every campaign) or else ``--present-ratio R``: a number exists
iff sha256 of (campaign, number) maps below R, so the answer is the same in
every process and after every restart. Numbers are compared as sent, trimmed.

``--users N`` (basic auth only) serves N accounts instead of one: userName
``<user>-2`` ... ``<user>-N`` beside ``--user-name``, each valid only with its own
apiKey ``<key>-2`` ... ``<key>-N``, so each account has its own rate window (labelled
``key#2`` ... ``key#N`` in the stats).

Side endpoints: ``GET /_sandbox/stats`` (counters), ``GET /_sandbox/deleted``,
``GET /_sandbox/requests`` and ``POST /_sandbox/invalidate-tokens``. API keys and
tokens never appear in them: a key is shown as a label, ``key#1`` for the
configured key, ``key#2``... for other keys in order of first appearance,
``no-key`` for the missing/empty bucket. Without a rate limit, ``max_in_window``
is still measured, over a 60 s window (the vendor's period).
"""

from runner.sandbox.command import sandbox_command
from runner.sandbox.presence import number_present

__all__ = ["number_present", "sandbox_command"]
