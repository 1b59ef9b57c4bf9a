"""The servers flow around the scheduler: compute API, conductor, compute agents, and the transport between them."""
