"""Reading the queue back: the typed report, status, progress, metrics,
export, archive and check. Imports every stage below it (sending for a sender's state)."""
