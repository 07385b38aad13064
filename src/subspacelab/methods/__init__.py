"""Techniques built on ``subspacelab.subspace``: each turns a classification backbone into the model that is
trained (``full``: every parameter; ``intrinsic``: a random subspace). ``conf/method/<name>.yaml`` names the
builder per task (``targets``); this package imports none of them, so a run loads only the method it uses."""
