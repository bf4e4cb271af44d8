from biofeedback.cli import entry

entry()
