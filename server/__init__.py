"""Faultline: the fault-and-outage system of an electricity distribution utility."""
