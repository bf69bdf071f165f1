"""Build steps that turn the report text and the packaged gazetteers into the
committed files of ``layers/``. Run ``python -m geocity._build``."""
