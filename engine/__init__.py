"""pvframes engine: a deterministic model of Xen x86-64 PV memory management and of
libxenguest's PV save/restore. Pure Python + numpy; it never imports the web layer."""

# np.unique() imports numpy.ma the first time it runs (numpy 2.x, ~40 ms): load it with
# the engine rather than inside whichever hypercall first calls np.unique().
import numpy.ma  # noqa: E402, F401
