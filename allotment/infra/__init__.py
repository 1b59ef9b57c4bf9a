"""What placement and the scheduler both need from their surroundings.

Database engines and transactions, locked schema upgrades, URL normalisation,
id chunking, request ids, logging set-up and the gunicorn launcher. This package
imports nothing else of allotment, so placement plus ``infra`` lift out together.
"""
