"""The maths of the numerical papers: plain functions on arrays, no framework, no config, no I/O."""
