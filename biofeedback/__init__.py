"""biofeedback: a local-first HRV biofeedback stress-response monitor.

Heavy dependencies (neurokit2, bleak, dash) are imported lazily where used, so importing
this package and running ``biofeedback --help`` stay fast.
"""

__version__ = "0.1.0"
