"""``python -m subspacelab.train``: the training entry point (see ``subspacelab.pipeline.train``)."""

from subspacelab.pipeline.train import main

if __name__ == "__main__":
    main()
