"""The operator's dashboard: a web page over placement and the scheduler (``allotment dashboard``)."""
