"""The messaging seam between the compute API, the conductor and the compute agents.

``open_transport(url)`` picks the implementation from the URL scheme: ``inprocess://`` (the
embedded default: one process) or ``amqp://`` (RabbitMQ, for processes on several hosts).
"""

from allotment.servers.transport.base import Handler, Message, Subscription, Transport, TransportError, open_transport

__all__ = ["Handler", "Message", "Subscription", "Transport", "TransportError", "open_transport"]
