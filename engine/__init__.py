"""pvframes engine: a deterministic model of Xen x86-64 PV memory management and of
libxenguest's PV save/restore. Pure Python + numpy; it never imports the web layer."""
