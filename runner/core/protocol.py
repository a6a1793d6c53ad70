"""The wire contract of CloudAgent's deleteCampaignData API (docs/contract.md §1).

Shared by the client, the response classifier and the sandbox, so that the
simulator answers exactly what the runner is built to understand.
"""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import Final

PATH: Final = "/ca_apis/deleteCampaignData"
TOKEN_PATH: Final = "/ca_apis/CAToken/generateToken"

# Body fields of one request.
CAMPAIGN: Final = "campaignName"
PHONE: Final = "phoneNumber"
USER: Final = "userName"
NAME: Final = "name"

# Header carrying the account's key (BASIC_AUTH, and to generate a token).
API_KEY_HEADER: Final = "apiKey"
# TOKEN_AUTH: deletes carry "Authorization: Bearer <token>".
AUTHORIZATION_HEADER: Final = "Authorization"
BEARER: Final = "Bearer "
# Fields of the token API: request {"userName": ...}, answer {"token": ..., "message": ""}.
TOKEN: Final = "token"

# Documented answers: (status, message).
DELETED: Final = ("Success", "Deleted Successfully")
NOT_FOUND: Final = ("Error", "No Record Found")
KEY_MISSING: Final = ("false", "Api Key Should Not be Null or Empty.")
INVALID_USER: Final = ("false", "Invalid User Details")
USER_MISSING: Final = ("false", "Username Should Not be Null or Empty.")
CAMPAIGN_MISSING: Final = ("Error", "Campaign should not be null are empty")
CAMPAIGN_INVALID: Final = ("Error", "Passed campaign are invalid")
PHONE_MISSING: Final = ("Error", "PhoneNumber should not be null are empty")
INVALID_JSON: Final = ("false", "Invalid Json Pass Valid Json")
RATE_LIMITED: Final = ("error", "Max limit exceeded")
BUSY: Final = ("false", "Already one process is running please try after some time")
# The account's API Authentication setting does not allow this kind of call.
INVALID_ACTION: Final = ("false", "Invalid action.")
# Answers about the bearer token (TOKEN_AUTH accounts).
INVALID_TOKEN: Final = ("false", "Invalid Token")
TOKEN_EXPIRED: Final = ("false", "Token Expired")
TOKEN_MISSING: Final = ("false", "Token Should Not be Null or Empty.")
# Answers of generateToken.
TOKEN_USER_MISSING: Final = ("false", "UserName is null")
TOKEN_REFUSED: Final = ("false", "Invalid userName or apiKey")


def deleted_count(count: int) -> tuple[str, str]:
    """The older API's success (DeleteCampaignData.php): "4 Records Deleted Successfully"."""
    return ("success", f"{count} Records Deleted Successfully")


def response_body(answer: tuple[str, str]) -> str:
    """The JSON text the API sends for a documented (status, message) answer."""
    status, message = answer
    return json.dumps({"status": status, "message": message})


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
