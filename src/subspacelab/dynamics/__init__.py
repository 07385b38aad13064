"""Dynamical systems as data (``systems``) and Koopman autoencoders with their information terms (``koopman``)."""
