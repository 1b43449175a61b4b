"""Intake from feature phones: USSD menus and SMS keywords, through an SMS/USSD gateway's callbacks."""
