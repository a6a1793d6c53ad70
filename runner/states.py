"""Record states (SPEC §3), in one place for the store's readers, the CLI and the reports.

Kept free of imports so the command line can offer them without loading the rest.
"""

from __future__ import annotations

from typing import Final

RECORD_STATES: Final = ("pending", "in_flight", "deleted", "not_found", "failed", "invalid")
# Final states reached by an answer of the API ('invalid' is final too, but never sent).
ANSWERED_STATES: Final = ("deleted", "not_found", "failed")
