"""runner: resumable, rate-limited bulk deletion for the CloudAgent deleteCampaignData API."""

__version__ = "0.1.0"
