"""Reading input files: a line of text becomes a phone number and a row.

Imports only runner.core. Writing the rows to the queue is runner.commands.loader's job,
because that needs the config and the storage, which sit above this stage."""
