"""What every stage shares: time, errors, record states, logging, redaction, rates,
safe files, the process lifecycle and the API's wire vocabulary. Imports no other stage."""
