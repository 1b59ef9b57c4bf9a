"""The fleet simulator: fake hosts, a workload on a simulated clock, a real placement and scheduler.

A layer above the scheduler: neither placement nor the scheduler imports it.
"""
