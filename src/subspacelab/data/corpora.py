"""The names of the built-in text corpora (what ``subspacelab.data.text`` can load without a hub), kept
apart so that config validation can list them without importing the text stack."""

CORPORA = ("tinyshakespeare", "python_stdlib")
HF_PREFIX = "hf:"
