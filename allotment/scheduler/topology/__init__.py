"""Host topology (NUMA cells, dedicated CPUs, huge pages, PCI devices) and fitting instances onto it.

``host`` is what a host has, ``request`` what an instance asks for (from flavor extra specs
and image properties, validated as Nova validates them), ``usage`` what instances already
hold on a host, ``fit`` and ``pci`` the search, ``placement`` the provider tree that models
the host in placement. All of it is plain data and pure functions: the registry records
claims, the filters and the claim phase call ``fit``.
"""
